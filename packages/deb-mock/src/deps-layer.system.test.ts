import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { createOpenPgpSigner, generateOpenPgpKey, writeAptRepository } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LoopbackFiles, serveLoopbackFiles } from "./__fixtures__/loopback-files.js";
import { build } from "./build.js";
import { Environment } from "./environment.js";
import { idRange } from "./id-range.js";
import { init } from "./init.js";

// System tier: a hostile build dependency, served by a signed repository on the loopback interface,
// tries to change what later builds see and to reach the network. Needs root, dpkg-deb and the mirror.

const HOSTILE = "deb-mock-hostile-dep";
const SHARE = `/usr/share/${HOSTILE}`;
let work: string;
let server: LoopbackFiles;
let port: number;
let repoLine: string;

/** A bash snippet that sends `GET /PATH` to the test's loopback server; its exit status says whether it connected. */
const reachServer = (path: string) =>
  `{ exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET /${path} HTTP/1.0\\r\\n\\r\\n' >&3; } 2>/dev/null`;

async function makeDeb(dir: string, name: string, files: Record<string, { text: string; mode: number }>): Promise<string> {
  const root = join(dir, `${name}-root`);
  await mkdir(join(root, "DEBIAN"), { recursive: true });
  const control = [`Package: ${name}`, "Version: 1.0", "Architecture: all", "Maintainer: deb-mock tests <deb-mock-tests@example.org>"];
  await writeFile(join(root, "DEBIAN/control"), [...control, `Description: deb-mock test package ${name}`, ""].join("\n"));
  for (const [path, { text, mode }] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
    await chmod(join(root, path), mode);
  }
  await chmod(join(root, "DEBIAN"), 0o755);
  const deb = join(dir, `${name}_1.0_all.deb`);
  await run("dpkg-deb", ["--root-owner-group", "--build", root, deb], { debianPackage: "dpkg" });
  return deb;
}

/** A source package that builds against the hostile dependency, prints what it sees of it, and writes to it. */
async function makeSource(dir: string): Promise<string> {
  const src = join(dir, "uses-hostile-dep");
  await mkdir(join(src, "debian/source"), { recursive: true });
  await writeFile(join(src, "debian/source/format"), "3.0 (native)\n");
  await writeFile(
    join(src, "debian/changelog"),
    "uses-hostile-dep (1.0) unstable; urgency=medium\n\n  * deb-mock test.\n\n -- deb-mock tests <deb-mock-tests@example.org>  Wed, 01 Jan 2025 12:00:00 +0000\n",
  );
  await writeFile(
    join(src, "debian/control"),
    [
      "Source: uses-hostile-dep",
      "Maintainer: deb-mock tests <deb-mock-tests@example.org>",
      `Build-Depends: dpkg-dev, ${HOSTILE}`,
      "Rules-Requires-Root: no",
      "",
      "Package: uses-hostile-dep",
      "Architecture: all",
      "Description: deb-mock test package uses-hostile-dep",
      "",
    ].join("\n"),
  );
  await writeFile(
    join(src, "debian/rules"),
    [
      "#!/usr/bin/make -f",
      "build build-arch build-indep:",
      `\techo "hostile data: $$(cat ${SHARE}/data)"`,
      `\techo "hostile network: $$(cat ${SHARE}/network)"`,
      // the build user writes into the dependency's (world-writable) file; later builds must not see it
      `\techo poisoned-by-build >${SHARE}/data`,
      "clean:",
      "\trm -rf debian/tmp debian/files",
      "binary binary-arch binary-indep: build",
      "\tinstall -d debian/tmp/DEBIAN",
      "\tdpkg-gencontrol -Pdebian/tmp",
      "\tdpkg-deb --root-owner-group --build debian/tmp ..",
      ".PHONY: build build-arch build-indep clean binary binary-arch binary-indep",
      "",
    ].join("\n"),
  );
  await chmod(join(src, "debian/rules"), 0o755);
  return src;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-deps-layer-"));
  await chmod(work, 0o755);
  const repoRoot = join(work, "repo");
  server = await serveLoopbackFiles(repoRoot);
  port = server.port;
  const nonce = randomBytes(8).toString("hex");
  const hostile = await makeDeb(work, HOSTILE, {
    // world-writable, so that the build user can try to change it
    [`${SHARE.slice(1)}/data`]: { text: "pristine\n", mode: 0o666 },
    [`${SHARE.slice(1)}/nonce`]: { text: `${nonce}\n`, mode: 0o644 },
    // apt's http method, after reporting to the test's server whenever apt runs it
    [`${SHARE.slice(1)}/http-method`]: {
      text: `#!/bin/bash\n${reachServer("from-apt-method")}\nexec /usr/lib/apt/methods/http "$@"\n`,
      mode: 0o755,
    },
    "DEBIAN/postinst": {
      text: [
        "#!/bin/bash",
        // the network, as the installation's root
        `if ${reachServer("from-postinst")}; then echo reached; else echo unreachable; fi >${SHARE}/network`,
        // outlive the installation and change the layer once it is saved
        `setsid sh -c 'sleep 4; echo poisoned-later >${SHARE}/data' </dev/null >/dev/null 2>&1 &`,
        // take over apt's http method for later transactions in this snapshot
        `echo 'Dir::Bin::Methods::http "${SHARE}/http-method";' >/etc/apt/apt.conf.d/99${HOSTILE}`,
        "exit 0",
        "",
      ].join("\n"),
      mode: 0o755,
    },
  });
  const later = await makeDeb(work, "deb-mock-later-dep", { "usr/share/deb-mock-later-dep/nonce": { text: `${nonce}\n`, mode: 0o644 } });
  const key = await generateOpenPgpKey({ name: "deb-mock test repository", email: "repo@example.org" });
  await writeAptRepository({
    root: repoRoot,
    suite: "deb-mock-test",
    architectures: ["amd64"],
    components: ["main"],
    debs: [hostile, later],
    signer: await createOpenPgpSigner({ privateKey: key.privateKey }),
  });
  const keyFile = join(work, "repo-key.asc");
  await writeFile(keyFile, key.publicKey);
  repoLine = `deb [signed-by=${keyFile}] http://127.0.0.1:${port}/ deb-mock-test main`;
  await init({});
});

