import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, withLock } from "@debian-bootc/core";
import { LOCK_HINT } from "./cache-layout.js";
import type { Environment } from "./environment.js";
import { debMockError } from "./errors.js";
import { parseDuration } from "./profile-schema.js";
import { makeRangeDirs } from "./range-fs.js";

const INSIDE = "/var/lib/deb-mock/src-lists";
const aptOptions = [
  "-o",
  `Dir::Etc::SourceList=${INSIDE}/sources.list`,
  "-o",
  "Dir::Etc::SourceParts=/nonexistent",
  "-o",
  `Dir::State::Lists=${INSIDE}/lists`,
  "-o",
  "Dir::Cache::srcpkgcache=",
  "-o",
  "Dir::Cache::pkgcache=",
];

/**
 * Fetch a source package with `apt-get source --download-only` inside the snapshot, from the profile's
 * deb-src (mirror, suite, components). The deb-src index is cached in src-lists/KEY and refreshed under
 * its lock only when older than cache.indexMaxAge. Returns the .dsc's file name in /build.
 */
export async function fetchSourcePackage(env: Environment, name: string, version: string | undefined): Promise<string> {
  const key = env.ctx.identity.key;
  const dir = env.layout.srcLists(key);
  const bind = [{ source: dir, target: INSIDE }];
  const stamp = join(dir, "updated");
  const maxAge = parseDuration(env.profile.cache.indexMaxAge);
  const isFresh = async () => {
    const info = await stat(stamp).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs < maxAge;
  };
  const sources = [
    `deb-src ${env.ctx.identity.mirror} ${env.profile.suite} ${env.profile.components.join(" ")}`,
    ...env.profile.extraSources.filter((l) => l.startsWith("deb-src")),
  ];
  const wanted = `${sources.join("\n")}\n`;
  const sameSources = async () => (await readFile(join(dir, "sources.list"), "utf8").catch(() => "")) === wanted;
  if (!(await isFresh()) || !(await sameSources())) {
    const lockOptions = {
      timeoutMs: parseDuration(env.profile.cache.lockTimeout),
      hint: LOCK_HINT,
      signal: env.ctx.signal,
      what: "the deb-src index",
    };
    await withLock(env.layout.lock(`src-lists-${key}`), lockOptions, async () => {
      if ((await isFresh()) && (await sameSources())) return;
      await mkdir(dir, { recursive: true });
      await makeRangeDirs(dir, ["lists/partial"]);
      await writeFile(join(dir, "sources.list"), wanted);
      try {
        await env.run(["apt-get", "update", "-q", ...aptOptions], {
          network: true,
          binds: bind,
          onStdout: (c) => env.log(c.toString("utf8").trimEnd()),
        });
      } catch (error) {
        if (isCodedError(error, "COMMAND_FAILED"))
          throw debMockError("SOURCE_FETCH_FAILED", `updating the deb-src index failed: ${error.message}`, { cause: error });
        throw error;
      }
      await writeFile(stamp, `${new Date().toISOString()}\n`);
    });
  }
  const spec = version ? `${name}=${version}` : name;
  try {
    await env.run(["apt-get", "source", "--download-only", "-q", ...aptOptions, spec], {
      network: true,
      binds: bind,
      cwd: "/build",
      onStdout: (c) => env.log(c.toString("utf8").trimEnd()),
    });
  } catch (error) {
    if (isCodedError(error, "COMMAND_FAILED")) {
      throw debMockError("SOURCE_FETCH_FAILED", `apt-get source ${spec} failed: ${error.message}`, {
        cause: error,
        hint: `is ${spec} in ${env.profile.suite}'s Sources? (the profile's mirror, suite and components)`,
      });
    }
    throw error;
  }
  await env.run(["chown", "-R", `${env.profile.buildUid}:${env.profile.buildUid}`, "/build"]);
  const dscs = (await readdir(env.snapshot.build)).filter((f) => f.endsWith(".dsc") && f.startsWith(`${name}_`));
  if (dscs.length !== 1) throw debMockError("SOURCE_FETCH_FAILED", `apt-get source ${spec} left ${dscs.length} .dsc files in /build`);
  return dscs[0]!;
}
