#!/usr/bin/env node
import { main } from "@debian-bootc/core";
import { tool } from "./tool.js";

main(tool);
