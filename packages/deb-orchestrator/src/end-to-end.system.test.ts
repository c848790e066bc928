import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { runInEnvironment } from "@debian-bootc/deb-mock";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { Builder } from "./builder/builder.js";
import { DebMockRunner } from "./builder/deb-mock-runner.js";
import { HubClient } from "./client/hub-client.js";
import { type RunningHub, startHub } from "./hub/hub.js";
import { submitBuild, waitForTask } from "./testing/test-hub.js";

/**
 * The whole chain, for real: a hub (SQLite), a builder building with deb-mock, `hello` from trixie's
 * sources on the host's mirror, tagging, the destination tag's signed repository, and `apt-get install`
 * of the built package from it in a fresh deb-mock environment that trusts only the hub's key.
 * Needs root, the mirror and a few minutes (less with deb-mock's cache warm).
 */
// less: small, real build-dependencies (debhelper, libncurses-dev); hello's trixie version is not served
// by every mirror
const SOURCE = process.env.DEB_ORCHESTRATOR_E2E_SOURCE ?? "less";

async function fetchSource(dir: string, name: string): Promise<string> {
  const mirror = await defaultMirror();
  const etc = join(dir, "apt", "etc");
  const lists = join(dir, "apt", "lists");
  const cache = join(dir, "apt", "cache");
  for (const d of [join(etc, "parts"), join(lists, "partial"), join(cache, "archives", "partial")]) await mkdir(d, { recursive: true });
  await writeFile(join(etc, "sources.list"), `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} trixie main\n`);
  const options = [
    "-o",
    `Dir::Etc::SourceList=${join(etc, "sources.list")}`,
    "-o",
    `Dir::Etc::SourceParts=${join(etc, "parts")}`,
    "-o",
    `Dir::State::Lists=${lists}`,
    "-o",
    `Dir::Cache=${cache}`,
  ];
  await run("apt-get", [...options, "update", "-q"], { debianPackage: "apt" });
  const sources = join(dir, "sources");
  await mkdir(sources, { recursive: true });
  await run("apt-get", [...options, "source", "--download-only", "-q", name], { cwd: sources, debianPackage: "apt" });
  const dsc = (await readdir(sources)).find((f) => f.endsWith(".dsc"));
  if (!dsc) throw new Error(`apt-get source ${name} gave no .dsc`);
  return join(sources, dsc);
}

/**
 * A new Debian revision of the source (one changelog entry, "+orch1"), so the version installed at the end
 * can only have come from the hub's repository.
 */
async function rebuildAsNewVersion(dsc: string): Promise<{ dsc: string; version: string }> {
  const dir = join(dsc, "..");
  await run("dpkg-source", ["-x", dsc, "unpacked"], { cwd: dir, debianPackage: "dpkg-dev" });
  const changelog = join(dir, "unpacked", "debian", "changelog");
  const text = await readFile(changelog, "utf8");
  const match = /^(\S+) \(([^)]+)\)/.exec(text);
  if (!match) throw new Error("unreadable debian/changelog");
  const version = `${match[2]}+orch1`;
  const date = new Date().toUTCString().replace("GMT", "+0000");
  await writeFile(
    changelog,
    `${match[1]} (${version}) trixie; urgency=medium\n\n  * Rebuilt by deb-orchestrator's end-to-end test.\n\n -- Test <test@localhost>  ${date}\n\n${text}`,
  );
  await run("dpkg-source", ["-b", "unpacked"], { cwd: dir, debianPackage: "dpkg-dev" });
  const built = (await readdir(dir)).find((f) => f.endsWith(`_${version.replace(/^[0-9]+:/, "")}.dsc`));
  if (!built) throw new Error("dpkg-source -b made no .dsc");
  return { dsc: join(dir, built), version };
}

