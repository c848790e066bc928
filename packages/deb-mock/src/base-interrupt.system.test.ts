import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { CacheLayout } from "./cache-layout.js";
import { init } from "./init.js";

// System tier: a base creation (real mmdebstrap, as root, with the mirror) interrupted once mmdebstrap
// has mounted /proc, /sys and /dev inside the new tree. A cache of its own, so the machine's bases are
// not touched. Twice, the second time after planting what a killed creation leaves; about 30 s.

let cacheRoot = "";
let tmpDir = "";
afterAll(async () => {
  vi.unstubAllEnvs();
  for (const dir of [cacheRoot, tmpDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

const mountsUnder = async (dir: string) => (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(dir));

/** `deb-mock init` on the test's cache, interrupted 2 s after mmdebstrap starts installing packages. */
async function interruptedInit(): Promise<void> {
  const controller = new AbortController();
  let installing = false;
  const error = await init({
    configOpts: [`cache.root=${cacheRoot}`],
    signal: controller.signal,
    onEvent: (event) => {
      // mmdebstrap mounts before it runs dpkg inside the tree
      if (event.type === "root-log" && !installing && /installing (essential|remaining) packages/.test(event.text)) {
        installing = true;
        setTimeout(() => controller.abort(), 2000);
      }
    },
  }).catch((e: unknown) => e);
  expect(installing).toBe(true);
  expect(isCodedError(error, "INTERRUPTED"), String(error)).toBe(true);
}

describe("base creation", () => {
  it("interrupted while mmdebstrap installs packages: no mount, no half base, no held lock, nothing left in TMPDIR; a killed creation's half base goes with the next", async () => {
    cacheRoot = await mkdtemp(join(tmpdir(), "deb-mock-base-interrupt-"));
    // a TMPDIR of its own (open to all, as /tmp), where mmdebstrap would keep its gpg home if deb-mock let it
    tmpDir = await mkdtemp(join(tmpdir(), "deb-mock-base-interrupt-tmp-"));
    await chmod(tmpDir, 0o1777);
    vi.stubEnv("TMPDIR", tmpDir);
    await interruptedInit();
    expect(await mountsUnder(cacheRoot)).toEqual([]);
    const bases = join(cacheRoot, "bases");
    const keys = await readdir(bases);
    expect(keys).toHaveLength(1);
    const baseDir = join(bases, keys[0]!);
    expect(await readdir(baseDir)).toEqual([]);
    expect(await readdir(tmpDir)).toEqual([]);
    // every lock it took is free at once
    const layout = new CacheLayout(cacheRoot);
    for (const name of await readdir(join(cacheRoot, "locks"))) {
      const lock = await acquireLock(join(layout.root, "locks", name), { timeoutMs: 2000 });
      await lock.release();
    }

    // what a creation killed outright (SIGKILL) leaves: its half-made generation, which the next creation removes
    await mkdir(join(baseDir, ".gen-20261204T000000Z-99999.tmp/rootfs/usr/bin"), { recursive: true });
    await writeFile(join(baseDir, ".gen-20261204T000000Z-99999.tmp/rootfs/usr/bin/half"), "");
    await interruptedInit();
    expect(await readdir(baseDir)).toEqual([]);
  });
});
