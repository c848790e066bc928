import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, type Logger, run } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import {
  MARKER_OS_PREFIX,
  MARKER_PREFIX,
  MARKER_STATUS_END,
  MARKER_UNIT,
  REPORT_SCRIPT,
  RESULTS_PORT,
  UPDATE_TIMER,
  UPDATE_UNIT,
} from "../rootfs/customize.js";
import { DPKG_SYSIMAGE_DIR } from "../rootfs/ostree-layout.js";
import { openTextLog } from "../rootfs/text-log.js";
import {
  type Accelerator,
  type BootFirmware,
  type BootRun,
  bootOnce,
  type DiskBus,
  detectAccelerator,
  findFirmware,
  lastLines,
} from "./qemu.js";
import { serveDirectory } from "./static-server.js";

/**
 * Boot tests of a disk image: boot to the compose's marker (the unit every image ships prints the
 * booted commit's compose ID and `ostree admin status`), and the update story: `ostree admin upgrade`
 * over HTTP from a published repository that a server of the test serves (the guest's only network),
 * reboot into the update, roll back, boot the old one again. The image itself is
 * never written: each test boots a qcow2 overlay in its work directory. Steps inside the guest arrive as
 * systemd credentials over SMBIOS: a drop-in for the marker unit whose ExecStartPost runs a script, and
 * a script that fails fails the unit and ends the boot test at once with its status and last lines.
 * What the tests read (the marker, the steps' output) comes over a virtio-serial port, which loses no
 * bytes however starved the guest is; the serial console, where it also appears, is the human's boot log.
 */

export interface MarkerSighting {
  composeId: string;
  version: string;
  commit: string;
  /** The `* <os> <checksum>.<serial>` line of `ostree admin status`: the booted deployment. */
  bootedDeployment?: { os: string; commit: string };
  /** Deployments listed by `ostree admin status` (commit checksums, in order). */
  deployments: string[];
  /** The listing's end line came: `deployments` is every deployment the machine has. */
  complete: boolean;
  /** The booted system's os-release PRETTY_NAME, as the marker printed it. */
  prettyName?: string;
}

// the commit is read as exactly 64 hex digits: the kernel may print onto the same console line right after it
const MARKER_RE = new RegExp(`${MARKER_PREFIX} compose=(\\S+) version=(\\S+) commit=([0-9a-f]{64})`);
const STATUS_LINE_RE = /deb-bootc-compose: status: (\*| ) (\S+) ([0-9a-f]{64})\.\d+/g;
const OS_RE = new RegExp(`${MARKER_OS_PREFIX}(.*)$`, "m");
const DONE_RE = /deb-bootc-test: step (\S+) done/;
const STATUS_END_RE = new RegExp(`${MARKER_STATUS_END}$`, "m");

/** The marker and the status lines printed after it, from what the results port (or a console) carried. */
export function parseMarker(output: string): MarkerSighting | undefined {
  const text = output.replace(/\r/g, "");
  const m = MARKER_RE.exec(text);
  if (!m) return undefined;
  const after = text.slice(m.index);
  const end = after.search(STATUS_END_RE);
  const deployments: string[] = [];
  let booted: MarkerSighting["bootedDeployment"];
  for (const s of (end < 0 ? after : after.slice(0, end)).matchAll(STATUS_LINE_RE)) {
    if (deployments.includes(s[3]!)) break;
    deployments.push(s[3]!);
    if (s[1] === "*") booted = { os: s[2]!, commit: s[3]! };
  }
  const prettyName = OS_RE.exec(after)?.[1];
  return {
    composeId: m[1]!,
    version: m[2]!,
    commit: m[3]!,
    bootedDeployment: booted,
    deployments,
    complete: end >= 0,
    ...(prettyName !== undefined ? { prettyName } : {}),
  };
}

