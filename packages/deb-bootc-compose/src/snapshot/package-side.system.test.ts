/**
 * System tier: the package side of a compose for examples/minimal.yaml against the host's mirror
 * (pkgset, gather, snapshot-repo, metadata through the compose verb), then Debian's own apt reads the
 * signed snapshot, accepts the set as installable, and a second compose pinned by the first one's
 * lockfile gives the identical set. Needs the mirror, apt and coreutils; .debs are cached between runs
 * in the shared cache (/var/cache/deb-bootc-compose as root).
 */
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { memoryOutput, run, runCli } from "@debian-bootc/core";
import { parseDeb822 } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ComposeResult } from "../compose/phase-engine.js";
import type { PackageDiff, PackagesMetadata } from "../metadata/package-diff.js";
import { tool } from "../tool.js";

const example = fileURLToPath(new URL("../../../../examples/minimal.yaml", import.meta.url));
const JUST = ["pkgset", "gather", "snapshot-repo", "metadata"].flatMap((p) => ["--just-phase", p]);
let work: string;

async function compose(args: string[]): Promise<ComposeResult> {
  const out = memoryOutput();
  const code = await runCli(tool, ["compose", example, "--output", join(work, "out"), ...JUST, "--json", ...args], out);
  expect(code, JSON.stringify(out.values[0] ?? [...out.text, ...out.errors])).toBe(0);
  const result = out.values[0] as ComposeResult;
  for (const p of result.phases)
    if (p.durationMs !== undefined) console.log(`${result.composeId} ${p.name}: ${(p.durationMs / 1000).toFixed(2)} s`);
  return result;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** apt-get/apt-cache with a private configuration: only the given source, an empty dpkg status. */
async function aptConfig(dir: string, sourceLine: string): Promise<string[]> {
  for (const d of ["lists/partial", "cache/archives/partial", "parts", "prefs", "sources.d"])
    await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, "sources.list"), `${sourceLine}\n`);
  await writeFile(join(dir, "status"), "");
  return [
    `Dir::Etc::SourceList=${join(dir, "sources.list")}`,
    `Dir::Etc::SourceParts=${join(dir, "sources.d")}`,
    `Dir::Etc::Parts=${join(dir, "parts")}`,
    `Dir::Etc::Preferences=${join(dir, "prefs", "none")}`,
    `Dir::Etc::PreferencesParts=${join(dir, "prefs")}`,
    `Dir::State::Lists=${join(dir, "lists")}`,
    `Dir::Cache=${join(dir, "cache")}`,
    `Dir::State::status=${join(dir, "status")}`,
    "APT::Architecture=amd64",
    "Debug::NoLocking=1",
    "APT::Sandbox::User=root", // the private directories are not readable by _apt
  ].flatMap((o) => ["-o", o]);
}

