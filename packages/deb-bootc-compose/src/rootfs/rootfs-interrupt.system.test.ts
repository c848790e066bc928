/**
 * System tier: a rootfs build interrupted while mmdebstrap installs packages (real mmdebstrap in the range's
 * user namespace, with the mirror) leaves nothing of mmdebstrap behind: not its temporary directory beside
 * the tree, not its gpg home in TMPDIR. Needs root, mmdebstrap, uidmap and the Debian mirror; about 15 s.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, silentLogger } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseDefinition } from "../definition.js";
import { buildRootfs } from "./rootfs.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/newuidmap"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)));

let work = "";
let tmpDir = "";
afterAll(async () => {
  vi.unstubAllEnvs();
  for (const dir of [work, tmpDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe.runIf(ready)("a rootfs build", () => {
  it("interrupted while mmdebstrap installs packages: nothing of mmdebstrap is left beside the tree or in TMPDIR", async () => {
    work = await mkdtemp(join(tmpdir(), "rootfs-interrupt-"));
    await chmod(work, 0o755); // the range's root makes the tree in it
    // a TMPDIR of its own (open to all, as /tmp), where mmdebstrap would keep its gpg home if it were let
    tmpDir = await mkdtemp(join(tmpdir(), "rootfs-interrupt-tmp-"));
    await chmod(tmpDir, 0o1777);
    vi.stubEnv("TMPDIR", tmpDir);
    const controller = new AbortController();
    let installing = false;
    const error = await buildRootfs({
      definition: parseDefinition('name: interrupted\nversion: "13.0"\npackages: [mount]\n', join(work, "def.yaml")),
      baseDir: work,
      variant: "minimal",
      arch: "amd64",
      plan: { sources: [await defaultMirror()], keyrings: [], variant: "essential", packages: ["mount"], from: "repositories" },
      path: join(work, "tree"),
      logger: silentLogger,
      signal: controller.signal,
      onOutput: (chunk) => {
        // mmdebstrap has its gpg home and its mounts by the time it installs
        if (!installing && /installing (essential|remaining) packages/.test(chunk.toString("utf8"))) {
          installing = true;
          setTimeout(() => controller.abort(), 2000);
        }
      },
    }).catch((e: unknown) => e);
    expect(installing).toBe(true);
    expect(isCodedError(error, "INTERRUPTED"), String(error)).toBe(true);
    expect(existsSync(join(work, "tree.tmp"))).toBe(false);
    expect(await readdir(tmpDir)).toEqual([]);
  });
});
