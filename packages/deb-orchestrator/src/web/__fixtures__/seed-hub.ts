import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { NoopBuildRunner } from "../../builder/build-runner.js";
import { Builder } from "../../builder/builder.js";
import type { HubClient } from "../../client/hub-client.js";
import { type TestHub } from "../../testing/test-hub.js";
import { submitBuild, until, waitForTask, writeSourcePackage } from "../../testing/test-builds.js";

/* A hub with the shape of a real one, made through its API: an external repo, tags with inheritance, a
 * target, users with different permissions, complete and failed builds made by a builder (the noop runner
 * packs a real .deb), and optionally a build that keeps running with a growing log. */

export interface SeededHub {
  alice: HubClient;
  aliceToken: string;
  viewerToken: string;
  builders: Builder[];
  /** Top tasks of the finished builds, by "name/version". */
  builds: Map<string, number>;
}

async function userWithToken(test: TestHub, name: string, perms: string[]): Promise<{ client: HubClient; token: string }> {
  await test.admin.post("/api/v1/users", { name, perms });
  const { token } = await test.admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, { label: "web test" });
  const { HubClient } = await import("../../client/hub-client.js");
  return { client: new HubClient({ url: test.hub.url, token }), token };
}

export async function startBuilder(test: TestHub, seeded: SeededHub, name: string, options: { delayMs?: number; failSources?: string[] }) {
  const { client } = await userWithToken(test, name, ["host"]);
  const builder = new Builder({
    client,
    name,
    arches: ["amd64"],
    capacity: 1,
    runner: new NoopBuildRunner(options),
    workDir: join(test.dir, `work-${name}`),
    claimWaitMs: 1000,
    graceMs: 100,
  });
  await builder.start();
  seeded.builders.push(builder);
  return builder;
}

export async function seedHub(test: TestHub): Promise<SeededHub> {
  const admin = test.admin;
  await admin.post("/api/v1/external-repos", { name: "debian-trixie", url: "http://deb.invalid/debian", suite: "trixie", components: ["main"] });
  await admin.post("/api/v1/tags", { name: "trixie-base", arches: ["amd64"], externalRepos: ["debian-trixie"] });
  await admin.post("/api/v1/tags", { name: "trixie-build", arches: ["amd64"], parents: ["trixie-base"] });
  await admin.post("/api/v1/tags", { name: "trixie-candidate", arches: ["amd64"], parents: ["trixie-base"] });
  await admin.post("/api/v1/tags", { name: "trixie-updates", arches: ["amd64"], parents: ["trixie-candidate", "trixie-base"] });
  await admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-candidate" });
  await admin.post("/api/v1/targets", { name: "trixie-updates", buildTag: "trixie-build", destTag: "trixie-updates" });
  const alice = await userWithToken(test, "alice", ["build"]);
  const viewer = await userWithToken(test, "viewer", []);
  const seeded: SeededHub = { alice: alice.client, aliceToken: alice.token, viewerToken: viewer.token, builders: [], builds: new Map() };
  const builder = await startBuilder(test, seeded, "builder-1", { delayMs: 150, failSources: ["broken"] });
  const sources: Array<[string, string, HubClient, string]> = [
    ["hello", "2.10-2", admin, "trixie"],
    ["hello", "2.10-3", alice.client, "trixie"],
    ["coreutils", "9.7-3", admin, "trixie"],
    ["bash", "5.2.37-1", alice.client, "trixie"],
    ["broken", "1.0-1", alice.client, "trixie"],
    ["hello", "2.10-4", admin, "trixie-updates"],
  ];
  for (const [name, version, client, target] of sources) {
    const dir = join(test.dir, `src-${name}-${version}`);
    await mkdir(dir, { recursive: true });
    const task = await submitBuild(client, target, await writeSourcePackage(dir, name, version));
    await waitForTask(admin, task);
    seeded.builds.set(`${name}/${version}`, task);
  }
  // stopped and disabled: a claim it had in flight while stopping must not take the next build
  await builder.stop(100);
  seeded.builders.splice(seeded.builders.indexOf(builder), 1);
  await admin.post("/api/v1/hosts/builder-1/disable", {});
  return seeded;
}

/** Start a slow builder and a build on it; returns the running buildArch task once it is open. */
export async function startRunningBuild(test: TestHub, seeded: SeededHub, name = "zstd", version = "1.5.7-1"): Promise<{ top: number; arch: number }> {
  await startBuilder(test, seeded, "builder-2", { delayMs: 600_000 });
  const dir = join(test.dir, `src-${name}-${version}`);
  await mkdir(dir, { recursive: true });
  const top = await submitBuild(test.admin, "trixie", await writeSourcePackage(dir, name, version));
  const arch = await until(
    async () => {
      const tasks = await test.admin.get<Array<{ id: number; method: string; state: string }>>(`/api/v1/tasks?parent=${top}`);
      return tasks.find((t) => t.method === "buildArch" && t.state === "open")?.id;
    },
    20_000,
    "the running buildArch task",
  );
  return { top, arch };
}
