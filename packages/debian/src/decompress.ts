import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { isCodedError } from "@debian-bootc/core";
import { Decompress as ZstdDecompress } from "fzstd";
import xzDecompress from "xz-decompress";
import { debianError } from "./errors.js";

// a webpack-built CommonJS bundle: its named exports are only reachable through the default import
const { XzReadableStream } = xzDecompress;

/**
 * Streaming decompression without subprocesses: gzip through node:zlib, xz through xz-decompress (xz-embedded
 * compiled to WebAssembly) and zstd through fzstd (pure JS, block by block). Each takes and yields chunks,
 * so memory stays bounded by the codec's window whatever the size of the data.
 */
export type Compression = "none" | "gzip" | "xz" | "zstd" | "bzip2" | "lzma";

/** Compression named by a file-name suffix (`data.tar.xz`, `Packages.gz`), or undefined for an unknown one. */
export function compressionFromSuffix(suffix: string): Compression | undefined {
  switch (suffix) {
    case "":
      return "none";
    case ".gz":
      return "gzip";
    case ".xz":
      return "xz";
    case ".zst":
      return "zstd";
    case ".bz2":
      return "bzip2";
    case ".lzma":
      return "lzma";
    default:
      return undefined;
  }
}

export interface DecompressOptions {
  /** Name shown in errors. */
  source?: string;
  /** Make the error thrown for corrupt data (default: DEB_INVALID). */
  fail?: (message: string, cause: unknown) => Error;
  /** Refuse zstd frames whose window exceeds this many bytes (default 128 MiB, zstd's own default limit). */
  maxZstdWindow?: number;
}

const defaultFail = (message: string, cause: unknown) => debianError("DEB_INVALID", message, { cause });

/** Decompress a stream of chunks. Corrupt or truncated data raises the `fail` error (DEB_INVALID by default). */
export async function* decompress(
  input: AsyncIterable<Uint8Array>,
  compression: Compression,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const source = options.source ?? "input";
  const fail = options.fail ?? defaultFail;
  const wrap = (error: unknown): Error => {
    if (isCodedError(error)) return error;
    const why = error instanceof Error ? error.message : String(error);
    return fail(`${source}: corrupt ${compression} data: ${why}`, error);
  };
  switch (compression) {
    case "none":
      yield* input;
      return;
    case "gzip": {
      const gunzip = createGunzip();
      // pipeline forwards errors both ways and tears the source down when we stop early
      pipeline(Readable.from(input), gunzip, () => undefined);
      try {
        for await (const chunk of gunzip) yield chunk as Buffer;
      } catch (error) {
        throw wrap(error);
      } finally {
        gunzip.destroy();
      }
      return;
    }
    case "xz": {
      yield* decompressXz(input, wrap);
      return;
    }
    case "zstd": {
      yield* decompressZstd(input, wrap, options.maxZstdWindow ?? 1 << 27, source);
      return;
    }
    default:
      throw debianError("DEB_COMPRESSION_UNSUPPORTED", `${source}: ${compression} compression is not supported by this reader`, {
        hint: "only uncompressed, gzip, xz and zstd data can be read",
        details: { source, compression },
      });
  }
}

async function* decompressXz(input: AsyncIterable<Uint8Array>, wrap: (e: unknown) => Error): AsyncGenerator<Uint8Array> {
  let sawInput = false;
  const counted = (async function* () {
    for await (const chunk of input) {
      if (chunk.length > 0) sawInput = true;
      yield chunk;
    }
  })();
  const reader = new XzReadableStream(ReadableStream.from(counted) as ReadableStream<Uint8Array>).getReader();
  let finished = false;
  try {
    for (;;) {
      let result: Awaited<ReturnType<typeof reader.read>>;
      try {
        result = await reader.read();
      } catch (error) {
        finished = true; // an errored stream has released its decoder already
        if (!sawInput) throw wrap(new Error("empty input"));
        throw wrap(error);
      }
      if (result.done) {
        finished = true;
        return;
      }
      if (result.value.length > 0) yield result.value;
    }
  } finally {
    // xz-decompress serialises decoders behind one lock held until a stream ends or is cancelled:
    // a stream abandoned half-way must be cancelled or the next xz reader in this process waits forever.
    if (!finished) await reader.cancel().catch(() => undefined);
    // the decoder stops at the end of the xz stream: close our input too (its file descriptor) if it had more
    await counted.return(undefined).catch(() => undefined);
  }
}

async function* decompressZstd(
  input: AsyncIterable<Uint8Array>,
  wrap: (e: unknown) => Error,
  maxWindow: number,
  source: string,
): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new ZstdDecompress((data) => {
    if (data.length > 0) out.push(data);
  });
  const guard = new ZstdFrameGuard(maxWindow, source, wrap);
  let any = false;
  try {
    for await (const chunk of input) {
      if (chunk.length === 0) continue;
      any = true;
      guard.feed(chunk);
      decoder.push(chunk);
      while (out.length > 0) yield out.shift()!;
    }
    if (!any) throw new Error("empty input");
    guard.finish();
    decoder.push(new Uint8Array(0), true);
    while (out.length > 0) yield out.shift()!;
  } catch (error) {
    throw wrap(error);
  }
}

