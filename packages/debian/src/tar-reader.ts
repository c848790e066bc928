import { debianError } from "./errors.js";

/**
 * A small streaming tar reader for the members of a .deb: POSIX ustar, GNU long names (`L`/`K`) and pax
 * extended headers (`x`/`g`). It takes decompressed chunks, yields one entry at a time, and keeps only the
 * bodies a caller asks for (bounded), so listing a data.tar of gigabytes needs a few kilobytes.
 */
export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo";

export interface TarEntry {
  /** The member name exactly as stored (dpkg-deb writes `./usr/bin/hello`, directories end in `/`). */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Size of the data: 0 for everything but regular files. */
  size: number;
  /** Modification time in seconds since the epoch. */
  mtime: number;
  /** Target of a symbolic or hard link. */
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
}

export interface TarReadOptions {
  /** Name shown in errors, for example `hello.deb:data.tar.xz`. */
  source?: string;
  /** Keep the body of entries for which this returns true (up to maxBodySize). */
  keepBody?: (entry: TarEntry) => boolean;
  /** Largest body kept in memory (default 16 MiB). */
  maxBodySize?: number;
  /** Largest GNU long name or pax header accepted (default 1 MiB). */
  maxMetaSize?: number;
}

export interface TarItem {
  entry: TarEntry;
  body?: Buffer;
}

const BLOCK = 512;

