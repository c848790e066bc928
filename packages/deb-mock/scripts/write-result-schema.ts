// Writes docs/deb-mock-result.schema.json from the zod schema in src/result.ts (checked by result.test.ts).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildResultJsonSchema } from "../src/result.js";

const target = join(import.meta.dirname, "..", "..", "..", "docs", "deb-mock-result.schema.json");
writeFileSync(target, `${JSON.stringify(buildResultJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