export interface BootTestOptions {
  image: string;
  format: "raw" | "qcow2";
  workDir: string;
  /** Serial console capture (appended); what the results port carried goes to resultsLogPath(consoleLog). */
  consoleLog: string;
  accel?: Accelerator;
  /** Default uefi-secure (OVMF with Microsoft's keys, Secure Boot enforced). */
  firmware?: BootFirmware;
  /** The system disk's bus; default virtio. */
  bus?: DiskBus;
  /** Bytes: the guest sees a disk this large (the image followed by unwritten space), as after dd to a bigger disk. */
  diskSize?: number;
  timeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface BootStepResult {
  name: string;
  marker?: MarkerSighting;
  timeToMarkerMs?: number;
  durationMs: number;
  ended: BootRun["ended"];
}

export interface BootTestResult {
  passed: boolean;
  accel: Accelerator;
  accelReason: string;
  steps: BootStepResult[];
  consoleLog: string;
  resultsLog: string;
  message: string;
}

/** Where a boot test keeps what the guest wrote to the results port: beside the console log. */
export function resultsLogPath(consoleLog: string): string {
  return `${consoleLog.replace(/\.log$/, "")}.results.log`;
}

const SCRIPT_CREDENTIAL = "deb-bootc-compose.boot-test-script";
const RUNNER_CREDENTIAL = "deb-bootc-compose.boot-test-runner";

/** The runner's line when the step script failed: the host stops the boot there. */
const STEP_FAILED_RE = /^deb-bootc-test: step (\S+) failed: exit status (\d+)$/m;
/** How many of the step script's last lines a failure's message carries. */
const FAILURE_TAIL_LINES = 10;

/**
 * The guest's runner of a boot's step script: the script (sh -eu) with its output on the results port and
 * the console (the report script), then the runner exits with the script's status (failing the unit), after
 * a line the host stops the boot at. A pipeline's status is its last command's, here the report script's:
 * sh has no pipefail (and bash is not in an image of baseline none), so the status passes the pipe in a file.
 */
export function stepRunner(name: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw composeError("BOOT_TEST_FAILED", `not a boot step name: ${JSON.stringify(name)}`);
  return `rc=/run/deb-bootc-compose/step-${name}.status
mkdir -p /run/deb-bootc-compose
rm -f "$rc"
{ /bin/sh -eu "$CREDENTIALS_DIRECTORY/${SCRIPT_CREDENTIAL}" 2>&1; echo "$?" >"$rc"; } | /${REPORT_SCRIPT}
status=$(cat "$rc" 2>/dev/null)
[ "$status" = 0 ] && exit 0
echo "deb-bootc-test: step ${name} failed: exit status \${status:-1}" | /${REPORT_SCRIPT}
exit "\${status:-1}"
`;
}

/** The credentials that make the marker unit run `script` after the marker (ExecStartPost, through stepRunner). */
export function stepCredentials(name: string, script: string): Record<string, string> {
  return {
    [SCRIPT_CREDENTIAL]: script,
    [RUNNER_CREDENTIAL]: stepRunner(name),
    [`systemd.unit-dropin.${MARKER_UNIT}`]: [
      "[Service]",
      `LoadCredential=${SCRIPT_CREDENTIAL}`,
      `LoadCredential=${RUNNER_CREDENTIAL}`,
      `ExecStartPost=/bin/sh \${CREDENTIALS_DIRECTORY}/${RUNNER_CREDENTIAL}`,
      "TimeoutStartSec=15min",
      "",
    ].join("\n"),
  };
}

export interface StepFailure {
  step: string;
  status: number;
  /** The step script's last lines before the failure (after the marker's own lines). */
  lastLines: string[];
}

/** The step runner's failure line in what the results port carried, with the script's last lines before it. */
export function parseStepFailure(results: string): StepFailure | undefined {
  const text = results.replace(/\r/g, "");
  const m = STEP_FAILED_RE.exec(text);
  if (!m) return undefined;
  let before = text.slice(0, m.index);
  const end = before.search(STATUS_END_RE);
  if (end >= 0) before = before.slice(end + MARKER_STATUS_END.length);
  return { step: m[1]!, status: Number(m[2]), lastLines: lastLines(before, FAILURE_TAIL_LINES) };
}

/** Runs a command in the guest with its output on the results port and the console, prefixed; a failure ends the step script. */
const GUEST_RUN = `step() {
  out=/run/deb-bootc-compose/step.out
  mkdir -p /run/deb-bootc-compose
  if "$@" >"$out" 2>&1; then rc=0; else rc=$?; fi
  sed 's/^/deb-bootc-test: /' "$out"
  [ "$rc" -eq 0 ] || { echo "deb-bootc-test: step failed: $* (exit $rc)"; exit "$rc"; }
}
`;

/** Where the guest finds the test's HTTP server (QEMU's guestfwd): the only address it can reach. */
export const UPDATE_SERVER = "10.0.2.100:80";

/**
 * The guest's side of the restricted network: a static address on its NIC (systemd-networkd, from /run),
 * and the image's own remote pointed at the test's server (it keeps gpg-verify and the channel's key).
 */
function networkScript(remote: string): string {
  return `mkdir -p /run/systemd/network
printf '[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\n' >/run/systemd/network/10-deb-bootc-test.network
systemctl restart systemd-networkd
/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=60 || echo "deb-bootc-test: network not online"
conf=/etc/ostree/remotes.d/${remote}.conf
[ -f "$conf" ] || { echo "deb-bootc-test: step failed: the image has no $conf"; exit 1; }
sed -i 's|^url=.*|url=http://${UPDATE_SERVER}/|' "$conf"
`;
}

/**
 * The update step (after the inspection's lines when asked): the update service when the image has the
 * stage timer (its path), else \`ostree admin upgrade\`; the new deployment is then the default for the
 * next boot. Then reboot.
 */
export function upgradeScript(remote: string, options: { inspect?: boolean } = {}): string {
  return `${GUEST_RUN}${options.inspect ? INSPECTION : ""}echo "deb-bootc-test: step upgrade started"
${networkScript(remote)}if systemctl cat ${UPDATE_UNIT} >/dev/null 2>&1 && ! grep -q -- --reboot /usr/lib/systemd/system/${UPDATE_UNIT}; then
  echo "deb-bootc-test: timer $(systemctl is-enabled ${UPDATE_TIMER}) $(systemctl is-active ${UPDATE_TIMER})"
  step systemctl start ${UPDATE_UNIT}
else
  step ostree admin upgrade
fi
step ostree admin status
echo "deb-bootc-test: step upgrade done"
systemctl reboot --no-block
`;
}

/**
 * The updated boot: print a package's version (from the image's dpkg database), optionally try an upgrade
 * that must be refused (a commit signed by another key was published), then roll back: the previous
 * deployment (index 1) becomes the default again, and reboot.
 */
export function updatedScript(remote: string, options: { packageName?: string; expectRefusal?: boolean } = {}): string {
  const pkg = options.packageName
    ? `echo "deb-bootc-test: package ${options.packageName} $(dpkg-query --admindir=/${DPKG_SYSIMAGE_DIR} -W -f='\${Version}' ${options.packageName} 2>&1)"
`
    : "";
  const refusal = options.expectRefusal
    ? `${networkScript(remote)}if ostree admin upgrade >/run/deb-bootc-compose/refused.out 2>&1; then
  echo "deb-bootc-test: upgrade accepted"
else
  echo "deb-bootc-test: upgrade refused: $(tail -n 2 /run/deb-bootc-compose/refused.out | tr '\n' ' ')"
fi
`
    : "";
  return `${GUEST_RUN}echo "deb-bootc-test: step rollback started"
mkdir -p /run/deb-bootc-compose
${pkg}${refusal}step ostree admin status
step ostree admin set-default 1
step ostree admin status
echo "deb-bootc-test: step rollback done"
systemctl reboot --no-block
`;
}

/** Marks the end of a guest script that powers the guest off (INSPECT_SCRIPT). */
export const INSPECT_DONE = "deb-bootc-test: step inspect done";

/**
 * What a booted image says about itself, on the results port: Secure Boot's state (mokutil, from shim-signed),
 * the disk and the root filesystem's size in bytes (after systemd-repart and systemd-growfs).
 */
const INSPECTION = `echo "deb-bootc-test: step inspect started"
if command -v mokutil >/dev/null; then mokutil --sb-state 2>&1 | sed 's/^/deb-bootc-test: sb-state: /' || true; fi
disk=$(lsblk -ndo PKNAME "$(findmnt -nvo SOURCE /sysroot)")
echo "deb-bootc-test: disk $disk $(lsblk -bndo SIZE "/dev/$disk")"
echo "deb-bootc-test: root-filesystem $(df -B1 --output=size /sysroot | tail -n 1 | tr -d ' ')"
echo "deb-bootc-test: units $(systemctl show -P ActiveState systemd-repart.service systemd-growfs-root.service | tr '\n' ' ')"
echo "${INSPECT_DONE}"
`;

/** The inspection, then power off. */
export const INSPECT_SCRIPT = `${GUEST_RUN}${INSPECTION}systemctl poweroff --no-block
`;

/** The root filesystem's and the disk's size as INSPECT_SCRIPT printed them. */
export function parseInspection(console: string): { sbState?: string; disk?: { name: string; size: number }; rootFilesystem?: number } {
  const text = console.replace(/\r/g, "");
  const sb = /deb-bootc-test: sb-state: (.*)/.exec(text)?.[1]?.trim();
  const disk = /deb-bootc-test: disk (\S+) (\d+)/.exec(text);
  const root = /deb-bootc-test: root-filesystem (\d+)/.exec(text);
  return {
    ...(sb ? { sbState: sb } : {}),
    ...(disk ? { disk: { name: disk[1]!, size: Number(disk[2]) } } : {}),
    ...(root ? { rootFilesystem: Number(root[1]) } : {}),
  };
}

async function overlay(image: string, format: "raw" | "qcow2", path: string, size?: number, logger?: Logger): Promise<void> {
  await rm(path, { force: true });
  const args = ["create", "-q", "-f", "qcow2", "-b", image, "-F", format, path];
  if (size !== undefined) args.push(String(size));
  await run("qemu-img", args, { logger, debianPackage: "qemu-utils" });
}

/**
 * How long one boot may take unless the caller says: TCG with Secure Boot firmware (SMM) on a busy machine
 * has taken over 5 minutes to the marker, and over 4 to shim's refusal of an altered GRUB.
 */
function bootTimeoutMs(accel: Accelerator): number {
  return accel === "kvm" ? 120_000 : 600_000;
}

/** The result of a test whose every step passed. */
function passedResult(session: Session, steps: BootStepResult[], consoleLog: string, message: string): BootTestResult {
  return {
    passed: true,
    accel: session.accel,
    accelReason: session.accelReason,
    steps,
    consoleLog,
    resultsLog: session.resultsLog,
    message,
  };
}

interface Session {
  accel: Accelerator;
  accelReason: string;
  firmware: BootFirmware;
  resultsLog: string;
  /** With `script`, the guest runs it after the marker (stepRunner) and ends the boot itself, or the script fails. */
  boot(name: string, script?: string, forward?: { guest: string; hostPort: number }): Promise<BootStepResult>;
  close(): Promise<void>;
}

async function openSession(options: BootTestOptions): Promise<Session> {
  await mkdir(options.workDir, { recursive: true });
  const detected = options.accel ? { accel: options.accel, reason: "chosen by the caller" } : await detectAccelerator();
  const kind = options.firmware ?? "uefi-secure";
  const firmware = await findFirmware(kind);
  const disk = join(options.workDir, "boot-overlay.qcow2");
  await overlay(options.image, options.format, disk, options.diskSize, options.logger);
  const log = await openTextLog(options.consoleLog);
  const resultsLog = await openTextLog(resultsLogPath(options.consoleLog));
  const timeoutMs = options.timeoutMs ?? bootTimeoutMs(detected.accel);
  options.logger?.info(
    { accel: detected.accel, reason: detected.reason, image: options.image, firmware: kind, bus: options.bus },
    "boot test",
  );
  return {
    accel: detected.accel,
    accelReason: detected.reason,
    firmware: kind,
    resultsLog: resultsLog.path,
    async boot(name, script, forward) {
      log.line(`boot ${name} (${detected.accel}, ${kind}, ${options.bus ?? "virtio"})`);
      resultsLog.line(`boot ${name}`);
      const result = await bootOnce({
        disk,
        format: "qcow2",
        firmware,
        varsCopy: join(options.workDir, "OVMF_VARS.fd"),
        bus: options.bus,
        accel: detected.accel,
        forward,
        credentials: script === undefined ? undefined : stepCredentials(name, script),
        resultsFile: join(options.workDir, "results-port.txt"),
        // a plain boot ends after the whole status listing (the booted deployment's line may come before
        // a rollback's); a scripted one when the guest reboots (QEMU exits), or at once when its script failed
        until:
          script === undefined
            ? (_console, results) => parseMarker(results)?.complete === true
            : (_console, results) => parseStepFailure(results) !== undefined,
        watch: { marker: MARKER_RE },
        timeoutMs,
        onConsole: (c) => log.write(c),
        onResults: (text) => resultsLog.write(text),
        logger: options.logger,
        signal: options.signal,
      }).catch((error) => {
        // which of the test's boots it was: an update test has three
        if (!isCodedError(error, "BOOT_TEST_FAILED")) throw error;
        throw composeError("BOOT_TEST_FAILED", `boot ${name}: ${error.message}`, { details: error.details, cause: error });
      });
      const marker = parseMarker(result.results);
      const step: BootStepResult = { name, marker, timeToMarkerMs: result.seen.marker, durationMs: result.durationMs, ended: result.ended };
      options.logger?.info({ ...step }, `boot ${name}`);
      if (script !== undefined) {
        const failure = parseStepFailure(result.results);
        if (failure)
          throw composeError(
            "BOOT_TEST_FAILED",
            `boot ${name}: the guest's step script ${failure.step} failed with exit status ${failure.status} (see ${resultsLog.path}); its last lines:\n${failure.lastLines.join("\n")}`,
            { details: { step: failure.step, exitStatus: failure.status, ended: result.ended } },
          );
        const done = DONE_RE.exec(result.results.replace(/\r/g, ""));
        if (!done) throw composeError("BOOT_TEST_FAILED", `boot ${name}: the guest's step script did not finish (see ${resultsLog.path})`);
      }
      return step;
    },
    close: async () => {
      await log.close();
      await resultsLog.close();
    },
  };
}

function expectMarker(step: BootStepResult, want: { composeId?: string; commit?: string }, consoleLog: string): void {
  const m = step.marker;
  if (!m)
    throw composeError("BOOT_TEST_FAILED", `boot ${step.name}: no marker line on the results port (see ${consoleLog} for the boot)`, {
      hint: `the image's marker unit writes to /dev/virtio-ports/${RESULTS_PORT}: an image composed before it did has no such line`,
    });
  if (!m.bootedDeployment) throw composeError("BOOT_TEST_FAILED", `boot ${step.name}: ostree admin status showed no booted deployment`);
  if (want.composeId && m.composeId !== want.composeId)
    throw composeError("BOOT_TEST_FAILED", `boot ${step.name}: booted compose ${m.composeId}, expected ${want.composeId}`);
  if (want.commit && m.commit !== want.commit)
    throw composeError("BOOT_TEST_FAILED", `boot ${step.name}: booted commit ${m.commit}, expected ${want.commit}`);
  if (m.bootedDeployment.commit !== m.commit)
    throw composeError(
      "BOOT_TEST_FAILED",
      `boot ${step.name}: the marker's commit ${m.commit} is not the booted deployment ${m.bootedDeployment.commit}`,
    );
}

/**
 * Boot an image and check the marker names the expected compose/commit and a booted deployment. With
 * `script`, the guest runs it after the marker (its output on the console) and must end the boot itself.
 */
export async function bootToMarker(
  options: BootTestOptions & { expect?: { composeId?: string; commit?: string }; script?: string },
): Promise<BootTestResult> {
  const session = await openSession(options);
  const steps: BootStepResult[] = [];
  try {
    const step = await session.boot("marker", options.script);
    steps.push(step);
    expectMarker(step, options.expect ?? {}, options.consoleLog);
    return passedResult(
      session,
      steps,
      options.consoleLog,
      `booted ${step.marker!.composeId} (${step.marker!.commit.slice(0, 12)}) in ${Math.round((step.timeToMarkerMs ?? 0) / 1000)} s`,
    );
  } finally {
    await session.close();
  }
}

/** What firmware or shim print when they refuse an image that Secure Boot does not trust. */
export const REFUSAL_RE = /Security Violation|Access Denied|bad shim signature|verification failed/i;

/**
 * Boot an image that Secure Boot must refuse (an altered GRUB or kernel): passes when the console shows
 * the refusal and the marker never comes. The wait is bounded: QEMU is stopped at the refusal, at the
 * marker, or after `timeoutMs`.
 */
export async function bootRefused(
  options: BootTestOptions,
): Promise<{ refused: boolean; refusal?: string; marker: boolean; console: string }> {
  await mkdir(options.workDir, { recursive: true });
  const detected = options.accel ? { accel: options.accel } : await detectAccelerator();
  const kind = options.firmware ?? "uefi-secure";
  const disk = join(options.workDir, "refused-overlay.qcow2");
  await overlay(options.image, options.format, disk, undefined, options.logger);
  const log = await openTextLog(options.consoleLog);
  let text = "";
  let results = "";
  try {
    log.line(`boot refused (${detected.accel}, ${kind})`);
    const result = await bootOnce({
      disk,
      format: "qcow2",
      firmware: await findFirmware(kind),
      varsCopy: join(options.workDir, "OVMF_VARS.fd"),
      bus: options.bus,
      accel: detected.accel,
      // a refusal is followed by the firmware's next boot option: stop at the first sign either way
      resultsFile: join(options.workDir, "results-port.txt"),
      until: (console, results) => REFUSAL_RE.test(console) || MARKER_RE.test(results),
      timeoutMs: options.timeoutMs ?? bootTimeoutMs(detected.accel),
      onConsole: (c) => log.write(c),
      logger: options.logger,
      signal: options.signal,
    }).catch((error) => {
      if (options.signal?.aborted || !isCodedError(error, "BOOT_TEST_FAILED")) throw error;
      // the time limit without a refusal or a marker: what the console printed is in the error
      const details = error.details as { consoleTail?: string; resultsTail?: string } | undefined;
      return { console: String(details?.consoleTail ?? ""), results: String(details?.resultsTail ?? "") };
    });
    text = result.console;
    results = result.results;
  } finally {
    await log.close();
    await rm(disk, { force: true });
  }
  const refusal = REFUSAL_RE.exec(text)?.[0];
  const marker = MARKER_RE.test(results) || MARKER_RE.test(text);
  return { refused: refusal !== undefined && !marker, ...(refusal ? { refusal } : {}), marker, console: text };
}

export interface HttpUpdateOptions extends BootTestOptions {
  /** The published repository (publishCommit's) holding the update on the channel's ref. */
  publishedRepo: string;
  /** The image's update remote (its /etc/ostree/remotes.d/<remote>.conf). */
  remote: string;
  from: { composeId?: string; commit: string };
  to: { composeId?: string; commit: string };
  /** A package whose version the updated boot prints (the one that changed). */
  packageName?: string;
  /** Runs after the upgrade and before the updated boot, e.g. to publish a commit signed by another key. */
  beforeUpdatedBoot?: () => Promise<void>;
  /** The updated boot tries an upgrade that must be refused. */
  expectRefusal?: boolean;
  /** The upgrade boot first prints what INSPECT_SCRIPT does (parseInspection reads it): one boot for both. */
  inspect?: boolean;
}

export interface HttpUpdateResult extends BootTestResult {
  /** What the test's server sent during the upgrade boot (the update's download). */
  served: { bytes: number; requests: number; deltaRequests: number };
  packageVersion?: string;
  refusal?: string;
}

/**
 * Boot the old commit, `ostree admin upgrade` over HTTP from the published repository (served on this
 * machine's loopback, the guest's only reachable address), boot the new commit, roll back, boot the old
 * one. Three boots, as many as the A/B steps need.
 */
export async function httpUpdateTest(options: HttpUpdateOptions): Promise<HttpUpdateResult> {
  await mkdir(options.workDir, { recursive: true });
  const server = await serveDirectory(options.publishedRepo);
  const forward = { guest: UPDATE_SERVER, hostPort: server.port };
  const session = await openSession(options);
  const steps: BootStepResult[] = [];
  try {
    const upgrade = await session.boot("upgrade", upgradeScript(options.remote, { inspect: options.inspect }), forward);
    steps.push(upgrade);
    expectMarker(upgrade, options.from, options.consoleLog);
    const stats = server.stats();
    const served = {
      bytes: stats.bytes,
      requests: stats.requests.length,
      deltaRequests: stats.requests.filter((r) => r.path.startsWith("/deltas/")).length,
    };
    options.logger?.info({ served }, "upgrade: what the server sent");
    await options.beforeUpdatedBoot?.();
    const script = updatedScript(options.remote, { packageName: options.packageName, expectRefusal: options.expectRefusal });
    const updated = await session.boot("updated", script, forward);
    steps.push(updated);
    expectMarker(updated, options.to, options.consoleLog);
    if (!updated.marker!.deployments.includes(options.from.commit))
      throw composeError("BOOT_TEST_FAILED", "after the upgrade, the old deployment is not listed for rollback");
    const text = (await readFile(session.resultsLog, "utf8")).replace(/\r/g, "");
    const after = text.slice(text.lastIndexOf("deb-bootc-test: step rollback started"));
    const packageVersion = options.packageName
      ? new RegExp(`deb-bootc-test: package ${options.packageName} (\\S+)`).exec(after)?.[1]
      : undefined;
    const refusal = /deb-bootc-test: upgrade refused: (.*)/.exec(after)?.[1]?.trim();
    if (options.expectRefusal && (refusal === undefined || after.includes("deb-bootc-test: upgrade accepted")))
      throw composeError("BOOT_TEST_FAILED", `boot updated: the wrongly signed update was not refused (see ${session.resultsLog})`);
    const back = await session.boot("rolled-back");
    steps.push(back);
    expectMarker(back, options.from, options.consoleLog);
    return {
      ...passedResult(
        session,
        steps,
        options.consoleLog,
        `upgraded ${options.from.commit.slice(0, 12)} -> ${options.to.commit.slice(0, 12)} over HTTP (${served.bytes} bytes), rolled back`,
      ),
      served,
      ...(packageVersion ? { packageVersion } : {}),
      ...(refusal ? { refusal } : {}),
    };
  } finally {
    await session.close();
    await server.close();
  }
}