afterAll(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const buildLog = async (dir: string) => readFile(join(dir, "build.log"), "utf8");

describe("build-dependency layers against a hostile build dependency", () => {
  it("a later build sees the layer as the .debs made it: not the postinst's late writes, not the build's, not a change on disk", async () => {
    const source = await makeSource(work);
    const extraRepos = [repoLine];
    const first = await build({ source, resultDir: join(work, "first"), extraRepos });
    expect(first.result.status, JSON.stringify(first.result.error)).toBe("success");
    expect(first.result.buildDepsLayer).toMatchObject({ reused: false });
    expect(await buildLog(first.resultDir)).toContain("hostile data: pristine");
    // the maintainer script ran without network: the test's loopback server is out of its reach
    expect(await buildLog(first.resultDir)).toContain("hostile network: unreachable");
    expect(server.requests).not.toContain("/from-postinst");
    const rootLog = await readFile(join(first.resultDir, "root.log"), "utf8");
    const saved = rootLog.split("\n").find((l) => l.includes("build-dependency layer") && l.includes("saved: "));
    const layer = saved!.slice(saved!.indexOf("saved: ") + 7).trim();
    // longer than the postinst's background writer waits: were it alive, it would have written by now
    await new Promise((done) => setTimeout(done, 6000));
    expect(await readFile(join(layer, SHARE, "data"), "utf8")).toBe("pristine\n");

    const second = await build({ source, resultDir: join(work, "second"), extraRepos });
    expect(second.result.status, JSON.stringify(second.result.error)).toBe("success");
    expect(second.result.buildDepsLayer).toEqual({ key: first.result.buildDepsLayer!.key, reused: true });
    expect(await buildLog(second.resultDir)).toContain("hostile data: pristine");

    // a process of the id range writes into the layer on disk (as one that left its sandbox could)
    const range = await idRange();
    await run("setpriv", [
      `--reuid=${range.uid.start}`,
      `--regid=${range.gid.start}`,
      "--clear-groups",
      "--",
      "sh",
      "-c",
      'echo tampered >"$1"',
      "tamper",
      join(layer, SHARE, "data"),
    ]);
    const third = await build({ source, resultDir: join(work, "third"), extraRepos });
    expect(third.result.status, JSON.stringify(third.result.error)).toBe("success");
    // the changed layer is refused, and a new one made from the .debs
    expect(third.result.buildDepsLayer).toEqual({ key: first.result.buildDepsLayer!.key, reused: false });
    expect(await readFile(join(third.resultDir, "root.log"), "utf8")).toMatch(/build-dependency layer \w+ refused: \S+\/data changed/);
    expect(await buildLog(third.resultDir)).toContain("hostile data: pristine");
    // the new layer's record: its digest, and each file's owner, mode, size and hash
    const rebuilt = join(layer, "..");
    const meta = JSON.parse(await readFile(join(rebuilt, "meta.json"), "utf8")) as { digest: string };
    expect(meta.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await readFile(join(rebuilt, "manifest"), "utf8")).toMatch(
      new RegExp(`^"${SHARE.slice(1)}/data" f 666 \\d+ \\d+ 9 [0-9a-f]{64}\\t`, "m"),
    );
  });

  it("a package's apt method or configuration never runs with the network: downloads use the base's apt in a fresh snapshot", async () => {
    const env = await Environment.open({ purpose: "test" });
    try {
      await env.addExtraRepos([repoLine]);
      await env.apt(["install", HOSTILE]);
      const config = await env.run(["apt-config", "dump", "Dir::Bin::Methods::http"], { captureStdout: true });
      expect(config.stdout).toContain(`${SHARE}/http-method`);
      // a second transaction in the same snapshot downloads from the same repository
      await env.apt(["install", "deb-mock-later-dep"]);
      expect(server.requests).not.toContain("/from-apt-method");
      await env.run(["test", "-f", "/usr/share/deb-mock-later-dep/nonce"]);
      expect(env.rootLogLines.join("\n")).toMatch(/downloading 1 \.debs in snapshot \S+ \(the base's apt only\)/);
    } finally {
      await env.dispose();
    }
    // the .deb came from the configured source; the package's method only ran without network
    expect(server.requests.filter((r) => r.endsWith("/deb-mock-later-dep_1.0_all.deb"))).toHaveLength(1);
    expect(server.requests).not.toContain("/from-apt-method");
    expect(server.requests).not.toContain("/from-postinst");
  });
});