/**
 * Walks zstd frame and block headers ahead of the decoder, so that a hostile header (a window of gigabytes,
 * a reserved block type) is refused before fzstd allocates or loops on it.
 */
class ZstdFrameGuard {
  #state: "magic" | "skippable-size" | "descriptor" | "header-rest" | "block-header" = "magic";
  #buf: number[] = [];
  #need = 4;
  #skip = 0;
  #afterSkip: "block-header" | "magic" = "magic";
  #checksum = false;
  #blockMax = 0;
  #lastBlock = false;

  constructor(
    readonly maxWindow: number,
    readonly source: string,
    readonly wrap: (e: unknown) => Error,
  ) {}

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        if (this.#skip === 0) this.#enter(this.#afterSkip);
        continue;
      }
      this.#buf.push(chunk[i]!);
      i++;
      if (this.#buf.length === this.#need) this.#process();
    }
  }

  finish(): void {
    if (this.#state !== "magic" || this.#buf.length > 0 || this.#skip > 0) throw new Error("truncated zstd frame");
  }

  #enter(state: "magic" | "block-header"): void {
    this.#state = state;
    this.#buf = [];
    this.#need = state === "magic" ? 4 : 3;
  }

  #process(): void {
    const b = this.#buf;
    switch (this.#state) {
      case "magic": {
        const magic = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
        if (magic === 0xfd2fb528) {
          this.#state = "descriptor";
          this.#need = 5;
        } else if ((magic & 0xfffffff0) === 0x184d2a50) {
          this.#state = "skippable-size";
          this.#need = 8;
        } else throw new Error(`bad zstd frame magic 0x${magic.toString(16)}`);
        return;
      }
      case "skippable-size": {
        const size = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
        this.#afterSkip = "magic";
        this.#buf = [];
        if (size === 0) this.#enter("magic");
        else this.#skip = size;
        return;
      }
      case "descriptor": {
        const fhd = b[4]!;
        if (fhd & 0x08) throw new Error("reserved bit set in zstd frame header");
        const single = (fhd >> 5) & 1;
        const fcsFlag = fhd >> 6;
        const dictBytes = [0, 1, 2, 4][fhd & 3]!;
        const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
        this.#checksum = ((fhd >> 2) & 1) === 1;
        this.#need = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
        this.#state = "header-rest";
        if (this.#need === b.length) this.#process();
        return;
      }
      case "header-rest": {
        const fhd = b[4]!;
        const single = (fhd >> 5) & 1;
        const fcsFlag = fhd >> 6;
        const dictBytes = [0, 1, 2, 4][fhd & 3]!;
        if (dictBytes > 0) {
          let dict = 0;
          for (let k = 0; k < dictBytes; k++) dict += b[5 + (single ? 0 : 1) + k]! * 2 ** (8 * k);
          if (dict !== 0) throw new Error("zstd frames that need a dictionary are not supported");
        }
        let window: number;
        if (single) {
          const fcsBytes = fcsFlag === 0 ? 1 : 1 << fcsFlag;
          let fcs = 0;
          for (let k = 0; k < fcsBytes; k++) fcs += b[5 + dictBytes + k]! * 2 ** (8 * k);
          if (fcsFlag === 1) fcs += 256;
          window = fcs;
        } else {
          const wd = b[5]!;
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        }
        if (window > this.maxWindow) {
          throw debianError(
            "DEB_COMPRESSION_UNSUPPORTED",
            `${this.source}: zstd window of ${window} bytes exceeds the limit of ${this.maxWindow}`,
            {
              hint: "frames compressed with --long beyond 128 MiB are refused, as zstd itself does by default",
            },
          );
        }
        this.#blockMax = Math.min(window, 128 * 1024);
        this.#enter("block-header");
        return;
      }
      case "block-header": {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        this.#lastBlock = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw new Error("reserved zstd block type");
        if (size > this.#blockMax && type !== 1) throw new Error(`zstd block of ${size} bytes exceeds the maximum of ${this.#blockMax}`);
        if (type === 1 && size > this.#blockMax)
          throw new Error(`zstd RLE block of ${size} bytes exceeds the maximum of ${this.#blockMax}`);
        const content = type === 1 ? 1 : size;
        const trailer = this.#lastBlock && this.#checksum ? 4 : 0;
        this.#afterSkip = this.#lastBlock ? "magic" : "block-header";
        this.#buf = [];
        this.#skip = content + trailer;
        if (this.#skip === 0) this.#enter(this.#afterSkip);
        return;
      }
    }
  }
}
