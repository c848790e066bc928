import { access } from "node:fs/promises";
import type { CommandSpec } from "@debian-bootc/core";
import { loadDefinition, referencedFiles, resolveVariant } from "../definition.js";
import { composeError } from "../errors.js";

export const validateCommand: CommandSpec = {
  name: "validate",
  summary: "Check a compose definition without composing",
  description:
    "Parse and validate a compose definition: unknown or misspelt fields (with the closest known one), wrong types and values, " +
    "variant inheritance, and the files it refers to. Prints the resolved variants; exits 2 when the definition is invalid.",
  args: [{ name: "definition", description: "the compose definition (YAML)" }],
  examples: ["deb-bootc-compose validate examples/minimal.yaml", "deb-bootc-compose validate --json examples/minimal.yaml"],
  async run(ctx) {
    const path = ctx.args[0]!;
    const loaded = await loadDefinition(path);
    const missing: string[] = [];
    for (const ref of referencedFiles(loaded)) {
      try {
        await access(ref.path);
      } catch {
        missing.push(`${path}: ${ref.field}: ${ref.path} does not exist`);
      }
    }
    if (missing.length > 0) {
      throw composeError("DEFINITION_INVALID", missing.join("\n"), {
        details: { file: path, missing },
        hint: "paths are relative to the definition's directory",
      });
    }
    const { definition } = loaded;
    const variants = Object.keys(definition.variants).map((name) => resolveVariant(definition, name));
    if (ctx.json) {
      ctx.out.json({ ok: true, file: path, definition, variants });
      return 0;
    }
    ctx.out.line(`${path}: valid`);
    ctx.out.line(
      `  ${definition.name} ${definition.version} (${definition.release.type}), suite ${definition.suite}, arches ${definition.arches.join(" ")}`,
    );
    for (const v of variants) {
      const parents = v.chain.slice(0, -1);
      ctx.out.line(
        `  variant ${v.name}${parents.length ? ` (inherits ${parents.join(" -> ")})` : ""}: ${v.packages.length} packages requested`,
      );
    }
    ctx.out.line(
      `  outputs: ${definition.outputs.join(", ")}${definition.failable.length ? `; failable: ${definition.failable.map((f) => (typeof f === "string" ? f : f.deliverable)).join(", ")}` : ""}`,
    );
    return 0;
  },
};
