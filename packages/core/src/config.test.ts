import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseYamlWithSchema } from "./config.js";
import { isCodedError } from "./errors.js";

const schema = z.strictObject({
  name: z.string(),
  build: z.strictObject({ jobs: z.number().int().positive(), repos: z.array(z.string()).default([]) }),
});

/** What parseYamlWithSchema throws for the text, or undefined when it takes it. */
function errorOf(text: string, against: z.ZodType, file: string): unknown {
  try {
    parseYamlWithSchema(text, against, file);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("parseYamlWithSchema", () => {
  it("returns the validated value with defaults", () => {
    expect(parseYamlWithSchema("name: x\nbuild:\n  jobs: 2\n", schema, "a.yaml")).toEqual({ name: "x", build: { jobs: 2, repos: [] } });
  });

  it("names the file, line, field path and expectation", () => {
    const error = errorOf("name: x\nbuild:\n  jobs: two\n", schema, "conf/a.yaml");
    expect(isCodedError(error, "CONFIG_INVALID")).toBe(true);
    expect((error as Error).message).toMatch(/^conf\/a\.yaml:3:9: build\.jobs: .*expected number/i);
    expect((error as { details: { line: number } }).details.line).toBe(3);
  });

  it("points at array elements and unknown keys", () => {
    expect(() => parseYamlWithSchema("name: x\nbuild:\n  jobs: 1\n  repos: [a, 3]\n", schema, "b.yaml")).toThrow(
      /b\.yaml:4:\d+: build\.repos\[1\]/,
    );
    expect(() => parseYamlWithSchema("name: x\nbuild:\n  jobs: 1\n  jbos: 2\n", schema, "c.yaml")).toThrow(
      /c\.yaml:\d+:\d+: build: .*jbos/,
    );
  });

  it("refuses a document nested deeper than the parser can take with CONFIG_SYNTAX and the line", () => {
    // nested block sequences overflow the yaml parser's stack; at the top level they made V8 run out of
    // memory (a crash no try/catch can stop); nested flow collections are slow to convert
    for (const [text, line] of [
      [`name: x\nitems:\n${"- ".repeat(5000)}x\n`, 3],
      [`${"- ".repeat(4000)}x\n`, 1],
      [`name: x\na: ${"{".repeat(1000)}\n`, 2],
      [`name: x\na:\n${" ".repeat(300)}b: 1\n`, 3],
    ] as const) {
      const error = errorOf(text, z.object({ name: z.string() }).passthrough(), "deep.yaml");
      expect(isCodedError(error, "CONFIG_SYNTAX") && error.message).toBe(
        `deep.yaml:${line}:1: the document nests more than 256 levels deep`,
      );
    }
  });

  it("refuses an alias to an anchor set later, and an alias bomb, with CONFIG_SYNTAX", () => {
    const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      laughs.push(
        `${"abcdefgh"[i]}: &${"abcdefgh"[i]} [${Array(10)
          .fill(`*${"abcdefgh"[i - 1]}`)
          .join(", ")}]`,
      );
    for (const text of ["name: *later\nbuild: &later {jobs: 1}\n", `name: x\n${laughs.join("\n")}\n`]) {
      const error = errorOf(text, schema.passthrough(), "alias.yaml");
      expect(isCodedError(error, "CONFIG_SYNTAX") && error.message).toMatch(/^alias\.yaml: /);
    }
  });

  it("reports YAML syntax errors with their position", () => {
    const error = errorOf("name: [unclosed\n", schema, "d.yaml");
    expect(isCodedError(error, "CONFIG_SYNTAX")).toBe(true);
    expect((error as Error).message).toMatch(/^d\.yaml:\d+:\d+: /);
  });
});
