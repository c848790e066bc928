import { describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import type { PublishedRecord } from "./publish.js";
import { publishedMetadata } from "./publish-phase.js";

describe("what the publish phase records in compose/metadata/published.json", () => {
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
});
