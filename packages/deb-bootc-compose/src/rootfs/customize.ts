import { readFile } from "node:fs/promises";
import type { Logger } from "@debian-bootc/core";
import { dearmor } from "@debian-bootc/debian";
import { type ComposeDefinition, hostInputPath } from "../definition.js";
import { composeError } from "../errors.js";
import { type PublicUpdateKey, updateSigningKey } from "../publish/signing-key.js";
import { runInRoot } from "./chroot.js";
import { type ContainersTrust, installContainersTrust } from "./containers-policy.js";
import type { ImageRoot } from "./image-root.js";

/**
 * The definition's customisations applied to an installed tree, in this order: groups, users (with SSH
 * keys), files, units (enable, disable, mask), the compose's own boot marker and bootloader defaults,
 * then postprocess scripts. Tools run inside the tree (its own useradd and systemctl) through
 * bubblewrap; every step is logged. Files are written through ImageRoot, so a path or a symlink in the
 * image never leads a write out of the tree.
 */

export const MARKER_UNIT = "deb-bootc-compose-marker.service";
export const MARKER_SCRIPT = "usr/lib/deb-bootc-compose/boot-marker";
/** Copies its standard input to its standard output and, on a machine that has it, to RESULTS_PORT. */
export const REPORT_SCRIPT = "usr/lib/deb-bootc-compose/report";
/**
 * The virtio-serial port the compose's boot tests give the guest (/dev/virtio-ports/<name>): what they read
 * comes over it, because virtio's flow control loses no bytes when the guest is starved and the emulated
 * serial console does.
 */
export const RESULTS_PORT = "deb-bootc-compose.results";
/** The line the marker prints: `deb-bootc-compose: booted compose=<ID> version=<V> commit=<CHECKSUM>`. */
export const MARKER_PREFIX = "deb-bootc-compose: booted";
/** The marker's line with the booted system's /etc/os-release PRETTY_NAME (what systemd's welcome line shows). */
export const MARKER_OS_PREFIX = "deb-bootc-compose: os-release PRETTY_NAME=";
/** The line after the marker's deployment listing: whoever reads the console knows the listing is whole. */
export const MARKER_STATUS_END = "deb-bootc-compose: status end";

const REPORT_SCRIPT_TEXT = `#!/bin/sh
# Installed by deb-bootc-compose: standard input to standard output and, when the machine has the boot
# tests' virtio port, to that port as well (it loses no bytes; a starved guest's serial console may).
port=/dev/virtio-ports/${RESULTS_PORT}
if [ -c "$port" ]; then exec tee -a "$port"; else exec cat; fi
`;

const MARKER_SCRIPT_TEXT = `#!/bin/sh
# Installed by deb-bootc-compose: print which compose this system booted (from the booted ostree
# commit's metadata) and the deployments, on the console and in the journal, and to the boot tests' port.
# A machine with a virtio console device may have that port: wait (a minute at most) until udev made it.
if grep -qsx 0x0003 /sys/bus/virtio/devices/*/device; then
  i=0
  while [ ! -c /dev/virtio-ports/${RESULTS_PORT} ] && [ "$i" -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
fi
{
status=$(ostree admin status 2>&1)
commit=$(printf '%s\\n' "$status" | sed -n 's/^\\* [^ ]* \\([0-9a-f]\\{64\\}\\)\\.[0-9]*.*/\\1/p')
meta() {
  [ -n "$commit" ] || { echo unknown; return; }
  ostree show --repo=/ostree/repo --print-metadata-key="$1" "$commit" 2>/dev/null | tr -d "'" || echo unknown
}
echo "${MARKER_PREFIX} compose=$(meta deb-bootc-compose.compose-id) version=$(meta version) commit=\${commit:-none}"
echo "${MARKER_OS_PREFIX}$(. /etc/os-release && echo "$PRETTY_NAME")"
printf '%s\\n' "$status" | sed 's/^/deb-bootc-compose: status: /'
echo "${MARKER_STATUS_END}"
} 2>&1 | /${REPORT_SCRIPT}
`;

const MARKER_UNIT_TEXT = `[Unit]
Description=Print the booted compose (deb-bootc-compose)
ConditionPathExists=/run/ostree-booted

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${MARKER_SCRIPT}
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

export const UPDATE_UNIT = "deb-bootc-compose-update.service";
export const UPDATE_TIMER = "deb-bootc-compose-update.timer";

/** The remote a definition's images update from: updates.remote, else the definition's name. */
export function updateRemoteName(definition: ComposeDefinition): string {
  return definition.updates?.remote ?? definition.name;
}

/** Where the image keeps the channel's public key (binary keyring), for the remote's gpgkeypath. */
export function channelKeyPath(remote: string): string {
  return `usr/share/deb-bootc-compose/keys/${remote}.gpg`;
}

/** /etc/ostree/remotes.d/<remote>.conf: the system repository's remote, verified with the channel's key only. */
export function remoteConfig(remote: string, url: string): string {
  return `# Written by deb-bootc-compose: where this system's updates come from (ostree admin upgrade).
