import { describe, expect, it } from "vitest";
import { DENIED_SYSCALLS, seccompProgram } from "./seccomp-filter.js";

/** The program as (code, jt, jf, k) tuples. */
function instructions(program: Buffer) {
  const out: Array<{ code: number; jt: number; jf: number; k: number }> = [];
  for (let i = 0; i < program.length; i += 8) {
    out.push({ code: program.readUInt16LE(i), jt: program.readUInt8(i + 2), jf: program.readUInt8(i + 3), k: program.readUInt32LE(i + 4) });
  }
  return out;
}

/** A tiny classic-BPF interpreter for the instructions the filter uses, over a struct seccomp_data. */
function evaluate(program: Buffer, data: { nr: number; arch: number; args?: number[] }): number {
  const insns = instructions(program);
  const word = (offset: number) => {
    if (offset === 0) return data.nr;
    if (offset === 4) return data.arch;
    return data.args?.[(offset - 16) / 8] ?? 0;
  };
  let a = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    if (code === 0x20) a = word(k);
    else if (code === 0x54) a = (a & k) >>> 0;
    else if (code === 0x15) pc += a === k ? jt : jf;
    else if (code === 0x35) pc += a >= k ? jt : jf;
    else if (code === 0x06) return k;
    else throw new Error(`unexpected opcode ${code}`);
  }
  throw new Error("fell off the end");
}

const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;

describe("seccompProgram (x86_64)", () => {
  const program = seccompProgram("x64");

  it("denies keyrings, module loading, kexec, bpf and every mount call; allows ordinary calls", () => {
    for (const nr of [250, 248, 249, 175, 313, 246, 320, 321, 165, 166, 428, 430, 442])
      expect(evaluate(program, { nr, arch: X86_64 })).toBe(EPERM);
    for (const nr of [0, 1, 2, 59, 56, 272, 57]) expect(evaluate(program, { nr, arch: X86_64 })).toBe(ALLOW); // read write open execve clone unshare fork
  });

  it("denies mknod of block and character devices only", () => {
    const mknodat = 259;
    expect(evaluate(program, { nr: mknodat, arch: X86_64, args: [0, 0, 0o060600, 0x800] })).toBe(EPERM);
    expect(evaluate(program, { nr: mknodat, arch: X86_64, args: [0, 0, 0o020600, 0x103] })).toBe(EPERM);
    expect(evaluate(program, { nr: mknodat, arch: X86_64, args: [0, 0, 0o010600, 0] })).toBe(ALLOW); // a FIFO
    expect(evaluate(program, { nr: 133, arch: X86_64, args: [0, 0o060600, 0x800] })).toBe(EPERM);
  });

  it("denies TIOCSTI but not other ioctls", () => {
    expect(evaluate(program, { nr: 16, arch: X86_64, args: [0, 0x5412] })).toBe(EPERM);
    expect(evaluate(program, { nr: 16, arch: X86_64, args: [0, 0x5401] })).toBe(ALLOW); // TCGETS
  });

  it("filters i386 calls by their own numbers, refuses x32 and unknown architectures", () => {
    expect(evaluate(program, { nr: 288, arch: I386 })).toBe(EPERM); // keyctl
    expect(evaluate(program, { nr: 21, arch: I386 })).toBe(EPERM); // mount
    expect(evaluate(program, { nr: 3, arch: I386 })).toBe(ALLOW); // read
    expect(evaluate(program, { nr: 0x40000000, arch: X86_64 })).toBe(EPERM);
    expect(evaluate(program, { nr: 0, arch: 0xc00000b7 })).toBe(EPERM);
  });

  it("lists why each call is denied", () => {
    for (const [name, why] of DENIED_SYSCALLS) expect(`${name}: ${why}`).toMatch(/^\w+: \w/);
  });
});