describe("package side of a compose on the real mirror", () => {
  let first: ComposeResult;
  let packages: PackagesMetadata;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "compose-pkg-"));
    first = await compose([]);
    packages = await readJson(join(first.composeDir, "compose", "metadata", "packages.json"));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("finishes with the package-side phases done and the image phases skipped", () => {
    expect(first.status).toBe("FINISHED");
    const outcome = Object.fromEntries(first.phases.map((p) => [p.name, p.outcome]));
    expect(outcome).toMatchObject({
      init: "done",
      pkgset: "done",
      gather: "done",
      "snapshot-repo": "done",
      metadata: "done",
      rootfs: "skipped",
      oci: "skipped",
    });
  });

  it("resolves the sets the definition asks for", () => {
    const minimal = packages.payload.packages.minimal!.amd64!.map((p) => p.name);
    const standard = packages.payload.packages.standard!.amd64!.map((p) => p.name);
    expect(minimal).toEqual(
      expect.arrayContaining([
        "systemd",
        "linux-image-amd64",
        "dracut",
        "ostree",
        "ostree-boot",
        "apt",
        "base-files",
        "dash",
        "grub-efi-amd64-bin",
      ]),
    );
    expect(minimal).not.toContain("initramfs-tools"); // excluded: dracut provides linux-initramfs-tool
    expect(standard).toEqual(expect.arrayContaining([...minimal, "openssh-server", "sudo"]));
    console.log(`set sizes: minimal ${minimal.length}, standard ${standard.length}`);
  });

  it("publishes exactly each variant's packages in its signed suite, which apt accepts and can install", async () => {
    const repo = join(first.composeDir, "compose", "repo");
    for (const [variant, suite] of [
      ["minimal", "trixie-minimal"],
      ["standard", "trixie-standard"],
    ] as const) {
      const index = parseDeb822(await readFile(join(repo, "dists", suite, "main", "binary-amd64", "Packages"), "utf8"));
      const published = index.map((p) => `${p.get("Package")} ${p.get("Version")} ${p.get("SHA256")}`).sort();
      const wanted = packages.payload.packages[variant]!.amd64!.map((p) => `${p.name} ${p.version} ${p.sha256}`).sort();
      expect(published).toEqual(wanted);

      const url = `file://${await realpath(repo)}`;
      const options = await aptConfig(
        join(work, `apt-${variant}`),
        `deb [signed-by=${join(repo, "snapshot-keyring.gpg")}] ${url} ${suite} main`,
      );
      const update = await run("apt-get", [...options, "update"]);
      expect(update.stdout + update.stderr).not.toMatch(/^(W|E|Err):/m);
      const names = packages.payload.packages[variant]!.amd64!.map((p) => p.name);
      const install = await run("apt-get", [...options, "--simulate", "--no-install-recommends", "install", ...names]);
      expect(install.stdout.split("\n").filter((l) => l.startsWith("Inst ")).length).toBe(names.length);
    }
    // the signature is really checked: the Debian archive keyring does not sign the snapshot
    const options = await aptConfig(
      join(work, "apt-wrong-key"),
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file://${await realpath(repo)} trixie-minimal main`,
    );
    const refused = await run("apt-get", [...options, "update"], { okCodes: [100] });
    expect(refused.stdout + refused.stderr).toMatch(/NO_PUBKEY|not signed|signature/i);
  });

  it("writes checksums, SBOMs and images.json that match the content", async () => {
    const sums = await run("sha256sum", ["--check", "--quiet", "SHA256SUMS"], { cwd: join(first.composeDir, "compose") });
    expect(sums.code).toBe(0);
    const listed = (await readFile(join(first.composeDir, "compose", "SHA256SUMS"), "utf8")).split("\n");
    expect(listed.some((l) => l.endsWith("  metadata/packages.json"))).toBe(true);
    const sbom = await readJson<{ spdxVersion: string; packages: Array<{ name: string }> }>(
      join(first.composeDir, "compose", "metadata", "sbom", "minimal.amd64.spdx.json"),
    );
    expect(sbom.spdxVersion).toBe("SPDX-2.3");
    expect(sbom.packages.length).toBe(packages.payload.packages.minimal!.amd64!.length + 1);
    const images = await readJson<{ payload: { images: unknown[] } }>(join(first.composeDir, "compose", "metadata", "images.json"));
    expect(images.payload.images).toEqual([]);
  });

  it("gives the identical set again from the lockfile, reuses the cache, and diffs to no changes", async () => {
    const lockfile = join(first.composeDir, "compose", "metadata", "lockfile.json");
    const second = await compose(["--lockfile", lockfile]);
    expect(second.status).toBe("FINISHED");
    const again = await readJson<PackagesMetadata>(join(second.composeDir, "compose", "metadata", "packages.json"));
    expect(again.payload.packages).toEqual(packages.payload.packages);
    const gatherLog = await readFile(join(second.composeDir, "logs", "gather.log"), "utf8");
    const gathered = gatherLog
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg?: string; downloaded?: number; cached?: number })
      .find((l) => l.msg === "packages gathered");
    expect(gathered?.downloaded).toBe(0);
    const diff = await readJson<PackageDiff>(join(second.composeDir, "compose", "metadata", "package-diff.json"));
    expect(diff.from).toBe(first.composeId);
    expect(diff.summary).toEqual({ added: 0, removed: 0, upgraded: 0, downgraded: 0, changed: 0 });
    const out = memoryOutput();
    expect(await runCli(tool, ["diff", first.composeDir, second.composeDir], out)).toBe(0);
    expect(out.text.join("\n")).toContain("0 added, 0 removed, 0 upgraded, 0 downgraded");
  });
});
