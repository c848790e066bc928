import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runrootProfile, runrootScript } from "../ostree/runroot.js";
import { containersPolicy, registriesDConfig } from "../rootfs/containers-policy.js";
import { writeOciImage } from "./image-writer.js";
import { pushImages } from "./push.js";
import { SIGNING_SUITE } from "./sign.js";
import { generateSigstoreKey } from "./sigstore-key.js";

// System tier: skopeo copies a compose's OCI layouts (the same call --push makes), and signed pushes into
// Debian's docker-registry on loopback verify with trixie's skopeo (under the policy the image carries)
// and cosign.

let work: string;
let composeDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "oci-push-"));
  composeDir = join(work, "compose-1");
  const rootfs = join(work, "rootfs");
  await mkdir(join(rootfs, "usr/lib"), { recursive: true });
  await writeFile(join(rootfs, "usr/lib/os-release"), "ID=debian\n");
  for (const variant of ["minimal", "standard"]) {
    await writeOciImage({
      rootfs,
      layout: join(composeDir, "compose", variant, "amd64", "oci"),
      tag: "13.0",
      sourceDateEpoch: 1,
      title: variant,
    });
  }
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("pushImages", () => {
  it("copies every variant's image to its own destination", async () => {
    const pushed = await pushImages(composeDir, `oci-archive:${work}/out/{variant}-{arch}.tar`);
    expect(pushed.map((p) => [p.variant, p.arch, p.destination])).toEqual([
      ["minimal", "amd64", `oci-archive:${work}/out/minimal-amd64.tar`],
      ["standard", "amd64", `oci-archive:${work}/out/standard-amd64.tar`],
    ]);
    const { stdout } = await run("skopeo", ["inspect", `oci-archive:${work}/out/standard-amd64.tar`]);
    expect(JSON.parse(stdout).Labels).toMatchObject({ "containers.bootc": "1", "ostree.bootable": "1" });
  });

  it("refuses one destination for several images", async () => {
    const error = await pushImages(composeDir, `dir:${work}/same`).catch((e: unknown) => e);
    expect(isCodedError(error, "PUSH_DESTINATION_INVALID")).toBe(true);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Debian's docker-registry on 127.0.0.1 with its storage in `dir`; resolves once it answers /v2/. */
async function startRegistry(dir: string): Promise<{ address: string; process: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "storage")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  // its log (every 404 of a blob probe is an error line) goes to a file beside the storage
  const log = await open(join(dir, "registry.log"), "w");
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", log.fd, log.fd] });
  child.once("exit", () => void log.close());
  const address = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://${address}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { address, process: child };
    if (child.exitCode !== null || i > 100) throw new Error(`docker-registry did not start on ${address}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * In trixie's runroot: pull $1 (signed) and $2 (unsigned) with skopeo under the policy the image carries
 * (/t/policy.json, registries.d in /t) and under one requiring another key, then cosign verify each with
 * both keys. Prints name=ok|fail per check, so an expected refusal does not stop the run; values reach the
 * script only as arguments.
 */
const VERIFY = `
check() { name=$1; shift; if "$@" >/tmp/check.out 2>&1; then echo "$name=ok"; else echo "$name=fail"; sed 's/^/  /' /tmp/check.out >&2; fi; }
pull() { skopeo copy --quiet --src-tls-verify=false --registries.d=/t/registries.d --policy="$1" "docker://$2" "dir:$(mktemp -d)"; }
cosignv() { cosign verify --key="$1" --insecure-ignore-tlog=true --allow-http-registry -- "$2"; }
check skopeo-signed-key pull /t/policy.json "$1"
check skopeo-signed-other pull /t/policy-other.json "$1"
check skopeo-unsigned-key pull /t/policy.json "$2"
check cosign-signed-key cosignv /t/key.pub "$1"
check cosign-signed-other cosignv /t/other.pub "$1"
check cosign-unsigned-key cosignv /t/key.pub "$2"
`;

describe("signed pushes to a registry", () => {
  let registry: { address: string; process: ChildProcess } | undefined;
  let dir: string;
  beforeAll(async () => {
    dir = join(work, "signing");
    await mkdir(join(dir, "t", "registries.d"), { recursive: true });
    registry = await startRegistry(dir);
  });
  afterAll(async () => {
    registry?.process.kill();
  });

  it("stores a sigstore signature that the image's policy and cosign accept with the key only", async () => {
    const t = join(dir, "t");
    const key = generateSigstoreKey(Buffer.from("test passphrase"));
    const other = generateSigstoreKey(Buffer.from("other"));
    await writeFile(join(dir, "key.private"), key.privateKey);
    await writeFile(join(dir, "passphrase"), "test passphrase");
    await writeFile(join(t, "key.pub"), key.publicKey);
    await writeFile(join(t, "other.pub"), other.publicKey);
    const address = registry!.address;
    // the policy and registries.d entry exactly as the image gets them, scoped to the registry
    await writeFile(join(t, "registries.d", "image.yaml"), registriesDConfig(address));
    await writeFile(join(t, "policy.json"), containersPolicy(undefined, address, "/t/key.pub"));
    await writeFile(join(t, "policy-other.json"), containersPolicy(undefined, address, "/t/other.pub"));

    const signed = await pushImages(composeDir, `docker://${address}/debian-bootc-{variant}:signed`, {
      signing: { privateKey: join(dir, "key.private"), passphraseFile: join(dir, "passphrase"), publicKey: key.publicKey },
      insecureRegistry: true,
    });
    expect(signed.map((p) => p.signed)).toEqual([true, true]);
    // another image (a signature is bound to the digest: the same image under another tag would be signed too)
    const otherCompose = join(dir, "compose-2");
    await writeOciImage({
      rootfs: join(work, "rootfs"),
      layout: join(otherCompose, "compose", "minimal", "amd64", "oci"),
      tag: "13.1",
      sourceDateEpoch: 2,
      title: "unsigned",
    });
    const unsigned = await pushImages(otherCompose, `docker://${address}/debian-bootc-{variant}:unsigned`, { insecureRegistry: true });
    expect(unsigned.map((p) => p.signed)).toEqual([false]);
    // the signature is an attachment beside the image: cosign's sha256-<digest>.sig tag
    const tags = (await (await fetch(`http://${address}/v2/debian-bootc-minimal/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags.filter((tag) => /^sha256-[0-9a-f]{64}\.sig$/.test(tag))).toHaveLength(1);

    const arch = (await run("dpkg", ["--print-architecture"])).stdout.trim();
    const out = await runrootScript(VERIFY, [`${address}/debian-bootc-minimal:signed`, `${address}/debian-bootc-minimal:unsigned`], {
      profile: runrootProfile(SIGNING_SUITE, arch),
      packages: ["skopeo", "cosign"],
      network: true,
      binds: [{ source: t, target: "/t", readOnly: true }],
    });
    expect(
      Object.fromEntries(
        out
          .trim()
          .split("\n")
          .map((l) => l.split("=") as [string, string]),
      ),
    ).toEqual({
      "skopeo-signed-key": "ok",
      "skopeo-signed-other": "fail",
      "skopeo-unsigned-key": "fail",
      "cosign-signed-key": "ok",
      "cosign-signed-other": "fail",
      "cosign-unsigned-key": "fail",
    });
  });
});