[remote "${remote}"]
url=${url}
gpg-verify=true
gpg-verify-summary=true
gpgkeypath=/${channelKeyPath(remote)}
`;
}

/** The update service: stage pulls and deploys the update for the next boot; apply reboots into it as well. */
export function updateServiceUnit(mode: "stage" | "apply"): string {
  return `[Unit]
Description=Update the system from its ostree remote (deb-bootc-compose, ${mode})
ConditionPathExists=/run/ostree-booted
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/ostree admin upgrade${mode === "apply" ? " --reboot" : ""}
`;
}

/** Like bootc-fetch-apply-updates.timer: an hour after boot, then every eight hours, spread over two. */
export const UPDATE_TIMER_TEXT = `[Unit]
Description=Look for system updates (deb-bootc-compose)
ConditionPathExists=/run/ostree-booted

[Timer]
OnBootSec=1h
OnUnitInactiveSec=8h
RandomizedDelaySec=2h

[Install]
WantedBy=timers.target
`;

/** /etc/default/grub for ostree's grub2 backend: 15_ostree does nothing without it. */
export const GRUB_DEFAULTS = `# Written by deb-bootc-compose. ostree's grub2 backend runs grub-mkconfig after each deployment
# change; /etc/grub.d/15_ostree turns the ostree deployments into menu entries.
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_OS_PROBER=true
GRUB_DISABLE_RECOVERY=true
`;

export interface CustomizeOptions {
  root: ImageRoot;
  definition: ComposeDefinition;
  /** Relative paths in the definition (files' src, scripts) resolve against it. */
  baseDir: string;
  logger: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  env?: Record<string, string>;
  /** The registry scope and key the image's containers policy requires (push.registry). */
  containersTrust?: ContainersTrust;
  /** The update channel's key the image trusts (default: the definition's update key, read here). */
  updateKey?: PublicUpdateKey;
}

async function ids(root: ImageRoot, file: "passwd" | "group"): Promise<Map<string, { id: number; gid: number; home: string }>> {
  const map = new Map<string, { id: number; gid: number; home: string }>();
  const text = (await root.readText(`etc/${file}`)) ?? "";
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && /^\d+$/.test(f[2]!)) map.set(f[0]!, { id: Number(f[2]), gid: Number(f[3] ?? f[2]), home: f[5] ?? "" });
  }
  return map;
}

export async function customizeTree(options: CustomizeOptions): Promise<void> {
  const { root, definition, logger } = options;
  const inRoot = (command: string[], input?: string) =>
    runInRoot(root.root, command, { signal: options.signal, logger, onOutput: options.onOutput, input, env: options.env });

  for (const group of definition.groups) {
    if ((await ids(root, "group")).has(group.name)) continue;
    await inRoot([
      "groupadd",
      ...(group.gid !== undefined ? ["--gid", String(group.gid)] : []),
      ...(group.system ? ["--system"] : []),
      group.name,
    ]);
    logger.info({ group: group.name }, "group added");
  }
  for (const user of definition.users) {
    const args = ["useradd", "--create-home", "--shell", user.shell];
    if (user.uid !== undefined) args.push("--uid", String(user.uid));
    if (user.gid !== undefined) args.push("--gid", String(user.gid));
    // a group named like the user (defined under groups) becomes its primary group instead of a clash
    else if ((await ids(root, "group")).has(user.name)) args.push("--gid", user.name);
    if (user.groups.length > 0) args.push("--groups", user.groups.join(","));
    if (user.home) args.push("--home-dir", user.home);
    if (user.system) args.push("--system");
    if (user.password) args.push("--password", user.password);
    await inRoot([...args, user.name]);
    const entry = (await ids(root, "passwd")).get(user.name);
    if (user.sshKeys.length > 0 && entry) {
      const owner = { uid: entry.id, gid: entry.gid };
      const dir = `${entry.home}/.ssh`;
      await root.mkdirs(dir, { mode: 0o700, owner });
      await root.chown(dir, owner);
      await root.chmod(dir, 0o700);
      await root.writeFile(`${dir}/authorized_keys`, `${user.sshKeys.join("\n")}\n`, { mode: 0o600, owner });
    }
    logger.info({ user: user.name, groups: user.groups, sshKeys: user.sshKeys.length }, "user added");
  }

  const users = await ids(root, "passwd");
  const groups = await ids(root, "group");
  for (const [i, file] of definition.files.entries()) {
    const content =
      file.content !== undefined
        ? Buffer.from(file.content)
        : await readFile(await hostInputPath(definition, options.baseDir, `files[${i}].src`, file.src!));
    const uid = users.get(file.owner)?.id;
    const gid = groups.get(file.group)?.id;
    if (uid === undefined || gid === undefined) {
      throw composeError(
        "ROOTFS_CUSTOMIZE_FAILED",
        `files[${i}] (${file.dest}): ${uid === undefined ? `no user ${file.owner}` : `no group ${file.group}`} in the image`,
      );
    }
    await root.writeFile(file.dest, content, { mode: Number.parseInt(file.mode, 8), owner: { uid, gid } });
    logger.info({ dest: file.dest, bytes: content.length, mode: file.mode, owner: `${file.owner}:${file.group}` }, "file added");
  }

  if (options.containersTrust) {
    await installContainersTrust(root, options.containersTrust);
    logger.info(
      { registry: options.containersTrust.scope },
      "containers policy: images of the registry must be signed by the compose's key",
    );
  }

  await root.writeFile(REPORT_SCRIPT, REPORT_SCRIPT_TEXT, { mode: 0o755 });
  await root.writeFile(MARKER_SCRIPT, MARKER_SCRIPT_TEXT, { mode: 0o755 });
  await root.writeFile(`usr/lib/systemd/system/${MARKER_UNIT}`, MARKER_UNIT_TEXT, { mode: 0o644 });
  await root.symlink(`../${MARKER_UNIT}`, `usr/lib/systemd/system/multi-user.target.wants/${MARKER_UNIT}`, { replace: true });
  logger.info({ unit: MARKER_UNIT }, "boot marker unit installed");
  if (definition.updates)
    await installUpdateChannel(root, definition, options.updateKey ?? (await updateSigningKey(definition, options.baseDir)), logger);
  if (definition.bootloader.loaders.includes("grub") && (await root.kind("etc/default/grub")) === undefined) {
    await root.writeFile("etc/default/grub", GRUB_DEFAULTS, { mode: 0o644 });
    logger.info({ file: "/etc/default/grub" }, "GRUB defaults for ostree's grub2 backend written");
  }

  for (const [verb, units] of [
    ["enable", definition.units.enable],
    ["disable", definition.units.disable],
    ["mask", definition.units.mask],
  ] as const) {
    if (units.length === 0) continue;
    await inRoot(["systemctl", verb, "--", ...units]);
    logger.info({ units }, `units: ${verb}`);
  }

  for (const [index, step] of definition.postprocess.entries()) {
    const script =
      step.run ?? (await readFile(await hostInputPath(definition, options.baseDir, `postprocess[${index}].script`, step.script!), "utf8"));
    const started = Date.now();
    try {
      await inRoot(["/bin/sh", "-e", "-s"], script);
    } catch (error) {
      throw composeError("ROOTFS_CUSTOMIZE_FAILED", `postprocess ${step.name} failed: ${(error as Error).message}`, { cause: error });
    }
    logger.info({ postprocess: step.name, durationMs: Date.now() - started }, "postprocess script ran");
  }
}

/** The update channel in the image: the remote with its key, and the update timer unless automatic is off. */
async function installUpdateChannel(root: ImageRoot, definition: ComposeDefinition, key: PublicUpdateKey, logger: Logger): Promise<void> {
  const updates = definition.updates!;
  const remote = updateRemoteName(definition);
  await root.writeFile(channelKeyPath(remote), Buffer.from(await dearmor(key.publicKey)), { mode: 0o644 });
  await root.writeFile(`etc/ostree/remotes.d/${remote}.conf`, remoteConfig(remote, updates.url), { mode: 0o644 });
  logger.info({ remote, url: updates.url, fingerprint: key.fingerprint }, "update channel: remote and key installed");
  if (updates.automatic === "off") return;
  await root.writeFile(`usr/lib/systemd/system/${UPDATE_UNIT}`, updateServiceUnit(updates.automatic), { mode: 0o644 });
  await root.writeFile(`usr/lib/systemd/system/${UPDATE_TIMER}`, UPDATE_TIMER_TEXT, { mode: 0o644 });
  // enabled as `systemctl enable` does (a link in /etc): reported enabled, and an administrator may disable it
  await root.symlink(`/usr/lib/systemd/system/${UPDATE_TIMER}`, `etc/systemd/system/timers.target.wants/${UPDATE_TIMER}`, {
    replace: true,
  });
  logger.info({ timer: UPDATE_TIMER, automatic: updates.automatic }, "update timer installed");
}
