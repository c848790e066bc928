import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { errorCatalogues, generatedDocs } from "../scripts/docs.js";

describe("generated reference pages", () => {
  it.each(Object.keys(generatedDocs))("%s is up to date (run `npm run docs`)", (path) => {
    const committed = readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
    expect(committed).toBe(generatedDocs[path]!());
  });

  it("lists every error code of every package in docs/errors.md", () => {
    const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
    const codes = errorCatalogues().flatMap(([, catalogue]) => Object.keys(catalogue));
    expect(codes.length).toBeGreaterThan(20);
    const missing = codes.filter((code) => !doc.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });
});
