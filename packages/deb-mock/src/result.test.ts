import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { artifactKind, buildResultJsonSchema, buildResultSchema } from "./result.js";

const schemaFile = join(import.meta.dirname, "..", "..", "..", "docs", "deb-mock-result.schema.json");

describe("result.json schema", () => {
  it("docs/deb-mock-result.schema.json is generated from the code (regenerate: npm run -w @debian-bootc/deb-mock docs)", async () => {
    const committed = JSON.parse(await readFile(schemaFile, "utf8"));
    expect(committed).toEqual(buildResultJsonSchema());
  });

  it("accepts a result and rejects a bad checksum", () => {
    const result = {
      schemaVersion: 1,
      status: "success",
      exitCode: 0,
      profile: { name: "debian-trixie-amd64", suite: "trixie", architecture: "amd64" },
      environmentHash: "ab",
      buildType: "binary",
      network: false,
      debBuildOptions: "parallel=2",
      startedAt: "2025-01-01T00:00:00.000Z",
      finishedAt: "2025-01-01T00:00:01.000Z",
      durationMs: 1000,
      phases: [{ name: "build", startedAt: "2025-01-01T00:00:00.000Z", durationMs: 1000, status: "ok" }],
      artifacts: [{ name: "x_1_all.deb", kind: "deb", size: 10, sha256: "0".repeat(64) }],
      installed: [{ name: "dpkg", version: "1.22.21", arch: "amd64" }],
    };
    expect(buildResultSchema.parse(result)).toEqual(result);
    expect(buildResultSchema.safeParse({ ...result, artifacts: [{ name: "x", kind: "file", size: 1, sha256: "zz" }] }).success).toBe(false);
    expect(buildResultSchema.safeParse({ ...result, artifacts: [{ name: "x", size: 1, sha256: "0".repeat(64) }] }).success).toBe(false);
  });

  it("names each artifact's kind by its file name", () => {
    expect(
      [
        "a_1_amd64.deb",
        "a-udeb_1_amd64.udeb",
        "a_1_amd64.buildinfo",
        "a_1_amd64.changes",
        "a_1.dsc",
        "a_1.orig.tar.xz",
        "a_1.diff.gz",
        "x.txt",
      ].map(artifactKind),
    ).toEqual(["deb", "deb", "buildinfo", "changes", "dsc", "source", "source", "file"]);
  });
});
