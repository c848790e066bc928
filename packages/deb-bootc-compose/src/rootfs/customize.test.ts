import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "@debian-bootc/core";
import { dearmor, generateOpenPgpKey } from "@debian-bootc/debian";
import { beforeEach, describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { type ComposeDefinition, parseDefinition } from "../definition.js";
import { IMAGE_POLICY, IMAGE_REGISTRIES_D, IMAGE_SIGSTORE_KEY } from "./containers-policy.js";
import { customizeTree, MARKER_SCRIPT, MARKER_UNIT, REPORT_SCRIPT, RESULTS_PORT, UPDATE_TIMER, UPDATE_UNIT } from "./customize.js";

import { ImageRoot } from "./image-root.js";

/**
 * The customisation steps that need no chroot (files, the boot marker, GRUB defaults), against trees
 * and definition folders shaped the way an attacker would shape them.
 */

const dir = useTempDir("customize-");
let root: string;
let baseDir: string;
let host: string;
beforeEach(async () => {
  root = join(dir(), "tree");
  baseDir = join(dir(), "definition");
  host = join(dir(), "host");
  for (const d of [join(root, "etc"), join(root, "usr/lib/systemd/system"), baseDir, host]) await mkdir(d, { recursive: true });
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\n");
  await writeFile(join(host, "secret"), "host secret\n");
});

function definition(extra = ""): ComposeDefinition {
  return parseDefinition(`name: x\nversion: "1"\nbootloader: none\n${extra}`, "def.yaml");
}

function customize(def: ComposeDefinition): Promise<void> {
  return customizeTree({ root: new ImageRoot(root), definition: def, baseDir, logger: silentLogger });
}

describe("customizeTree installs the containers trust", () => {
  it("with push.registry's trust: key, registries.d and a policy requiring the key; none without", async () => {
    await customize(definition());
    expect(await readdir(join(root, "etc"))).not.toContain("containers");
    const trust = { scope: "registry.example/debian", publicKey: "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n" };
    await customizeTree({ root: new ImageRoot(root), definition: definition(), baseDir, logger: silentLogger, containersTrust: trust });
    expect(await readFile(join(root, IMAGE_SIGSTORE_KEY), "utf8")).toBe(trust.publicKey);
    expect(await readFile(join(root, IMAGE_REGISTRIES_D), "utf8")).toContain(
      '"registry.example/debian":\n    use-sigstore-attachments: true',
    );
    const policy = JSON.parse(await readFile(join(root, IMAGE_POLICY), "utf8"));
    expect(policy.transports.docker["registry.example/debian"]).toEqual([
      { type: "sigstoreSigned", keyPath: IMAGE_SIGSTORE_KEY, signedIdentity: { type: "matchRepoDigestOrExact" } },
    ]);
  });
});

describe("customizeTree keeps every write inside the image", () => {
  it("writes files[].dest /../outside/x inside the tree (a definition that skipped validation)", async () => {
    const def = definition('files:\n  - dest: /etc/motd\n    content: "hi\\n"\n');
    def.files[0]!.dest = "/../outside/x";
    await customize(def);
    expect(await readFile(join(root, "outside/x"), "utf8")).toBe("hi\n");
    expect((await readdir(dir())).sort()).toEqual(["definition", "host", "tree"]);
  });

  it("installs the boot marker inside the tree when a package made usr/lib/deb-bootc-compose a link to a host directory", async () => {
    await mkdir(join(root, "usr/lib"), { recursive: true });
    await symlink(host, join(root, "usr/lib/deb-bootc-compose"));
    await symlink(host, join(root, "usr/lib/systemd/system/multi-user.target.wants"));
    await customize(definition());
    expect(await readdir(host)).toEqual(["secret"]);
    const marker = await readFile(join(root, host, "boot-marker"), "utf8");
    expect(marker).toContain("deb-bootc-compose: booted");
    // its lines also go to the boot tests' virtio port, through the report script beside it
    expect(marker).toContain(`| /${REPORT_SCRIPT}`);
    expect(await readFile(join(root, host, "report"), "utf8")).toContain(`/dev/virtio-ports/${RESULTS_PORT}`);
    expect(await readFile(join(root, "usr/lib/systemd/system", MARKER_UNIT), "utf8")).toContain(`ExecStart=/${MARKER_SCRIPT}`);
    expect(await readlink(join(root, host, MARKER_UNIT))).toBe(`../${MARKER_UNIT}`);
  });

  it("replaces a file's symlink instead of writing, chowning or chmodding through it", async () => {
    await symlink(join(host, "secret"), join(root, "etc/motd"));
    await customize(definition('files:\n  - dest: /etc/motd\n    content: "welcome\\n"\n    mode: "0666"\n'));
    expect(await readFile(join(host, "secret"), "utf8")).toBe("host secret\n");
    expect(((await lstat(join(host, "secret"))).mode & 0o777).toString(8)).not.toBe("666");
    expect((await lstat(join(root, "etc/motd"))).isFile()).toBe(true);
    expect(await readFile(join(root, "etc/motd"), "utf8")).toBe("welcome\n");
  });

  it("writes GRUB's defaults inside the tree when /etc/default is a link to a host directory", async () => {
    await symlink(host, join(root, "etc/default"));
    await customize(parseDefinition('name: x\nversion: "1"\nbootloader: grub\n', "def.yaml"));
    expect(await readdir(host)).toEqual(["secret"]);
    expect(await readFile(join(root, host, "grub"), "utf8")).toContain("GRUB_DISTRIBUTOR=Debian");
  });
});

describe("customizeTree reads host inputs from the definition's folder only", () => {
  it("refuses a files[].src that is a symlink out of the definition's folder, naming the field", async () => {
    await symlink(join(host, "secret"), join(baseDir, "motd"));
    const error = await customize(definition("files:\n  - dest: /etc/motd\n    src: motd\n")).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "DEFINITION_INVALID",
      message: expect.stringMatching(/^files\[0\]\.src: motd is a symlink to .*host\/secret, outside the definition's folder/),
    });
    await expect(lstat(join(root, "etc/motd"))).rejects.toThrow();
  });

  it("refuses an absolute files[].src and postprocess[].script that skipped validation", async () => {
    const def = definition("files:\n  - dest: /etc/motd\n    src: motd\n");
    def.files[0]!.src = join(host, "secret");
    await expect(customize(def)).rejects.toMatchObject({
      code: "DEFINITION_INVALID",
      message: expect.stringContaining("files[0].src: expected a path relative to the definition's folder"),
    });
    const script = definition("postprocess:\n  - name: tune\n    script: tune.sh\n");
    script.postprocess[0]!.script = "../host/secret";
    await expect(customize(script)).rejects.toMatchObject({
      code: "DEFINITION_INVALID",
      message: expect.stringContaining("postprocess[0].script: expected a path inside the definition's folder"),
    });
  });

  it("reads files inside the folder, and anywhere with allowAbsolutePaths", async () => {
    await mkdir(join(baseDir, "files"));
    await writeFile(join(baseDir, "files/motd"), "from the folder\n");
    await customize(definition("files:\n  - dest: /etc/motd\n    src: files/motd\n"));
    expect(await readFile(join(root, "etc/motd"), "utf8")).toBe("from the folder\n");
    await customize(definition(`allowAbsolutePaths: true\nfiles:\n  - dest: /etc/issue\n    src: ${join(host, "secret")}\n`));
    expect(await readFile(join(root, "etc/issue"), "utf8")).toBe("host secret\n");
  });
});

