/**
 * System tier: a real compose of examples/minimal.yaml (the package side: pkgset, gather, snapshot-repo,
 * metadata, against the host's mirror) run by the compose verb with --hub, recorded on a hub started in
 * this process (SQLite); the hub then has it FINISHED with its phases, packages and SBOM, and its web
 * page shows it. The compose directory is what a compose without a hub leaves. Needs the mirror; .debs
 * are cached in the shared cache.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Output, runCli } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PackagesMetadata } from "../metadata/package-diff.js";
import { tool } from "../tool.js";
import type { ComposeResult } from "./phase-engine.js";

const example = fileURLToPath(new URL("../../../../examples/minimal.yaml", import.meta.url));
const JUST = ["pkgset", "gather", "snapshot-repo", "metadata"];

describe("a real compose recorded on a hub", () => {
  let work = "";
  let hub: RunningHub;
  let tokenFile = "";

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "compose-hub-"));
    hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub") });
    tokenFile = join(work, "token");
    await writeFile(tokenFile, await readFile(hub.adminTokenFile, "utf8"));
  }, 60_000);
  afterAll(async () => {
    await hub?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("is FINISHED on the hub with its phases, packages and SBOM, and its page shows it", async () => {
    const docs: unknown[] = [];
    const text: string[] = [];
    const out: Output = {
      isTTY: false,
      line: (t) => text.push(t),
      json: (v) => docs.push(v),
      warn: (t) => text.push(t),
      error: (t) => text.push(t),
    };
    const args = ["compose", example, "--output", join(work, "out"), ...JUST.flatMap((p) => ["--just-phase", p])];
    const code = await runCli(tool, [...args, "--hub", hub.url, "--token-file", tokenFile, "--json"], out);
    expect(code, JSON.stringify(docs[0] ?? text)).toBe(0);
    expect(text).toEqual([]); // no warning: the hub took every report
    const result = docs[0] as ComposeResult;

    const client = new HubClient({ url: hub.url });
    const compose = await client.getCompose(result.composeId);
    expect(compose).toMatchObject({ status: "FINISHED", name: "debian-bootc-minimal", hasSbom: true });
    expect(compose.definition).toBe(await readFile(example, "utf8"));
    const phases = Object.fromEntries(compose.phases.map((p) => [p.name, p.status]));
    for (const phase of ["init", ...JUST]) expect(phases[phase], phase).toBe("done");
    for (const phase of ["build", "rootfs", "ostree", "oci", "image-build", "test"]) expect(phases[phase], phase).toBe("skipped");
    // the hub has the packages the compose's own metadata lists
    const local = JSON.parse(await readFile(join(result.composeDir, "compose", "metadata", "packages.json"), "utf8")) as PackagesMetadata;
    const listed = Object.values(local.payload.packages).flatMap((byArch) => Object.values(byArch).flat());
    expect(compose.packages).toHaveLength(listed.length);
    expect(compose.packages.map((p) => p.name)).toContain("systemd");
    const sbom = await client.getComposeSbom(result.composeId);
    expect(Object.keys(sbom).sort()).toEqual(["minimal.amd64", "standard.amd64"]);
    expect(await client.composePhaseLog(result.composeId, "gather")).toMatch(/"msg":"phase finished"/);

    const page = await (await fetch(`${hub.url}/composes/${result.composeId}`)).text();
    expect(page).toContain('<span class="state state-finished">FINISHED</span>');
    // each phase done, with the times the page's script keeps its Started and Took cells live from
    for (const phase of JUST)
      expect(page).toMatch(
        new RegExp(`<tr id="phase-${phase}" data-started="\\d+" data-completed="\\d+"><td>${phase}</td><td><span class="state state-done"`),
      );
  }, 600_000);
});
