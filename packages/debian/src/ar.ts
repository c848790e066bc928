import type { FileHandle } from "node:fs/promises";
import { debianError } from "./errors.js";

/**
 * The `ar` container of a .deb (the common format: `!<arch>\n`, then 60-byte member headers, data padded
 * to an even offset). Members are located by reading headers at their offsets; their data is read later
 * as byte ranges, so nothing but headers is held in memory.
 */
export interface ArMember {
  /** Name with GNU ar's trailing `/` removed. */
  name: string;
  /** Offset of the member's data in the file. */
  offset: number;
  size: number;
  mtime: number;
  uid: number;
  gid: number;
  mode: number;
}

export const AR_MAGIC = "!<arch>\n";
const HEADER_SIZE = 60;

function field(header: Buffer, start: number, length: number): string {
  return header.toString("latin1", start, start + length).trimEnd();
}

function decimal(text: string, radix: 8 | 10, what: string, source: string, offset: number): number {
  const pattern = radix === 10 ? /^[0-9]+$/ : /^[0-7]+$/;
  if (text === "" && what !== "size") return 0;
  if (!pattern.test(text)) {
    throw debianError(
      "DEB_INVALID",
      `${source}: ar member header at offset ${offset} has a malformed ${what} field ${JSON.stringify(text)}`,
      {
        details: { path: source, offset },
      },
    );
  }
  return Number.parseInt(text, radix);
}

/**
 * Read the member headers of an ar archive. Stops after `maxMembers` (hostile archives with thousands of
 * empty members cannot make us loop for long) and checks every member lies inside the file.
 */
export async function* iterateArMembers(handle: FileHandle, fileSize: number, source: string, maxMembers = 64): AsyncGenerator<ArMember> {
  const magic = Buffer.alloc(AR_MAGIC.length);
  const { bytesRead } = await handle.read(magic, 0, magic.length, 0);
  if (bytesRead < magic.length || magic.toString("latin1") !== AR_MAGIC) {
    throw debianError("DEB_INVALID", `${source}: not an ar archive (missing "!<arch>" magic)`, {
      hint: "a .deb starts with the ar magic; this file is truncated or is not a Debian binary package",
      details: { path: source },
    });
  }
  let pos = AR_MAGIC.length;
  const header = Buffer.alloc(HEADER_SIZE);
  for (let count = 0; pos < fileSize; count++) {
    if (count >= maxMembers)
      throw debianError("DEB_INVALID", `${source}: more than ${maxMembers} ar members`, { details: { path: source } });
    const read = await handle.read(header, 0, HEADER_SIZE, pos);
    if (read.bytesRead < HEADER_SIZE) {
      // a lone padding byte at the very end is tolerated, as binutils ar does
      if (read.bytesRead === 1 && header[0] === 0x0a) return;
      throw debianError("DEB_INVALID", `${source}: truncated ar member header at offset ${pos}`, {
        details: { path: source, offset: pos },
      });
    }
    if (header[58] !== 0x60 || header[59] !== 0x0a) {
      throw debianError("DEB_INVALID", `${source}: corrupt ar member header at offset ${pos} (bad terminator)`, {
        details: { path: source, offset: pos },
      });
    }
    let name = field(header, 0, 16);
    if (name.endsWith("/") && name.length > 1) name = name.slice(0, -1);
    const member: ArMember = {
      name,
      offset: pos + HEADER_SIZE,
      mtime: decimal(field(header, 16, 12), 10, "date", source, pos),
      uid: decimal(field(header, 28, 6), 10, "uid", source, pos),
      gid: decimal(field(header, 34, 6), 10, "gid", source, pos),
      mode: decimal(field(header, 40, 8), 8, "mode", source, pos),
      size: decimal(field(header, 48, 10), 10, "size", source, pos),
    };
    if (member.offset + member.size > fileSize) {
      throw debianError(
        "DEB_INVALID",
        `${source}: ar member ${JSON.stringify(name)} claims ${member.size} bytes but the file ends ${fileSize - member.offset} bytes after its header (truncated?)`,
        { details: { path: source, member: name, offset: pos } },
      );
    }
    yield member;
    pos = member.offset + member.size + (member.size % 2);
  }
}
