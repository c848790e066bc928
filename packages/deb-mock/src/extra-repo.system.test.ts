import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { createOpenPgpSigner, generateOpenPgpKey, writeAptRepository } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LoopbackFiles, serveLoopbackFiles } from "./__fixtures__/loopback-files.js";
import { build } from "./build.js";
import { listNonDirectories } from "./deps-layer.js";
import { init } from "./init.js";

// System tier: a signed APT repository written by packages/debian, served over HTTP on the loopback
// interface, provides the build dependency of a fixture package. Needs root, dpkg-deb and the mirror.

const fixtures = join(import.meta.dirname, "__fixtures__", "packages");
let work: string;
let server: LoopbackFiles;
let repoUrl: string;
let goodKey: string;
let otherKey: string;

/** A tiny arch:all .deb with a marker file; `nonce` makes its bytes (and so its SHA256) new on every run. */
async function makeDeb(dir: string, nonce: string): Promise<string> {
  const root = join(dir, "deb-root");
  await mkdir(join(root, "DEBIAN"), { recursive: true });
  await mkdir(join(root, "usr/share/deb-mock-signed-dep"), { recursive: true });
  await writeFile(
    join(root, "DEBIAN/control"),
    [
      "Package: deb-mock-signed-dep",
      "Version: 1.0",
      "Architecture: all",
      "Maintainer: deb-mock tests <deb-mock-tests@example.org>",
      "Description: build dependency served only by a signed test repository",
      "",
    ].join("\n"),
  );
  await writeFile(join(root, "usr/share/deb-mock-signed-dep/marker"), `${nonce}\n`);
  // what a hostile build dependency's maintainer script could carry from one build into the shared
  // layer, for every later build to see: the names of the build's files
  await writeFile(
    join(root, "DEBIAN/postinst"),
    "#!/bin/sh\nls -A /build >/usr/share/deb-mock-signed-dep/build-seen-at-install 2>/dev/null || true\n",
    { mode: 0o755 },
  );
  await chmod(join(root, "DEBIAN"), 0o755);
  const deb = join(dir, "deb-mock-signed-dep_1.0_all.deb");
  await run("dpkg-deb", ["--root-owner-group", "--build", root, deb], { debianPackage: "dpkg" });
  return deb;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-extra-repo-"));
  const deb = await makeDeb(work, randomBytes(8).toString("hex"));
  const key = await generateOpenPgpKey({ name: "deb-mock test hub", email: "hub@example.org" });
  const stranger = await generateOpenPgpKey({ name: "someone else", email: "else@example.org" });
  const repoRoot = join(work, "repo");
  await writeAptRepository({
    root: repoRoot,
    suite: "deb-mock-test",
    architectures: ["amd64"],
    components: ["main"],
    debs: [deb],
    signer: await createOpenPgpSigner({ privateKey: key.privateKey }),
  });
  goodKey = join(work, "hub-key.asc");
  otherKey = join(work, "other-key.asc");
  await writeFile(goodKey, key.publicKey);
  await writeFile(otherKey, stranger.publicKey);
  server = await serveLoopbackFiles(repoRoot);
  repoUrl = server.url;
  await init({});
});

afterAll(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

describe("--extra-repo with signed-by", () => {
  it("builds against a signed repository whose key is a host file, without trusted=yes; the second build reuses the dependency layer", async () => {
    const extraRepos = [`deb [signed-by=${goodKey}] ${repoUrl} deb-mock-test main`];
    const first = await build({ source: join(fixtures, "needs-signed-dep"), resultDir: join(work, "first"), extraRepos });
    expect(first.result.status, JSON.stringify(first.result.error)).toBe("success");
    const rootLog = await readFile(join(first.resultDir, "root.log"), "utf8");
    expect(rootLog).toContain(`extra repository key ${goodKey} copied to /etc/apt/deb-mock-keys/extra-1.asc`);
    expect(rootLog).toContain("extra repository: deb [signed-by=/etc/apt/deb-mock-keys/extra-1.asc]");
    expect(await readFile(join(first.resultDir, "build.log"), "utf8")).toContain("needs-signed-dep: found");
    expect(await readFile(join(first.resultDir, "installed-packages.log"), "utf8")).toMatch(/^deb-mock-signed-dep 1\.0 all$/m);
    expect(first.result.buildDepsLayer).toMatchObject({ reused: false });

    // the layer holds the installed package, not the snapshot's own extra source and key (those stayed on top)
    const layerLine = rootLog.split("\n").find((l) => l.includes("build-dependency layer") && l.includes("saved"));
    const layerDir = layerLine?.slice(layerLine.indexOf("saved: ") + 7).trim();
    expect(layerDir && existsSync(layerDir)).toBe(true);
    const inLayer = await listNonDirectories(layerDir!);
    expect(inLayer).toContain("usr/share/deb-mock-signed-dep/marker");
    expect(inLayer.filter((p) => p.includes("deb-mock-extra") || p.includes("deb-mock-keys"))).toEqual([]);
    // the layer was made without this build's /build: its maintainer script saw nothing of the build, so
    // what it left there depends on the .debs alone (the next build sees exactly that)
    expect(inLayer).toContain("usr/share/deb-mock-signed-dep/build-seen-at-install");
    expect(await readFile(join(layerDir!, "usr/share/deb-mock-signed-dep/build-seen-at-install"), "utf8")).toBe("");

    const second = await build({ source: join(fixtures, "needs-signed-dep"), resultDir: join(work, "second"), extraRepos });
    expect(second.result.status, JSON.stringify(second.result.error)).toBe("success");
    expect(second.result.buildDepsLayer).toEqual({ key: first.result.buildDepsLayer!.key, reused: true });
    expect(await readFile(join(second.resultDir, "root.log"), "utf8")).not.toContain("Unpacking deb-mock-signed-dep");
    expect(await readFile(join(second.resultDir, "build.log"), "utf8")).toContain("needs-signed-dep: found");
    const deb = (r: typeof first) => r.result.artifacts.find((a) => a.name.endsWith(".deb"))?.sha256;
    expect(deb(second)).toBe(deb(first));
  });

  it("takes the key from --extra-repo-key for a line without signed-by", async () => {
    const { result, resultDir } = await build({
      source: join(fixtures, "needs-signed-dep"),
      resultDir: join(work, "repo-key"),
      extraRepos: [`deb ${repoUrl} deb-mock-test main`],
      extraRepoKeys: [goodKey],
    });
    expect(result.status, JSON.stringify(result.error)).toBe("success");
    expect(await readFile(join(resultDir, "root.log"), "utf8")).toContain(
      "extra repository: deb [signed-by=/etc/apt/deb-mock-keys/extra-1.asc]",
    );
  });

  it("refuses the repository when signed-by names another key", async () => {
    const { result, resultDir } = await build({
      source: join(fixtures, "needs-signed-dep"),
      resultDir: join(work, "wrong-key"),
      extraRepos: [`deb [signed-by=${otherKey}] ${repoUrl} deb-mock-test main`],
    });
    expect(result.status).toBe("environment-failed");
    expect(result.exitCode).toBe(4);
    expect(result.error?.code).toBe("INDEX_UPDATE_FAILED");
    expect(result.error?.message).toMatch(/not signed|NO_PUBKEY|Missing key/);
    expect(result.phases.find((p) => p.status === "failed")?.name).toBe("extra-repos");
    expect(await readFile(join(resultDir, "build.log"), "utf8")).not.toContain("needs-signed-dep: found");
  });
});
