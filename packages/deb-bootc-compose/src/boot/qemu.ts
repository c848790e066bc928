import { copyFile, open, readFile, writeFile } from "node:fs/promises";
import { isCodedError, type Logger, pathExists, plainText, run } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import { RESULTS_PORT } from "../rootfs/customize.js";

/**
 * Booting disk images under QEMU with UEFI (Debian's ovmf). KVM only where it really runs guests: a
 * /dev/kvm backed by kvm_pvm (no vmx/svm) fails on MSRs and emulation, so KVM needs kvm_intel or
 * kvm_amd loaded and the CPU flag; everything else runs under TCG.
 */

export type Accelerator = "kvm" | "tcg";

export async function detectAccelerator(): Promise<{ accel: Accelerator; reason: string }> {
  if (!(await pathExists("/dev/kvm"))) return { accel: "tcg", reason: "no /dev/kvm" };
  const module = (await pathExists("/sys/module/kvm_intel"))
    ? "kvm_intel"
    : (await pathExists("/sys/module/kvm_amd"))
      ? "kvm_amd"
      : undefined;
  if (!module)
    return { accel: "tcg", reason: "/dev/kvm exists but neither kvm_intel nor kvm_amd is loaded (a paravirtual kvm cannot run the guest)" };
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  if (!/\b(vmx|svm)\b/.test(cpuinfo)) return { accel: "tcg", reason: `${module} is loaded but the CPU shows no vmx/svm` };
  return { accel: "kvm", reason: `${module} with hardware virtualisation` };
}

/**
 * What the guest boots with: OVMF (UEFI), OVMF with Microsoft's keys enrolled and Secure Boot enforced
 * (the factory state of most PCs), or QEMU's default SeaBIOS (legacy BIOS, no pflash).
 */
export type BootFirmware = "uefi" | "uefi-secure" | "bios";
/** How the system disk is attached: virtio-blk, NVMe, or SATA on an AHCI controller. */
export type DiskBus = "virtio" | "nvme" | "sata";

export interface Firmware {
  code: string;
  vars: string;
  /** Secure Boot code: QEMU must give it SMM and a secure pflash. */
  secureBoot?: boolean;
}

