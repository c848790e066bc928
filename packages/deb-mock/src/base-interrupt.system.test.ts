import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { CacheLayout } from "./cache-layout.js";
import { init } from "./init.js";

// System tier: a base creation (real mmdebstrap, as root, with the mirror) interrupted once mmdebstrap
// has mounted /proc, /sys and /dev inside the new tree. A cache of its own, so the machine's bases are
// not touched; about 20 s.

let cacheRoot = "";
let tmpDir = "";
const tmpBefore = process.env.TMPDIR;
afterAll(async () => {
  process.env.TMPDIR = tmpBefore;
  if (tmpBefore === undefined) delete process.env.TMPDIR;
  for (const dir of [cacheRoot, tmpDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

const mountsUnder = async (dir: string) => (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(dir));

describe("base creation", () => {
  it("interrupted while mmdebstrap installs packages: no mount, no half base, no held lock, nothing left in TMPDIR", async () => {
    cacheRoot = await mkdtemp(join(tmpdir(), "deb-mock-base-interrupt-"));
    // a TMPDIR of its own (open to all, as /tmp), where mmdebstrap would keep its gpg home if deb-mock let it
    tmpDir = await mkdtemp(join(tmpdir(), "deb-mock-base-interrupt-tmp-"));
    await chmod(tmpDir, 0o1777);
    process.env.TMPDIR = tmpDir;
    const configOpts = [`cache.root=${cacheRoot}`];
    const controller = new AbortController();
    let installing = false;
    const error = await init({
      configOpts,
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
    expect(await mountsUnder(cacheRoot)).toEqual([]);
    const bases = join(cacheRoot, "bases");
    for (const key of await readdir(bases)) expect(await readdir(join(bases, key))).toEqual([]);
    expect(await readdir(tmpDir)).toEqual([]);
    // every lock it took is free at once
    const layout = new CacheLayout(cacheRoot);
    for (const name of await readdir(join(cacheRoot, "locks"))) {
      const lock = await acquireLock(join(layout.root, "locks", name), { timeoutMs: 2000 });
      await lock.release();
    }
  });
});
