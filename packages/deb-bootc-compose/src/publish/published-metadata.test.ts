import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import type { PublishedRecord } from "./publish.js";
import { publishedMetadata, writePublishedMetadata } from "./published-metadata.js";

describe("what publishing (the phase or the command) records in compose/metadata/published.json", () => {
  const definition = parseDefinition(
    'name: demo\nversion: "13.0"\nupdates:\n  url: https://updates.example.org/demo/\n  publishTo: /srv/ostree/demo\n',
    "demo.yaml",
  );
  const record = (arch: string, extra: Partial<PublishedRecord>): PublishedRecord => ({
    variant: "minimal",
    arch,
    repo: "/srv/ostree/demo",
    ref: `demo/${arch}/minimal`,
    commit: arch === "amd64" ? "a".repeat(64) : "b".repeat(64),
    changed: true,
    fingerprint: "F".repeat(40),
    ...extra,
  });

  it("names the channel by its public URL, never the local directory, and per variant/arch the ref, commit, delta and change", () => {
    const metadata = publishedMetadata(definition, [
      record("amd64", { previous: "c".repeat(64), delta: `${"c".repeat(64)}-${"a".repeat(64)}` }),
      record("arm64", { changed: false }),
    ]);
    expect(metadata).toEqual({
      url: "https://updates.example.org/demo/",
      commits: [
        { variant: "minimal", arch: "amd64", ref: "demo/amd64/minimal", commit: "a".repeat(64), delta: true, changed: true },
        { variant: "minimal", arch: "arm64", ref: "demo/arm64/minimal", commit: "b".repeat(64), delta: false, changed: false },
      ],
    });
    expect(JSON.stringify(metadata)).not.toContain("/srv/ostree");
  });

  it("writes it into the compose's metadata folder, made when missing, and replaces an earlier record", async () => {
    const composeDir = await mkdtemp(join(tmpdir(), "published-"));
    try {
      const path = await writePublishedMetadata(composeDir, definition, [record("amd64", { changed: false })]);
      expect(path).toBe(join(composeDir, "compose", "metadata", "published.json"));
      await writePublishedMetadata(composeDir, definition, [record("arm64", {})]);
      expect(JSON.parse(await readFile(path, "utf8"))).toEqual({
        url: "https://updates.example.org/demo/",
        commits: [{ variant: "minimal", arch: "arm64", ref: "demo/arm64/minimal", commit: "b".repeat(64), delta: false, changed: true }],
      });
    } finally {
      await rm(composeDir, { recursive: true, force: true });
    }
  });
});