export const OVMF_CANDIDATES: readonly Firmware[] = [
  { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" },
  { code: "/usr/share/OVMF/OVMF_CODE.fd", vars: "/usr/share/OVMF/OVMF_VARS.fd" },
];
/** Debian's ovmf: Secure Boot capable code with a variable store holding Microsoft's keys, Secure Boot on. */
export const OVMF_SECURE_CANDIDATES: readonly Firmware[] = [
  { code: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", secureBoot: true },
  { code: "/usr/share/OVMF/OVMF_CODE.ms.fd", vars: "/usr/share/OVMF/OVMF_VARS.ms.fd", secureBoot: true },
];

/** The UEFI firmware files for `kind`; undefined for bios (SeaBIOS is built into QEMU). */
export async function findFirmware(kind: BootFirmware = "uefi"): Promise<Firmware | undefined> {
  if (kind === "bios") return undefined;
  const candidates = kind === "uefi-secure" ? OVMF_SECURE_CANDIDATES : OVMF_CANDIDATES;
  for (const f of candidates) if ((await pathExists(f.code)) && (await pathExists(f.vars))) return f;
  throw composeError(
    "FIRMWARE_NOT_FOUND",
    `no ${kind === "uefi-secure" ? "Secure Boot " : ""}UEFI firmware found (looked for ${candidates.map((f) => f.code).join(", ")})`,
    { hint: "apt-get install ovmf" },
  );
}

export interface QemuSpec {
  disk: string;
  format: "raw" | "qcow2";
  /** UEFI firmware on pflash; undefined: QEMU's SeaBIOS. */
  firmware?: Firmware;
  /** A writable copy of the firmware's variable store (with firmware). */
  varsCopy?: string;
  /** The system disk's bus; default virtio. */
  bus?: DiskBus;
  accel: Accelerator;
  memoryMiB?: number;
  cpus?: number;
  /** systemd credentials passed through SMBIOS type 11 (name -> content). */
  credentials?: Readonly<Record<string, string>>;
  /**
   * A network that reaches one server only: QEMU user networking with restrict=on (no route to the host or
   * beyond) and a guestfwd from the guest's `guest` address (tcp, e.g. 10.0.2.100:80) to a port on this
   * machine's loopback, through a socat spawned per connection.
   */
  forward?: { guest: string; hostPort: number };
  /**
   * A file on this machine that receives what the guest writes to its virtio-serial port RESULTS_PORT
   * (/dev/virtio-ports/<name>): virtio's flow control holds the guest back instead of dropping bytes.
   */
  resultsFile?: string;
}

/**
 * The qemu-system-x86_64 argv: q35, UEFI from pflash (with SMM and a secure flash for Secure Boot) or
 * SeaBIOS, the system disk on virtio, NVMe or SATA, serial console on stdout, optionally the results port
 * into a file, no network or one restricted to a forwarded server, exit on reboot.
 */
export function qemuArgs(spec: QemuSpec): string[] {
  // -nodefaults: no VGA, CD-ROM or default NIC to probe; the console is the serial port only
  const args = ["-nodefaults", "-machine", spec.firmware?.secureBoot ? "q35,smm=on" : "q35"];
  // Secure Boot's variables are protected by SMM: only SMM code may write the secure flash
  if (spec.firmware?.secureBoot) args.push("-global", "driver=cfi.pflash01,property=secure,value=on");
  if (spec.accel === "kvm") args.push("-accel", "kvm", "-cpu", "host");
  // one host thread runs the vCPUs in turn: under multi-threaded TCG a guest kernel that patches its code
  // (static keys) while its other vCPU runs it has died in that code on a loaded machine
  else args.push("-accel", "tcg,thread=single", "-cpu", "max");
  args.push("-smp", String(spec.cpus ?? 2), "-m", String(spec.memoryMiB ?? 1536));
  args.push("-display", "none", "-vga", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot");
  if (spec.forward) {
    if (!/^\d+\.\d+\.\d+\.\d+:\d+$/.test(spec.forward.guest) || !Number.isInteger(spec.forward.hostPort))
      throw composeError("BOOT_TEST_FAILED", `not a guest address and host port: ${spec.forward.guest}, ${spec.forward.hostPort}`);
    // a tcp: chardev would carry one connection only; cmd: spawns a relay for each of the guest's connections
    args.push(
      "-nic",
      `user,model=virtio-net-pci,restrict=on,guestfwd=tcp:${spec.forward.guest}-cmd:socat STDIO TCP:127.0.0.1:${spec.forward.hostPort}`,
    );
  } else args.push("-nic", "none");
  if (spec.firmware) {
    if (!spec.varsCopy) throw composeError("BOOT_TEST_FAILED", "UEFI firmware needs a writable copy of its variable store");
    args.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${spec.firmware.code}`);
    args.push("-drive", `if=pflash,format=raw,unit=1,file=${spec.varsCopy}`);
  }
  const bus = spec.bus ?? "virtio";
  if (bus === "virtio") args.push("-drive", `file=${spec.disk},if=virtio,format=${spec.format},cache=unsafe`);
  else {
    args.push("-drive", `file=${spec.disk},if=none,id=system,format=${spec.format},cache=unsafe`);
    if (bus === "nvme") args.push("-device", "nvme,drive=system,serial=dbc-system,bootindex=0");
    else args.push("-device", "ahci,id=sata", "-device", "ide-hd,drive=system,bus=sata.0,bootindex=0");
  }
  if (spec.resultsFile) {
    // QEMU's option syntax: a comma in a value is written twice
    const path = spec.resultsFile.replaceAll(",", ",,");
    args.push("-device", "virtio-serial-pci,id=results-bus", "-chardev", `file,id=results,path=${path}`);
    args.push("-device", `virtserialport,bus=results-bus.0,chardev=results,name=${RESULTS_PORT}`);
  }
  for (const [name, content] of Object.entries(spec.credentials ?? {})) {
    args.push("-smbios", `type=11,value=io.systemd.credential.binary:${name}=${Buffer.from(content).toString("base64")}`);
  }
  return args;
}

export interface BootRun {
  /** Everything the serial console printed. */
  console: string;
  /** Everything the guest wrote to the results port ("" without resultsFile). */
  results: string;
  /** "matched": `until` said stop (QEMU was then killed); "exited": the guest rebooted or powered off. */
  ended: "matched" | "exited";
  durationMs: number;
  /** Milliseconds from QEMU's start until each watched pattern first appeared. */
  seen: Record<string, number>;
}

export interface BootOptions extends QemuSpec {
  /** Stop (kill QEMU) once this returns true for the console and the results port so far. */
  until?: (console: string, results: string) => boolean;
  /** Patterns whose first appearance is timed: on the results port with resultsFile, else on the console. */
  watch?: Readonly<Record<string, RegExp>>;
  timeoutMs: number;
  onConsole?: (chunk: Buffer) => void;
  /** What arrived on the results port since the last call. */
  onResults?: (text: string) => void;
  logger?: Logger;
  signal?: AbortSignal;
}

/** How often the results file is read while the guest runs. */
const RESULTS_POLL_MS = 250;

/**
 * What a guest prints when it can go no further by itself (a kernel panic, systemd's or dracut's emergency
 * shell): the boot is stopped there rather than at its time limit.
 */
const STUCK_RE = /Kernel panic - not syncing[^\r\n]*|You are in emergency mode[^\r\n]*|Entering emergency mode[^\r\n]*/;

/** The line a kernel oops begins with: it says what went wrong, the panic line only that it was fatal. */
const OOPS_RE = /\b(?:BUG: |Oops: |kernel BUG at )/;

/**
 * How many of the console's and the results port's last lines a failed boot's message carries, each cut at
 * LINE_MAX characters: a builder's result carries 4,000 characters of a message (BOOT_MESSAGE_MAX).
 */
const TAIL_LINES = { console: 15, results: 6 };
const LINE_MAX = 160;

/** The last `count` non-empty lines of a console capture, without its terminal escapes (GRUB's menu draws with them). */
export function lastLines(text: string, count: number): string[] {
  return text
    .split(/\r?\n|\r/)
    .map(plainText)
    .filter((line) => line.trim() !== "")
    .slice(-count)
    .map((line) => (line.length > LINE_MAX ? `${line.slice(0, LINE_MAX)}...` : line));
}

/** The first line of the first kernel oops on a console, made plain and cut by lastLines. */
function firstOopsLine(console: string): string | undefined {
  const line = console.split(/\r?\n|\r/).find((l) => OOPS_RE.test(l));
  return line === undefined ? undefined : lastLines(line, 1)[0];
}

/** A failed boot's message: what happened, a kernel oops' first line, then the console's and the results port's last lines. */
function withTails(what: string, console: string, results: string): string {
  const parts = [what];
  const oops = firstOopsLine(console);
  if (oops !== undefined) parts.push(`the oops began: ${oops}`);
  parts.push(`the console's last lines:\n${lastLines(console, TAIL_LINES.console).join("\n") || "(nothing)"}`);
  const fromPort = lastLines(results, TAIL_LINES.results);
  if (fromPort.length > 0) parts.push(`the results port's last lines:\n${fromPort.join("\n")}`);
  return parts.join("\n");
}

/** Reads a growing file from where the last read stopped. */
async function fileTail(path: string): Promise<{ read(): Promise<string>; close(): Promise<void> }> {
  const handle = await open(path, "r");
  let offset = 0;
  const decoder = new TextDecoder();
  const buffer = Buffer.alloc(64 * 1024);
  return {
    async read() {
      let text = "";
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) return text;
        offset += bytesRead;
        text += decoder.decode(buffer.subarray(0, bytesRead), { stream: true });
      }
    },
    close: () => handle.close(),
  };
}

/** Boot once: until `until` matches, the guest reboots or powers off (QEMU exits), or the time limit. */
export async function bootOnce(options: BootOptions): Promise<BootRun> {
  if (options.firmware && options.varsCopy) await copyFile(options.firmware.vars, options.varsCopy);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const started = Date.now();
  let text = "";
  let results = "";
  let matched = false;
  let stuck: string | undefined;
  const seen: Record<string, number> = {};
  const check = (fresh = "") => {
    // a panic's or an emergency shell's line: looked for in what just arrived (and a line's worth before it)
    const stuckLine = fresh && stuck === undefined ? STUCK_RE.exec(text.slice(-(fresh.length + 200)))?.[0] : undefined;
    if (stuckLine !== undefined) {
      stuck = stuckLine.trim();
      controller.abort();
    }
    const watched = options.resultsFile ? results : text;
    for (const [name, re] of Object.entries(options.watch ?? {}))
      if (seen[name] === undefined && re.test(watched)) seen[name] = Date.now() - started;
    if (!matched && options.until?.(text, results)) {
      matched = true;
      controller.abort();
    }
  };
  // created before QEMU opens it (which truncates it), so that it can be read from the start
  if (options.resultsFile) await writeFile(options.resultsFile, "");
  const tail = options.resultsFile ? await fileTail(options.resultsFile) : undefined;
  const readResults = async () => {
    const more = (await tail?.read()) ?? "";
    if (!more) return;
    results += more;
    options.onResults?.(more);
    check();
  };
  let polling = Promise.resolve();
  const poll = tail
    ? setInterval(() => {
        polling = polling.then(readResults).catch(() => {});
      }, RESULTS_POLL_MS)
    : undefined;
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  const finish = async () => {
    clearInterval(poll);
    await polling;
    // what the guest wrote before QEMU ended
    await readResults().catch(() => {});
  };
  try {
    await run("qemu-system-x86_64", qemuArgs(options), {
      signal: controller.signal,
      logger: options.logger,
      captureStdout: false,
      debianPackage: "qemu-system-x86",
      onStdout: (chunk) => {
        options.onConsole?.(chunk);
        const fresh = chunk.toString("utf8");
        text += fresh;
        check(fresh);
      },
    });
    await finish();
    return { console: text, results, ended: "exited", durationMs: Date.now() - started, seen };
  } catch (error) {
    await finish();
    if (matched && isCodedError(error, "INTERRUPTED"))
      return { console: text, results, ended: "matched", durationMs: Date.now() - started, seen };
    if (options.signal?.aborted) throw error;
    if (isCodedError(error, "INTERRUPTED")) {
      const what =
        stuck !== undefined
          ? `${options.disk}: the guest stopped after ${Math.round((Date.now() - started) / 1000)} s: ${stuck}`
          : `${options.disk}: no result within ${Math.round(options.timeoutMs / 1000)} s`;
      throw composeError("BOOT_TEST_FAILED", withTails(what, text, results), {
        details: { consoleTail: text.slice(-2000), resultsTail: results.slice(-2000), ...(stuck ? { stuck } : {}) },
      });
    }
    throw composeError("BOOT_TEST_FAILED", `${options.disk}: QEMU failed: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    await tail?.close();
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}