describe("end to end", () => {
  let hub: RunningHub | undefined;
  let builder: Builder | undefined;
  let dir = "";
  afterAll(async () => {
    await builder?.stop(1000);
    await hub?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    `builds ${SOURCE} from trixie on a builder, publishes the signed tag repository and installs from it`,
    async () => {
      dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-e2e-"));
      const { dsc, version } = await rebuildAsNewVersion(await fetchSource(dir, SOURCE));
      hub = await startHub({ db: `sqlite:${join(dir, "hub.db")}`, dataDir: join(dir, "data") });
      const admin = new HubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
      await admin.post("/api/v1/tags", { name: "trixie-build", arches: ["amd64"] });
      await admin.post("/api/v1/tags", { name: "trixie-dest", arches: ["amd64"], parents: ["trixie-build"] });
      await admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-dest" });
      await admin.post("/api/v1/users", { name: "builder-1", perms: ["host"] });
      const { token } = await admin.post<{ token: string }>("/api/v1/users/builder-1/tokens", {});
      builder = new Builder({
        client: new HubClient({ url: hub.url, token }),
        name: "builder-1",
        arches: ["amd64"],
        capacity: 1,
        runner: new DebMockRunner(),
        workDir: join(dir, "work"),
      });
      await builder.start();

      const sourceFiles = [dsc];
      for (const line of (await readFile(dsc, "utf8")).split("\n").filter((l) => /^ [0-9a-f]{64} /.test(l)))
        sourceFiles.push(join(dsc, "..", line.trim().split(/\s+/)[2]!));
      const taskId = await submitBuild(admin, "trixie", { dsc, files: [...new Set(sourceFiles)] });
      const task = await waitForTask(admin, taskId, 30 * 60_000);
      if (task.state !== "closed") {
        const why = await admin.get<{ reason: string; details?: unknown }>(`/api/v1/tasks/${taskId}/why`);
        throw new Error(`build task ${taskId} ${task.state}: ${why.reason}\n${JSON.stringify(why.details).slice(0, 3000)}`);
      }
      const builds = await admin.get<{ id: number; version: string }[]>(`/api/v1/builds?name=${SOURCE}`);
      expect(builds).toHaveLength(1);
      expect(builds[0]!.version).toBe(version);
      const build = await admin.get<{
        state: string;
        tags: string[];
        binaries: { name: string; arch: string }[];
        buildroots: { installed: { name: string }[] }[];
      }>(`/api/v1/builds/${builds[0]!.id}`);
      expect(build.state).toBe("complete");
      expect(build.tags).toEqual(["trixie-dest"]);
      expect(build.binaries.some((b) => b.name === SOURCE && b.arch === "amd64")).toBe(true);
      expect(build.buildroots[0]!.installed.map((p) => p.name)).toContain("dpkg-dev");
      const detail = await admin.get<{ children: { id: number; method: string }[] }>(`/api/v1/tasks/${taskId}`);
      const archTask = detail.children.find((c) => c.method === "buildArch")!;
      const log = await (await admin.raw("GET", `/api/v1/tasks/${archTask.id}/logs/build.log`)).text();
      expect(log).toContain("dpkg-buildpackage");

      // a fresh environment that knows only the hub's key installs the package from the tag's repository
      const keyDir = join(dir, "key");
      await mkdir(keyDir);
      await writeFile(join(keyDir, "hub.asc"), await (await admin.raw("GET", "/repos/key.asc")).text());
      const line = `deb [signed-by=/orchestrator/hub.asc] ${hub.url}/repos/trixie-dest/latest trixie-dest main`;
      const result = await runInEnvironment({
        network: true,
        binds: [{ source: keyDir, target: "/orchestrator", readOnly: true }],
        commands: [
          ["sh", "-c", `echo '${line}' > /etc/apt/sources.list.d/orchestrator.list`],
          [
            "apt-get",
            "update",
            "-o",
            "Dir::Etc::SourceList=/etc/apt/sources.list.d/orchestrator.list",
            "-o",
            "Dir::Etc::SourceParts=-",
            "-o",
            "APT::Get::List-Cleanup=0",
          ],
          ["apt-get", "install", "-y", "--no-install-recommends", SOURCE],
          // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
          ["dpkg-query", "--show", "--showformat=${Package} ${Version}\\n", SOURCE],
        ],
      });
      expect(result.results.at(-1)?.stdout.trim()).toBe(`${SOURCE} ${version}`);
    },
    40 * 60_000,
  );
});
