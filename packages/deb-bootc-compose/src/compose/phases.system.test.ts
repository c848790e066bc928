/**
 * System tier: the phase engine with the real oci and lint phases over a trixie minbase tree (mmdebstrap
 * stands in for the rootfs phase). A minbase tree has no kernel, so lint must doom the compose after
 * the image was written. Needs root, mmdebstrap, skopeo, attr.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import { lintPhase } from "../lint/lint-phase.js";
import { ociPhase } from "../oci/oci-phase.js";
import { type Phase, readComposeStatus, runCompose } from "./phase-engine.js";

const isRoot = process.getuid?.() === 0;
let work: string | undefined;

describe.skipIf(!isRoot && !process.env.CI)("oci and lint phases on a real tree", () => {
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("writes the image, then lint dooms the compose because the tree has no kernel", async () => {
    work = await mkdtemp(join(tmpdir(), "compose-system-"));
    const definitionPath = join(work, "def.yaml");
    const text = 'name: sys\nversion: "13.0"\noutputs: [oci, ociarchive]\nimage:\n  name: debian/sys\n';
    await writeFile(definitionPath, text);
    const definition = parseDefinition(text, definitionPath);
    const rootfsStub: Phase = {
      name: "rootfs",
      async run(ctx) {
        const path = join(ctx.composeDir, "work", "amd64", "minimal", "rootfs");
        await mkdir(join(path, ".."), { recursive: true });
        await run("mmdebstrap", ["--variant=minbase", "--mode=root", "--quiet", "trixie", path, await defaultMirror()], {
          signal: ctx.signal,
        });
        ctx.state.set("rootfs", [{ variant: "minimal", arch: "amd64", path }]);
      },
    };
    const error = await runCompose({
      definition,
      definitionPath,
      outputDir: join(work, "out"),
      phases: [rootfsStub, ociPhase, lintPhase],
    }).catch((e) => e);
    expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
    expect(error.message).toMatch(/phase lint failed: image checks failed: minimal\/amd64: kernel/);
    const dir = error.details.composeDir as string;
    const status = await readComposeStatus(dir);
    expect(status.status).toBe("DOOMED");
    expect(status.phases.find((p) => p.name === "oci")?.outcome).toBe("done");
    expect(await readFile(join(dir, "logs", "lint.log"), "utf8")).toMatch(/"check":"kernel".*"ok":false/);
    const layout = join(dir, "compose", "minimal", "amd64", "oci");
    const inspected = JSON.parse((await run("skopeo", ["inspect", `oci:${layout}:13.0`])).stdout);
    expect(inspected.Labels["containers.bootc"]).toBe("1");
    expect(inspected.Labels["org.opencontainers.image.title"]).toBe("debian/sys");
    expect((await stat(join(dir, "compose", "minimal", "amd64", "sys-minimal.ociarchive"))).size).toBeGreaterThan(10_000_000);
  });
});