describe("customizeTree: the update channel the image carries", () => {
  it("writes the remote with gpg-verify, the channel's public key and, with automatic: stage, the enabled timer", async () => {
    const key = await generateOpenPgpKey({ name: "channel", email: "c@deb-bootc-compose.invalid" });
    await writeFile(join(baseDir, "channel.asc"), key.privateKey);
    await customize(
      definition("updates:\n  url: https://updates.example.org/repo\n  key: channel.asc\n  automatic: stage\noutputs: [ostree]\n"),
    );
    const conf = await readFile(join(root, "etc/ostree/remotes.d/x.conf"), "utf8");
    expect(conf).toContain('[remote "x"]\nurl=https://updates.example.org/repo\ngpg-verify=true\ngpg-verify-summary=true\n');
    expect(conf).toContain("gpgkeypath=/usr/share/deb-bootc-compose/keys/x.gpg");
    expect(Buffer.from(await readFile(join(root, "usr/share/deb-bootc-compose/keys/x.gpg")))).toEqual(
      Buffer.from(await dearmor(key.publicKey)),
    );
    expect(await readlink(join(root, `etc/systemd/system/timers.target.wants/${UPDATE_TIMER}`))).toBe(
      `/usr/lib/systemd/system/${UPDATE_TIMER}`,
    );
    const service = await readFile(join(root, `usr/lib/systemd/system/${UPDATE_UNIT}`), "utf8");
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/ostree admin upgrade$/m);
  });

  it("apply reboots into the update; off installs the remote but no timer", async () => {
    const key = await generateOpenPgpKey({ name: "channel", email: "c@deb-bootc-compose.invalid" });
    await writeFile(join(baseDir, "channel.asc"), key.privateKey);
    await customize(definition("updates:\n  url: https://u.example.org/\n  key: channel.asc\n  automatic: apply\noutputs: [ostree]\n"));
    expect(await readFile(join(root, `usr/lib/systemd/system/${UPDATE_UNIT}`), "utf8")).toMatch(
      /^ExecStart=\/usr\/bin\/ostree admin upgrade --reboot$/m,
    );
    await rm(root, { recursive: true });
    for (const d of [join(root, "etc"), join(root, "usr/lib/systemd/system")]) await mkdir(d, { recursive: true });
    await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    await writeFile(join(root, "etc/group"), "root:x:0:\n");
    await customize(definition("updates:\n  url: https://u.example.org/\n  key: channel.asc\noutputs: [ostree]\n"));
    expect(await readFile(join(root, "etc/ostree/remotes.d/x.conf"), "utf8")).toContain("gpg-verify=true");
    await expect(lstat(join(root, `usr/lib/systemd/system/${UPDATE_UNIT}`))).rejects.toThrow();
  });

  it("refuses a key that is not a secret key, and a key path leading out of the definition's folder", async () => {
    const key = await generateOpenPgpKey({ name: "channel", email: "c@deb-bootc-compose.invalid" });
    await writeFile(join(baseDir, "public.asc"), key.publicKey);
    await expect(
      customize(definition("updates:\n  url: https://u.example.org/\n  key: public.asc\noutputs: [ostree]\n")),
    ).rejects.toMatchObject({
      code: "UPDATE_KEY_INVALID",
    });
    await writeFile(join(host, "secret.asc"), key.privateKey);
    await symlink(join(host, "secret.asc"), join(baseDir, "link.asc"));
    await expect(
      customize(definition("updates:\n  url: https://u.example.org/\n  key: link.asc\noutputs: [ostree]\n")),
    ).rejects.toMatchObject({
      code: "DEFINITION_INVALID",
    });
  });
});
