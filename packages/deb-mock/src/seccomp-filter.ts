/**
 * The seccomp filter every command in an environment runs under (bubblewrap's `--seccomp FD` loads it
 * just before it executes the command, after its own set-up mounts). A classic-BPF deny list: system
 * calls a package build never needs and that are the usual way out of a container fail with EPERM.
 * The kernel already refuses most of them to a root without host capabilities; the filter is the second
 * wall, and it is the only one for mounts (the environment's root owns its mount namespace) and for
 * keyrings (which are not namespaced). See docs/deb-mock.md, "Isolation".
 */

/** Denied outright: [name, why]. */
export const DENIED_SYSCALLS: ReadonlyArray<readonly [string, string]> = [
  ["add_key", "kernel keyrings are not namespaced: another build's or the host's keys"],
  ["request_key", "kernel keyrings"],
  ["keyctl", "kernel keyrings"],
  ["kexec_load", "loading a new kernel"],
  ["kexec_file_load", "loading a new kernel"],
  ["init_module", "kernel modules"],
  ["finit_module", "kernel modules"],
  ["delete_module", "kernel modules"],
  ["bpf", "BPF programs and maps: kernel attack surface"],
  ["perf_event_open", "performance counters: kernel attack surface and side channels"],
  ["userfaultfd", "a common kernel-exploit primitive"],
  ["mount", "the environment's mounts are made before the command starts; a build mounts nothing"],
  ["umount", "mounts"],
  ["umount2", "mounts (uncovering what a mount hides)"],
  ["pivot_root", "mounts"],
  ["open_tree", "mounts (the new mount API)"],
  ["move_mount", "mounts"],
  ["fsopen", "mounts"],
  ["fsconfig", "mounts"],
  ["fsmount", "mounts"],
  ["fspick", "mounts (reconfiguring, e.g. /sys read-write)"],
  ["mount_setattr", "mounts (clearing read-only or nodev)"],
  ["swapon", "host swap"],
  ["swapoff", "host swap"],
  ["reboot", "host power"],
  ["acct", "process accounting"],
  ["quotactl", "host quotas"],
  ["syslog", "the kernel log"],
  ["iopl", "raw I/O ports"],
  ["ioperm", "raw I/O ports"],
  ["open_by_handle_at", "opening files by handle bypasses the mount tree"],
  ["lookup_dcookie", "kernel profiling"],
  ["vhangup", "terminals"],
];

/** System calls denied only for some arguments (see `seccompProgram`). */
export const FILTERED_SYSCALLS: ReadonlyArray<readonly [string, string]> = [
  ["mknod", "block and character devices (a device node is a way to the host's disks)"],
  ["mknodat", "block and character devices"],
  ["ioctl", "TIOCSTI and TIOCLINUX (typing into the caller's terminal)"],
];

type SyscallTable = Readonly<Record<string, number>>;

// numbers from the kernel's unistd headers (asm/unistd_64.h, asm/unistd_32.h, asm-generic/unistd.h)

/** System calls added since Linux 5.1 have one number on every architecture (424 and up). */
const UNIFIED: SyscallTable = {
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};

const X86_64: SyscallTable = {
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  ...UNIFIED,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  acct: 163,
  quotactl: 179,
  syslog: 103,
  iopl: 172,
  ioperm: 173,
  open_by_handle_at: 304,
  lookup_dcookie: 212,
  vhangup: 153,
  mknod: 133,
  mknodat: 259,
  ioctl: 16,
};

const I386: SyscallTable = {
  add_key: 286,
  request_key: 287,
  keyctl: 288,
  kexec_load: 283,
  init_module: 128,
  finit_module: 350,
  delete_module: 129,
  bpf: 357,
  perf_event_open: 336,
  userfaultfd: 374,
  mount: 21,
  umount: 22,
  umount2: 52,
  pivot_root: 217,
  ...UNIFIED,
  swapon: 87,
  swapoff: 115,
  reboot: 88,
  acct: 51,
  quotactl: 131,
  syslog: 103,
  iopl: 110,
  ioperm: 101,
  open_by_handle_at: 342,
  lookup_dcookie: 253,
  vhangup: 111,
  mknod: 14,
  mknodat: 297,
  ioctl: 54,
};

const GENERIC: SyscallTable = {
  add_key: 217,
  request_key: 218,
  keyctl: 219,
  kexec_load: 104,
  kexec_file_load: 294,
  init_module: 105,
  finit_module: 273,
  delete_module: 106,
  bpf: 280,
  perf_event_open: 241,
  userfaultfd: 282,
  mount: 40,
  umount2: 39,
  pivot_root: 41,
  ...UNIFIED,
  swapon: 224,
  swapoff: 225,
  reboot: 142,
  acct: 89,
  quotactl: 60,
  syslog: 116,
  open_by_handle_at: 265,
  lookup_dcookie: 18,
  vhangup: 58,
  mknodat: 33,
  ioctl: 29,
};

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x32 system calls are x86_64's numbers with this bit set: refused as a whole (no build uses x32). */
const X32_SYSCALL_BIT = 0x40000000;

