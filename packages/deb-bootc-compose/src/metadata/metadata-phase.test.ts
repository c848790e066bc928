import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { ComposeState } from "../compose/compose-state.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { parseDefinition } from "../definition.js";
import { parsePackagesIndex } from "../pkgset/repository-index.js";
import { CandidateView, resolvePackageSet } from "../pkgset/resolver.js";
import { createMetadataPhase } from "./metadata-phase.js";
import type { PackageDiff } from "./package-diff.js";

const origin = { repository: "fixture", url: "file:///fixture", suite: "trixie", component: "main" };
const universe = parsePackagesIndex(await readFile(new URL("../pkgset/__fixtures__/universe.Packages", import.meta.url), "utf8"), origin);
const definition = parseDefinition('name: meta\nversion: "1.0"\nimage:\n  name: debian/meta\n', "def.yaml");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

async function composeDir(root: string, id: string, packages: string[]): Promise<PhaseContext> {
  const dir = join(root, id);
  await mkdir(join(dir, "compose", "metadata"), { recursive: true });
  const set = resolvePackageSet(new CandidateView(universe, "amd64"), { arch: "amd64", packages, baseline: "none" });
  const state = new ComposeState();
  state.set("pkgset", {
    baseline: "none",
    recommends: false,
    repositories: [],
    sets: { minimal: { amd64: set.packages } },
    reasons: { minimal: { amd64: set.reasons } },
  });
  return { composeId: id, composeDir: dir, definition, logger: silentLogger, signal: new AbortController().signal, state, emit: () => {} };
}

describe("metadata phase", () => {
  it("writes packages, images, SBOM, composeinfo, the diff against the previous compose and SHA256SUMS", async () => {
    const root = await mkdtemp(join(tmpdir(), "meta-"));
    dirs.push(root);
    const old = await composeDir(root, "meta-1.0-20261101.0", ["hello"]);
    await createMetadataPhase().run(old);
    await writeFile(join(old.composeDir, "STATUS"), "FINISHED\n");

    const ctx = await composeDir(root, "meta-1.0-20261102.0", ["hello", "dash"]);
    // an OCI layout as the oci phase writes it, and a disk image recorded by a phase
    const layout = join(ctx.composeDir, "compose", "minimal", "amd64", "oci");
    const manifest = JSON.stringify({ config: { size: 10 }, layers: [{ size: 100 }, { size: 200 }] });
    await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
    await writeFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(layout, "blobs", "sha256", sha(manifest)), manifest);
    await writeFile(
      join(layout, "index.json"),
      JSON.stringify({ manifests: [{ digest: `sha256:${sha(manifest)}`, size: manifest.length }] }),
    );
    await writeFile(join(ctx.composeDir, "compose", "minimal", "amd64", "meta.qcow2"), "disk");
    ctx.state.addImages([{ variant: "minimal", arch: "amd64", type: "qcow2", path: "compose/minimal/amd64/meta.qcow2", format: "qcow2" }]);
    await createMetadataPhase({ label: "RC-1" }).run(ctx);

    const meta = join(ctx.composeDir, "compose", "metadata");
    const packages = JSON.parse(await readFile(join(meta, "packages.json"), "utf8"));
    expect(packages.payload.packages.minimal.amd64.map((p: { name: string }) => p.name)).toEqual(["dash", "hello", "libc6", "libgcc-s1"]);
    expect(packages.payload.packages.minimal.amd64[1]).toMatchObject({
      name: "hello",
      version: "2.10-5",
      arch: "amd64",
      source: "hello",
      component: "main",
    });

    const images = JSON.parse(await readFile(join(meta, "images.json"), "utf8")).payload.images;
    expect(images).toEqual([
      {
        variant: "minimal",
        arch: "amd64",
        type: "qcow2",
        format: "qcow2",
        path: "compose/minimal/amd64/meta.qcow2",
        size: 4,
        sha256: sha("disk"),
      },
      {
        variant: "minimal",
        arch: "amd64",
        type: "oci",
        format: "oci-layout",
        path: "compose/minimal/amd64/oci",
        size: manifest.length + 310,
        digest: `sha256:${sha(manifest)}`,
      },
    ]);

    const sbom = JSON.parse(await readFile(join(meta, "sbom", "minimal.amd64.spdx.json"), "utf8"));
    expect(sbom.packages[0].checksums).toEqual([{ algorithm: "SHA256", checksumValue: sha(manifest) }]);
    expect(sbom.packages.map((p: { name: string }) => p.name)).toEqual(["debian/meta-minimal", "dash", "hello", "libc6", "libgcc-s1"]);

    const info = JSON.parse(await readFile(join(meta, "composeinfo.json"), "utf8")).payload;
    expect(info.compose).toEqual({ id: "meta-1.0-20261102.0", date: "20261102", respin: 0, type: "ga", label: "RC-1" });
    expect(info.variants.minimal.packages).toEqual({ amd64: 4 });

    const diff = JSON.parse(await readFile(join(meta, "package-diff.json"), "utf8")) as PackageDiff;
    expect(diff.from).toBe("meta-1.0-20261101.0");
    expect(diff.sets.minimal!.amd64!.added.map((p) => p.name)).toEqual(["dash", "libc6", "libgcc-s1"]);

    const sums = (await readFile(join(ctx.composeDir, "compose", "SHA256SUMS"), "utf8")).trim().split("\n");
    const listed = new Map(sums.map((l) => [l.slice(66), l.slice(0, 64)]));
    expect([...listed.keys()]).toContain("minimal/amd64/meta.qcow2");
    expect(listed.get("metadata/packages.json")).toBe(sha(await readFile(join(meta, "packages.json"), "utf8")));
    expect(listed.has("SHA256SUMS")).toBe(false);
  });
});
