import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { isCodedError } from "@debian-bootc/core";
import { type ArMember, iterateArMembers } from "./ar.js";
import { ALL_HASHES, type FileDigests, type HashAlgorithm, hashFileWith } from "./checksums.js";
import type { Paragraph } from "./deb822.js";
import { parseDeb822Single } from "./deb822.js";
import { type Compression, compressionFromSuffix, decompress } from "./decompress.js";
import { debianError } from "./errors.js";
import { iterateTar, type TarEntry } from "./tar-reader.js";

/**
 * Reading a Debian binary package (.deb) without dpkg-deb: the ar container is walked by offsets, its
 * control.tar and data.tar members are streamed through the right decompressor into a small tar reader.
 * Never holds more than a member header, the control file and the decoder's window in memory.
 */
export type DebFileEntry = TarEntry;

/** A .deb read: its structure, and its size and digests as Packages indexes record them. */
export interface DebInfo extends FileDigests {
  /** The `control` file of control.tar, parsed. */
  control: Paragraph;
  /** The `control` file's exact text. */
  controlText: string;
  /** Names of control.tar's members (`./control`, `./md5sums`, `./postinst`, ...). */
  controlFiles: string[];
  controlCompression: Compression;
  dataCompression: Compression;
  /** data.tar's entries in archive order, paths as `dpkg-deb -c` shows them (only with `listFiles`). */
  files?: DebFileEntry[];
}

export interface ReadDebOptions {
  /** Also read data.tar and list its entries (slower: data.tar is decompressed). */
  listFiles?: boolean;
  /** Largest control file accepted (default 16 MiB). */
  maxControlSize?: number;
}

const MEMBER_PATTERN = /^(control|data)\.tar(\.[a-z0-9]+)?$/;

/** Read a .deb's control fields, digests and (optionally) file list. DEB_INVALID for anything that is not a sane .deb. */
export function readDeb(path: string, options: ReadDebOptions = {}): Promise<DebInfo> {
  return readDebWith(path, ALL_HASHES, options) as Promise<DebInfo>;
}

/** readDeb with only the digests asked for (an APT repository without SHA1 and SHA512 needs MD5 and SHA256). */
export async function readDebWith<A extends HashAlgorithm>(
  path: string,
  algorithms: readonly A[],
  options: ReadDebOptions = {},
): Promise<DebStructure & Record<A, string> & { size: number }> {
  // hash in parallel with parsing; a failure of either fails both cleanly
  const digests = hashFileWith(path, algorithms).catch((error: unknown) => error as Error);
  try {
    const parsed = await readDebStructure(path, options);
    const d = await digests;
    if (d instanceof Error) {
      throw debianError("DEB_INVALID", `${path}: cannot read: ${d.message}`, { cause: d, details: { path } });
    }
    return { ...parsed, ...d };
  } finally {
    await digests;
  }
}

/** A .deb's structure as readDeb reads it, without the digests. */
export type DebStructure = Omit<DebInfo, keyof FileDigests>;

