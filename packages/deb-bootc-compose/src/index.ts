export { tool } from "./tool.js";
