import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runInEnvironment } from "@debian-bootc/deb-mock";
import { describe, expect, it } from "vitest";
import { useRealHub } from "./testing/real-hub.js";
import { fetchSource, rebuildAsNewVersion } from "./testing/real-source.js";
import { submitBuild, waitForTask } from "./testing/test-builds.js";

/**
 * The whole chain, for real: a hub (SQLite), a builder building with deb-mock, `less` from trixie's
 * sources on the host's mirror, tagging, the destination tag's signed repository, and `apt-get install`
 * of the built package from it in a fresh deb-mock environment that trusts only the hub's key.
 * Needs root, the mirror and a few minutes (less with deb-mock's cache warm).
 */
// less: small, real build-dependencies (debhelper, libncurses-dev); hello's trixie version is not served
// by every mirror
const SOURCE = process.env.DEB_ORCHESTRATOR_E2E_SOURCE ?? "less";

describe("end to end", () => {
  const startRealHub = useRealHub("e2e");

  it(
    `builds ${SOURCE} from trixie on a builder, publishes the signed tag repository and installs from it`,
    async () => {
      const { dir, hub, admin } = await startRealHub();
      const { dsc, version } = await rebuildAsNewVersion(await fetchSource(dir, SOURCE), "orch1");
      await admin.post("/api/v1/tags", { name: "trixie-build", arches: ["amd64"] });
      await admin.post("/api/v1/tags", { name: "trixie-dest", arches: ["amd64"], parents: ["trixie-build"] });
      await admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-dest" });

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