/** A .deb's structure (control fields, members, compressions) without reading it whole for digests. */
export async function readDebStructure(path: string, options: ReadDebOptions = {}): Promise<DebStructure> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw debianError("DEB_INVALID", `${path}: cannot open .deb: ${(error as Error).message}`, {
      cause: error,
      details: { path },
    });
  }
  try {
    const { size: fileSize } = await handle.stat();
    const fail = (why: string, member?: string): never => {
      throw debianError("DEB_INVALID", `${path}: ${why}`, { details: { path, member } });
    };
    let control: ArMember | undefined;
    let data: ArMember | undefined;
    let index = 0;
    for await (const member of iterateArMembers(handle, fileSize, path)) {
      if (index++ === 0) {
        if (member.name !== "debian-binary")
          fail(`first ar member is ${JSON.stringify(member.name)}, expected "debian-binary"`, member.name);
        if (member.size > 64) fail(`debian-binary member is ${member.size} bytes, expected "2.0\\n"`, member.name);
        const buf = Buffer.alloc(member.size);
        await handle.read(buf, 0, member.size, member.offset);
        const version = buf.toString("latin1");
        if (!/^2\.[0-9]+\n?$/.test(version))
          fail(`unsupported .deb format version ${JSON.stringify(version)} (expected "2.0")`, member.name);
        continue;
      }
      if (member.name.startsWith("_") && control === undefined) continue; // reserved for extensions, skipped as dpkg does
      const match = MEMBER_PATTERN.exec(member.name);
      if (control === undefined) {
        if (match?.[1] !== "control")
          fail(`unexpected ar member ${JSON.stringify(member.name)} where control.tar was expected`, member.name);
        control = member;
      } else if (data === undefined) {
        if (match?.[1] !== "data") fail(`unexpected ar member ${JSON.stringify(member.name)} where data.tar was expected`, member.name);
        data = member;
        break; // members after data.tar are ignored, as dpkg does
      }
    }
    if (index === 0) fail("empty ar archive (no debian-binary member)");
    if (control === undefined) fail("no control.tar member");
    if (data === undefined) fail("no data.tar member");
    const controlCompression = memberCompression(path, control!);
    const dataCompression = memberCompression(path, data!);

    // control.tar: keep ./control, note the other members
    const maxControl = options.maxControlSize ?? 16 * 1024 * 1024;
    let controlBody: Buffer | undefined;
    const controlFiles: string[] = [];
    const controlSource = `${path}:${control!.name}`;
    for await (const { entry, body } of iterateTar(
      decompress(memberChunks(path, control!), controlCompression, { source: controlSource }),
      {
        source: controlSource,
        keepBody: (e) => e.type === "file" && isControlName(e.path),
        maxBodySize: maxControl,
      },
    )) {
      controlFiles.push(entry.path);
      if (body !== undefined) {
        if (controlBody !== undefined) fail(`control.tar has two control files`, control!.name);
        controlBody = body;
      }
    }
    if (controlBody === undefined) fail("control.tar has no control file", control!.name);
    const controlText = controlBody!.toString("utf8");
    let paragraph: Paragraph;
    try {
      paragraph = parseDeb822Single(controlText, { source: `${controlSource}/control` });
      for (const field of ["Package", "Version", "Architecture"]) paragraph.require(field, `${controlSource}/control`);
    } catch (error) {
      throw debianError("DEB_INVALID", `${path}: invalid control file: ${(error as Error).message}`, { cause: error, details: { path } });
    }

    const result: DebStructure = { control: paragraph!, controlText, controlFiles, controlCompression, dataCompression };
    if (options.listFiles) {
      const files: DebFileEntry[] = [];
      const dataSource = `${path}:${data!.name}`;
      for await (const { entry } of iterateTar(decompress(memberChunks(path, data!), dataCompression, { source: dataSource }), {
        source: dataSource,
      })) {
        files.push(entry);
      }
      result.files = files;
    }
    return result;
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw debianError("DEB_INVALID", `${path}: ${(error as Error).message}`, { cause: error, details: { path } });
  } finally {
    await handle.close();
  }
}

function isControlName(name: string): boolean {
  return name === "./control" || name === "control";
}

function memberCompression(path: string, member: ArMember): Compression {
  const suffix = member.name.replace(/^(control|data)\.tar/, "");
  const compression = compressionFromSuffix(suffix);
  const allowed = member.name.startsWith("control") ? ["none", "gzip", "xz", "zstd"] : ["none", "gzip", "xz", "zstd", "bzip2", "lzma"];
  if (compression === undefined || !allowed.includes(compression)) {
    throw debianError("DEB_COMPRESSION_UNSUPPORTED", `${path}: member ${member.name} uses an unknown compression`, {
      details: { path, member: member.name },
    });
  }
  return compression;
}

async function* memberChunks(path: string, member: ArMember): AsyncGenerator<Uint8Array> {
  if (member.size === 0) return;
  const stream = createReadStream(path, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    stream.destroy();
  }
}