/** Pull-style reader of exact byte counts over a chunk iterator. */
export class ByteReader {
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #done = false;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(readonly iterator: AsyncIterator<Uint8Array>) {}

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#done) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#chunk = next.value;
      this.#pos = 0;
    }
    return true;
  }

  /** Exactly n bytes, or fewer when the data ends first. */
  async read(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n && (await this.#fill())) {
      const take = Math.min(n - got, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    this.offset += got;
    return got === n ? out : out.subarray(0, got);
  }

  /** Skip n bytes; returns how many were really skipped. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.#fill())) {
      const take = Math.min(left, this.#chunk.length - this.#pos);
      this.#pos += take;
      left -= take;
    }
    this.offset += n - left;
    return n - left;
  }
}

/** A path that would land outside the extraction root: absolute, or with a `..` component. */
export function isUnsafeMemberPath(path: string): boolean {
  if (path.startsWith("/")) return true;
  return path.split("/").some((part) => part === "..");
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString("utf8", start, end === -1 || end > start + length ? start + length : end);
}

export async function* iterateTar(chunks: AsyncIterable<Uint8Array>, options: TarReadOptions = {}): AsyncGenerator<TarItem> {
  const source = options.source ?? "tar";
  const maxBody = options.maxBodySize ?? 16 * 1024 * 1024;
  const maxMeta = options.maxMetaSize ?? 1024 * 1024;
  const iterator = chunks[Symbol.asyncIterator]();
  const reader = new ByteReader(iterator);
  const fail = (why: string, offset = reader.offset): never => {
    throw debianError("DEB_INVALID", `${source}: ${why} (at byte ${offset} of the tar stream)`, { details: { source, offset } });
  };
  const number = (block: Buffer, start: number, length: number, what: string): number => {
    const first = block[start]!;
    if (first & 0x80) {
      // GNU base-256: big-endian two's complement with the top bit of the first byte as marker
      if (first === 0xff) fail(`negative ${what} in tar header`);
      let value = first & 0x7f;
      for (let k = 1; k < length; k++) value = value * 256 + block[start + k]!;
      if (!Number.isSafeInteger(value)) fail(`${what} too large in tar header`);
      return value;
    }
    const text = block
      .toString("latin1", start, start + length)
      .replace(/[\0 ]+$/, "")
      .replace(/^ +/, "");
    if (text === "") return 0;
    if (!/^[0-7]+$/.test(text)) fail(`malformed ${what} field ${JSON.stringify(text)} in tar header`);
    return Number.parseInt(text, 8);
  };
  const readBody = async (size: number, what: string): Promise<Buffer> => {
    const data = await reader.read(size);
    if (data.length < size) fail(`truncated ${what}: ${data.length} of ${size} bytes`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if ((await reader.skip(pad)) < pad) fail(`truncated padding after ${what}`);
    return data;
  };

  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  try {
    for (;;) {
      const headerOffset = reader.offset;
      const block = await reader.read(BLOCK);
      if (block.length === 0) return; // end of data without the zero blocks: accepted, as GNU tar does
      if (block.length < BLOCK) fail(`truncated tar header (${block.length} of ${BLOCK} bytes)`, headerOffset);
      if (block.every((b) => b === 0)) return; // end-of-archive marker
      let sum = 0;
      for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 0x20 : block[k]!;
      const stored = number(block, 148, 8, "checksum");
      if (stored !== sum) {
        // some old tars summed signed bytes
        let signed = 0;
        for (let k = 0; k < BLOCK; k++) signed += k >= 148 && k < 156 ? 0x20 : (block[k]! << 24) >> 24;
        if (stored !== signed) fail(`tar header checksum mismatch (stored ${stored}, computed ${sum})`, headerOffset);
      }
      const typeflag = String.fromCharCode(block[156]!);
      const size = number(block, 124, 12, "size");
      if (typeflag === "L" || typeflag === "K" || typeflag === "x" || typeflag === "g") {
        if (size > maxMeta) fail(`tar ${typeflag} header of ${size} bytes exceeds the limit of ${maxMeta}`, headerOffset);
        const data = await readBody(size, `tar ${typeflag} header`);
        if (typeflag === "L") longName = cString(data, 0, data.length);
        else if (typeflag === "K") longLink = cString(data, 0, data.length);
        else if (typeflag === "x") pax = { ...pax, ...parsePax(data, fail) };
        else globalPax = { ...globalPax, ...parsePax(data, fail) };
        continue;
      }
      const magic = block.toString("latin1", 257, 263);
      let path = cString(block, 0, 100);
      if (magic === "ustar\0") {
        const prefix = cString(block, 345, 155);
        if (prefix !== "") path = `${prefix}/${path}`;
      }
      const attrs = { ...globalPax, ...pax };
      if (longName !== undefined) path = longName;
      if (attrs.path !== undefined) path = attrs.path;
      let linkTarget = cString(block, 157, 100);
      if (longLink !== undefined) linkTarget = longLink;
      if (attrs.linkpath !== undefined) linkTarget = attrs.linkpath;
      longName = undefined;
      longLink = undefined;
      pax = {};
      const type = entryType(typeflag);
      if (type === undefined) fail(`unsupported tar entry type ${JSON.stringify(typeflag)} for ${JSON.stringify(path)}`, headerOffset);
      if (path === "") fail("tar entry with an empty name", headerOffset);
      if (path.includes("\0") || isUnsafeMemberPath(path)) {
        throw debianError("DEB_UNSAFE_PATH", `${source}: tar entry ${JSON.stringify(path)} points outside the package`, {
          hint: "member names must be relative and must not contain `..` components",
          details: { source, path, offset: headerOffset },
        });
      }
      if (type === "hardlink" && (linkTarget.includes("\0") || isUnsafeMemberPath(linkTarget))) {
        throw debianError(
          "DEB_UNSAFE_PATH",
          `${source}: hard link ${JSON.stringify(path)} points outside the package (${JSON.stringify(linkTarget)})`,
          {
            details: { source, path, linkTarget, offset: headerOffset },
          },
        );
      }
      const paxNumber = (key: string, fallback: number): number => {
        const value = attrs[key];
        if (value === undefined) return fallback;
        if (!/^-?[0-9]+(\.[0-9]*)?$/.test(value)) fail(`malformed pax ${key} ${JSON.stringify(value)}`, headerOffset);
        return Math.floor(Number(value));
      };
      const dataSize = paxNumber("size", size);
      if (dataSize < 0 || !Number.isSafeInteger(dataSize)) fail(`invalid size ${dataSize} for ${JSON.stringify(path)}`, headerOffset);
      const entry: TarEntry = {
        path,
        type: type!,
        mode: number(block, 100, 8, "mode") & 0o7777,
        uid: paxNumber("uid", number(block, 108, 8, "uid")),
        gid: paxNumber("gid", number(block, 116, 8, "gid")),
        uname: attrs.uname ?? cString(block, 265, 32),
        gname: attrs.gname ?? cString(block, 297, 32),
        size: type === "file" ? dataSize : 0,
        mtime: paxNumber("mtime", number(block, 136, 12, "mtime")),
      };
      if (type === "symlink" || type === "hardlink") entry.linkTarget = linkTarget;
      if (type === "char" || type === "block") {
        entry.devMajor = number(block, 329, 8, "devmajor");
        entry.devMinor = number(block, 337, 8, "devminor");
      }
      // links, devices and fifos carry no data whatever their size field says
      const bodySize = type === "file" || type === "directory" ? dataSize : 0;
      if (options.keepBody?.(entry)) {
        if (bodySize > maxBody) fail(`${JSON.stringify(path)} is ${bodySize} bytes, more than the limit of ${maxBody}`, headerOffset);
        yield { entry, body: await readBody(bodySize, JSON.stringify(path)) };
      } else {
        const total = bodySize + ((BLOCK - (bodySize % BLOCK)) % BLOCK);
        if ((await reader.skip(total)) < total) fail(`truncated data of ${JSON.stringify(path)}`);
        yield { entry };
      }
    }
  } finally {
    await iterator.return?.();
  }
}

function entryType(flag: string): TarEntryType | undefined {
  switch (flag) {
    case "0":
    case "\0":
    case "7":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    default:
      return undefined;
  }
}

/** pax extended header records: `LENGTH KEY=VALUE\n`, LENGTH counting the whole record. */
function parsePax(data: Buffer, fail: (why: string) => never): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) fail("malformed pax record (no length)");
    const lengthText = data.toString("latin1", pos, space);
    if (!/^[0-9]+$/.test(lengthText)) fail(`malformed pax record length ${JSON.stringify(lengthText)}`);
    const length = Number.parseInt(lengthText, 10);
    const end = pos + length;
    if (length <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) fail("malformed pax record (bad length)");
    const record = data.toString("utf8", space + 1, end - 1);
    const eq = record.indexOf("=");
    if (eq <= 0) fail(`malformed pax record ${JSON.stringify(record.slice(0, 40))}`);
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos = end;
  }
  return out;
}
