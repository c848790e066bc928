/**
 * Debian architecture names and wildcards (`linux-any`, `any-amd64`, `musl-linux-any`, `any`), as
 * dpkg-dev matches them: every architecture stands for a tuple abi-libc-os-cpu, a wildcard is a tuple
 * with `any` in some places (missing leading parts are `any`), and an architecture matches a wildcard
 * when every non-`any` part is equal. The tables cover the architectures Debian and its ports use.
 */

export type ArchTuple = readonly [abi: string, libc: string, os: string, cpu: string];

const CPUS = new Set([
  "alpha",
  "amd64",
  "arc",
  "arm",
  "arm64",
  "armeb",
  "avr32",
  "hppa",
  "i386",
  "ia64",
  "loong64",
  "m32r",
  "m68k",
  "mips",
  "mipsel",
  "mipsr6",
  "mipsr6el",
  "mips64",
  "mips64el",
  "mips64r6",
  "mips64r6el",
  "nios2",
  "or1k",
  "powerpc",
  "powerpcel",
  "ppc64",
  "ppc64el",
  "riscv64",
  "s390",
  "s390x",
  "sh3",
  "sh3eb",
  "sh4",
  "sh4eb",
  "sparc",
  "sparc64",
]);

/** Architectures whose tuple is not base-gnu-linux-<name>. */
const SPECIAL: Record<string, ArchTuple> = {
  armel: ["eabi", "gnu", "linux", "arm"],
  armhf: ["eabihf", "gnu", "linux", "arm"],
  arm64ilp32: ["ilp32", "gnu", "linux", "arm64"],
  x32: ["x32", "gnu", "linux", "amd64"],
  powerpcspe: ["spe", "gnu", "linux", "powerpc"],
  mips64el: ["abi64", "gnu", "linux", "mips64el"],
  mips64: ["abi64", "gnu", "linux", "mips64"],
  mips64r6el: ["abi64", "gnu", "linux", "mips64r6el"],
  mips64r6: ["abi64", "gnu", "linux", "mips64r6"],
  mipsn32el: ["abin32", "gnu", "linux", "mips64el"],
  mipsn32: ["abin32", "gnu", "linux", "mips64"],
  mipsn32r6el: ["abin32", "gnu", "linux", "mips64r6el"],
  mipsn32r6: ["abin32", "gnu", "linux", "mips64r6"],
  "musl-linux-armhf": ["eabihf", "musl", "linux", "arm"],
  "uclibc-linux-armel": ["eabi", "uclibc", "linux", "arm"],
  "mint-m68k": ["base", "tos", "mint", "m68k"],
};

/** Prefix `<prefix>-<cpu>` and the abi, libc and os it stands for. */
const PREFIXES: ReadonlyArray<readonly [string, string, string, string]> = [
  ["kfreebsd-", "base", "gnu", "kfreebsd"],
  ["knetbsd-", "base", "gnu", "knetbsd"],
  ["kopensolaris-", "base", "gnu", "kopensolaris"],
  ["hurd-", "base", "gnu", "hurd"],
  ["musl-linux-", "base", "musl", "linux"],
  ["uclibc-linux-", "base", "uclibc", "linux"],
  ["freebsd-", "base", "bsd", "freebsd"],
  ["netbsd-", "base", "bsd", "netbsd"],
  ["openbsd-", "base", "bsd", "openbsd"],
  ["dragonflybsd-", "base", "bsd", "dragonflybsd"],
  ["darwin-", "base", "bsd", "darwin"],
  ["aix-", "base", "sysv", "aix"],
  ["solaris-", "base", "sysv", "solaris"],
];

const tupleCache = new Map<string, ArchTuple | null>();

/** The tuple of a concrete architecture name, or undefined when the name is unknown. */
export function archTuple(arch: string): ArchTuple | undefined {
  let t = tupleCache.get(arch);
  if (t === undefined) {
    t = computeTuple(arch) ?? null;
    tupleCache.set(arch, t);
  }
  return t ?? undefined;
}

function computeTuple(name: string): ArchTuple | undefined {
  // dpkg-dev still reads the old long form linux-<arch> (linux-amd64 is amd64); sources use it
  const arch = name.startsWith("linux-") && !name.slice(6).includes("-") ? name.slice(6) : name;
  const special = SPECIAL[arch];
  if (special) return special;
  if (CPUS.has(arch)) return ["base", "gnu", "linux", arch];
  for (const [prefix, abi, libc, os] of PREFIXES) {
    if (arch.startsWith(prefix) && CPUS.has(arch.slice(prefix.length))) return [abi, libc, os, arch.slice(prefix.length)];
  }
  return undefined;
}

export function isArchWildcard(pattern: string): boolean {
  return pattern === "any" || pattern.split("-").includes("any");
}

/**
 * Whether the concrete architecture `arch` is matched by `pattern` (an architecture name or a
 * wildcard): `archMatches("amd64", "linux-any")`, `archMatches("armhf", "any-arm")` are true,
 * `archMatches("hurd-amd64", "linux-any")` is false. `all` matches only `all` (and `any` does not match
 * `all`); unknown names match only themselves; the old long form `linux-amd64` is `amd64`.
 */
export function archMatches(arch: string, pattern: string): boolean {
  if (arch === pattern) return true;
  if (arch === "all") return false;
  if (pattern === "any") return true;
  const real = archTuple(arch);
  if (real === undefined) return false;
  const parts = pattern.split("-");
  if (!parts.includes("any")) {
    // a plain name: equal tuples (so the long form linux-amd64 names amd64)
    const other = archTuple(pattern);
    return other?.every((part, i) => part === real[i]) === true;
  }
  if (parts.length > 4) return false;
  const offset = 4 - parts.length;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p !== "any" && p !== real[offset + i]) return false;
  }
  return true;
}
