import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BuildRequest, TaskDetail } from "../api/tasks.js";
import type { HubClient } from "../client/hub-client.js";

/* What a hub test submits and waits for: a target, small source packages, builds of them, tasks reaching an end. */

/** Tags `base` and `dest` (inheriting base) for amd64, and the target `t` building in base into dest. */
export async function createTarget(admin: HubClient): Promise<void> {
  await admin.createTag("base", { arches: ["amd64"] });
  await admin.createTag("dest", { arches: ["amd64"], parents: ["base"] });
  await admin.createTarget({ name: "t", buildTag: "base", destTag: "dest" });
}

/** Write a small source package (.dsc plus the files it lists) and return the file paths. */
export async function writeSourcePackage(
  dir: string,
  source: string,
  version: string,
  architecture = "any",
): Promise<{ dsc: string; files: string[] }> {
  const upstream = version.replace(/^[0-9]+:/, "").replace(/-[^-]+$/, "");
  const plain = version.replace(/^[0-9]+:/, "");
  const orig = join(dir, `${source}_${upstream}.orig.tar.gz`);
  const debian = join(dir, `${source}_${plain}.debian.tar.xz`);
  await writeFile(orig, `orig of ${source} ${version}\n`);
  await writeFile(debian, `debian of ${source} ${version}\n`);
  const lines = [];
  const md5 = [];
  for (const path of [orig, debian]) {
    const data = await readFile(path);
    lines.push(` ${createHash("sha256").update(data).digest("hex")} ${data.length} ${path.split("/").pop()}`);
    md5.push(` ${createHash("md5").update(data).digest("hex")} ${data.length} ${path.split("/").pop()}`);
  }
  const dsc = join(dir, `${source}_${plain}.dsc`);
  await writeFile(
    dsc,
    [
      "Format: 3.0 (quilt)",
      `Source: ${source}`,
      `Binary: ${source}`,
      `Architecture: ${architecture}`,
      `Version: ${version}`,
      "Maintainer: Test <test@example.org>",
      "Build-Depends: debhelper-compat (= 13)",
      "Checksums-Sha256:",
      ...lines,
      "Files:",
      ...md5,
      "",
    ].join("\n"),
  );
  return { dsc, files: [dsc, orig, debian] };
}

/** Upload a source package and submit a build; returns the build task id. */
export async function submitBuild(
  client: HubClient,
  target: string,
  pkg: { dsc: string; files: string[] },
  extra: Partial<BuildRequest> = {},
): Promise<number> {
  return (await client.submitSource(pkg, { ...extra, target })).task;
}

/** Poll a task until it reaches a terminal state (tests only; the CLI uses the event stream). */
export async function waitForTask(client: HubClient, id: number, timeoutMs = 30_000): Promise<TaskDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await client.getTask(id);
    if (["closed", "failed", "canceled"].includes(task.state)) return task;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
