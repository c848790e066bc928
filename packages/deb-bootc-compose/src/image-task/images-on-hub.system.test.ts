/**
 * System tier, end to end: `deb-bootc-compose compose DEF --hub URL --images-on hub` against a hub in this
 * process (SQLite) and a real builder with the `image` capability that runs `deb-bootc-compose image-task`
 * for each composeImage task. The minimal definition's minimal variant (outputs ostree, oci, ociarchive,
 * qcow2) ends FINISHED: its images.json lists the OCI archive and the disk image the builder made, the
 * commit is in the compose's repository, and the hub has the compose FINISHED. A private rootfs cache; the
 * machine's .debs and indexes. Needs root, mmdebstrap, bubblewrap, skopeo; several minutes on 2 cores.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Output, runCli } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { Builder, ComposeCliImageRunner, NoopBuildRunner, type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, describe, expect, it } from "vitest";
import type { ComposeResult } from "../compose/phase-engine.js";
import { tool } from "../tool.js";
import { cacheWithPrivateRootfs, minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/skopeo"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)));
const cli = join(import.meta.dirname, "..", "cli.ts");

describe.skipIf(!ready)("a compose with its image phases on a hub's builder", () => {
  let work = "";
  let hub: RunningHub | undefined;
  let builder: Builder | undefined;
  afterAll(async () => {
    await builder?.stop(5000);
    await hub?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("is FINISHED with the OCI archive and the disk image the builder made", { timeout: 1_800_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "images-on-hub-"));
    // the sandbox's root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const cacheDir = await cacheWithPrivateRootfs(work);

    hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub"), buildBase: false });
    const adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
    const tokenFile = join(work, "token");
    await writeFile(tokenFile, adminToken);
    const admin = new HubClient({ url: hub.url, token: adminToken });
    await admin.createUser("imager", ["host"]);
    const { token } = await admin.createToken("imager", { label: "test" });
    const builderDir = join(work, "builder");
    await mkdir(builderDir, { mode: 0o755 });
    builder = new Builder({
      client: new HubClient({ url: hub.url, token }),
      name: "imager",
      arches: ["amd64"],
      capabilities: ["image"],
      capacity: 1,
      runner: new NoopBuildRunner(),
      imageRunner: new ComposeCliImageRunner({ command: [process.execPath, "--conditions=source", "--import", "tsx", cli], cacheDir }),
      workDir: builderDir,
    });
    await builder.start();

    const text = await minimalVariantDefinition("[ostree, oci, ociarchive, qcow2]\ndisk:\n  size: 2G");
    const definition = join(work, "minimal.yaml");
    await writeFile(definition, text);

    const docs: unknown[] = [];
    const lines: string[] = [];
    const out: Output = {
      isTTY: false,
      line: (t) => lines.push(t),
      json: (v) => docs.push(v),
      warn: (t) => lines.push(t),
      error: (t) => lines.push(t),
    };
    const args = ["compose", definition, "--output", join(work, "out"), "--cache-dir", cacheDir, "--skip-phase", "test"];
    const code = await runCli(tool, [...args, "--hub", hub.url, "--token-file", tokenFile, "--images-on", "hub", "--json"], out);
    expect(code, JSON.stringify(docs[0] ?? lines)).toBe(0);
    const result = docs[0] as ComposeResult;
    expect(result.status).toBe("FINISHED");
    const phases = Object.fromEntries(result.phases.map((p) => [p.name, p.outcome]));
    for (const phase of ["rootfs", "ostree", "oci", "lint", "image-build", "metadata"]) expect(phases[phase], phase).toBe("done");

    const images = JSON.parse(await readFile(join(result.composeDir, "compose", "metadata", "images.json"), "utf8")) as {
      payload: { images: Array<{ path: string; type: string; sha256?: string }> };
    };
    const types = Object.fromEntries(images.payload.images.map((i) => [i.path, i.type]));
    expect(types).toMatchObject({
      "compose/minimal/amd64/debian-bootc-minimal-minimal.ociarchive": "ociarchive",
      "compose/minimal/amd64/images/debian-bootc-minimal-minimal-amd64-13.0.qcow2": "qcow2",
      "compose/minimal/amd64/oci": "oci",
    });
    const commit = JSON.parse(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(commit.commit).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(result.composeDir, "logs", "image-task-minimal-amd64", "rootfs-minimal-amd64.log"))).toBe(true);
    const recorded = await admin.getCompose(result.composeId);
    expect(recorded.status).toBe("FINISHED");
    const tasks = await admin.listTasks({ method: "composeImage" });
    expect(tasks.map((t) => [t.state, t.host])).toEqual([["closed", "imager"]]);
  });
});