/** The native audit architecture and its table, plus the compat one the kernel also accepts. */
const ARCHITECTURES: Readonly<Record<string, ReadonlyArray<{ arch: number; table: SyscallTable; x32?: boolean }>>> = {
  x64: [
    { arch: AUDIT_ARCH_X86_64, table: X86_64, x32: true },
    { arch: AUDIT_ARCH_I386, table: I386 },
  ],
  arm64: [{ arch: AUDIT_ARCH_AARCH64, table: GENERIC }],
};

// classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h)
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const AND_K = 0x54;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO_EPERM = 0x00050000 | 1;
// offsets in struct seccomp_data: nr, arch, then args[6] as 64-bit values (the low half first on these
// little-endian machines)
const NR = 0;
const ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

type Label = string;
type Insn = { code: number; k: number; jt?: Label; jf?: Label } | { label: Label };

/** Resolve labels to relative jump offsets (jumps only go forward, at most 255 instructions). */
function assemble(program: readonly Insn[]): Buffer {
  const at = new Map<Label, number>();
  const code: Array<Exclude<Insn, { label: Label }>> = [];
  for (const insn of program) {
    if ("label" in insn) at.set(insn.label, code.length);
    else code.push(insn);
  }
  const out = Buffer.alloc(code.length * 8);
  code.forEach((insn, i) => {
    const offset = (label: Label | undefined) => {
      if (label === undefined) return 0;
      const target = at.get(label);
      if (target === undefined) throw new Error(`seccomp: no label ${label}`);
      const rel = target - (i + 1);
      if (rel < 0 || rel > 255) throw new Error(`seccomp: jump to ${label} out of range`);
      return rel;
    };
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(offset(insn.jt), i * 8 + 2);
    out.writeUInt8(offset(insn.jf), i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}

/** The instructions for one architecture's table, entered with the system call number loaded. */
function tableCheck(prefix: string, table: SyscallTable, x32: boolean): Insn[] {
  const out: Insn[] = [];
  if (x32) out.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: "deny" });
  for (const [name] of DENIED_SYSCALLS) {
    const nr = table[name];
    if (nr !== undefined) out.push({ code: JEQ_K, k: nr, jt: "deny" });
  }
  const mknodArg = { mknod: 1, mknodat: 2 } as const;
  for (const [name, arg] of Object.entries(mknodArg)) {
    const nr = table[name];
    if (nr === undefined) continue;
    out.push({ code: JEQ_K, k: nr, jf: `${prefix}-not-${name}` });
    out.push({ code: LD_W_ABS, k: argLow(arg) }, { code: AND_K, k: S_IFMT });
    out.push({ code: JEQ_K, k: S_IFCHR, jt: "deny" }, { code: JEQ_K, k: S_IFBLK, jt: "deny", jf: "allow" });
    out.push({ label: `${prefix}-not-${name}` });
  }
  if (table.ioctl !== undefined) {
    out.push({ code: JEQ_K, k: table.ioctl, jf: "allow" });
    out.push({ code: LD_W_ABS, k: argLow(1) });
    out.push({ code: JEQ_K, k: TIOCSTI, jt: "deny" }, { code: JEQ_K, k: TIOCLINUX, jt: "deny" });
  }
  out.push({ code: RET_K, k: RET_ALLOW });
  return out;
}

/**
 * The compiled filter (struct sock_filter[]) for this machine's architecture (`process.arch`). System
 * calls of an architecture the filter does not know are denied as a whole.
 */
export function seccompProgram(arch: string = process.arch): Buffer {
  const arches = ARCHITECTURES[arch];
  if (!arches) throw new Error(`no seccomp system call table for ${arch}`);
  const program: Insn[] = [{ code: LD_W_ABS, k: ARCH }];
  arches.forEach((a, i) => {
    program.push({ code: JEQ_K, k: a.arch, jt: `arch-${i}` });
  });
  program.push({ code: RET_K, k: RET_ERRNO_EPERM });
  arches.forEach((a, i) => {
    program.push({ label: `arch-${i}` }, { code: LD_W_ABS, k: NR }, ...tableCheck(`arch-${i}`, a.table, a.x32 ?? false));
  });
  program.push({ label: "allow" }, { code: RET_K, k: RET_ALLOW });
  program.push({ label: "deny" }, { code: RET_K, k: RET_ERRNO_EPERM });
  return assemble(program);
}
