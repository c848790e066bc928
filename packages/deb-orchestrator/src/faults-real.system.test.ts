import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { spawnCli, stopProcess } from "./testing/processes.js";
import { fetchSource, rebuildAsNewVersion, sourceFiles } from "./testing/real-source.js";
import { submitBuild, until, waitForTask } from "./testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "./testing/test-hub.js";

/**
 * A builder SIGKILLed in the middle of a real deb-mock build (root, the mirror, minutes): the task is
 * freed when its lease lapses and a second builder process builds it; one build record, one set of
 * binaries.
 */
const databases = useDatabases();
const SOURCE = process.env.DEB_ORCHESTRATOR_E2E_SOURCE ?? "less";

describe.each(databaseKinds)("real build faults on %s", (kind) => {
  const children: ChildProcess[] = [];
  let test: TestHub | undefined;
  afterEach(async () => {
    for (const child of children.splice(0)) await stopProcess(child, "SIGKILL");
    await test?.close();
  });

  it(
    "a builder SIGKILLed during a deb-mock build: a second builder completes it",
    async () => {
      test = await startTestHub(databases, kind, { leaseMs: 10_000 });
      const admin = test.admin;
      const { dsc, version } = await rebuildAsNewVersion(await fetchSource(test.dir, SOURCE), `kill${kind}`);
      await admin.post("/api/v1/tags", { name: "trixie-build" });
      await admin.post("/api/v1/tags", { name: "trixie-dest", parents: ["trixie-build"] });
      await admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-dest" });
      const tokens: Record<string, string> = {};
      for (const name of ["real-a", "real-b"]) {
        await admin.post("/api/v1/users", { name, perms: ["host"] });
        tokens[name] = join(test.dir, `${name}.token`);
        await writeFile(tokens[name], (await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, {})).token);
      }
      const builder = (name: string) =>
        spawnCli(
          ["--hub", test!.hub.url, "--token-file", tokens[name]!, "builder", "--name", name, "--work-dir", join(test!.dir, `work-${name}`)],
          join(test!.dir, `${name}.log`),
        );
      children.push(builder("real-a"));
      const taskId = await submitBuild(admin, "trixie", { dsc, files: await sourceFiles(dsc) });
      // wait until deb-mock is really building (its output reaches the live log), then kill the builder
      const archTask = await until(
        async () => {
          const detail = await admin.get<{ children: { id: number; method: string; state: string }[] }>(`/api/v1/tasks/${taskId}`);
          const child = detail.children.find((c) => c.method === "buildArch" && c.state === "open");
          if (!child) return undefined;
          const log = await (await admin.raw("GET", `/api/v1/tasks/${child.id}/logs/build.log`)).text();
          return log.includes("== deb-mock: build") ? child : undefined;
        },
        10 * 60_000,
        "deb-mock to start building",
      );
      await stopProcess(children[0], "SIGKILL");
      children.push(builder("real-b"));
      const done = await waitForTask(admin, taskId, 20 * 60_000);
      expect(done.state).toBe("closed");
      const arch = await admin.get<{ host: string; attempts: number }>(`/api/v1/tasks/${archTask.id}`);
      expect(arch).toMatchObject({ host: "real-b", attempts: 1 });
      const builds = await admin.get<{ id: number; version: string }[]>(`/api/v1/builds?name=${SOURCE}`);
      expect(builds.map((b) => b.version)).toEqual([version]);
      const build = await admin.get<{ state: string; binaries: { filename: string }[] }>(`/api/v1/builds/${builds[0]!.id}`);
      expect(build.state).toBe("complete");
      const names = build.binaries.map((b) => b.filename);
      expect(new Set(names).size).toBe(names.length);
      expect(names.some((n) => n.startsWith(`${SOURCE}_`))).toBe(true);
    },
    40 * 60_000,
  );
});
