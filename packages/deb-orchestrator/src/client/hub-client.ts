import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CodedError, type ErrorCategory } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";

export interface HubClientOptions {
  url: string;
  token?: string;
  /** Per-request timeout for ordinary calls (long-polls add their wait). */
  timeoutMs?: number;
}

type RequestBody = NonNullable<RequestInit["body"]>;

function categoryForStatus(status: number): ErrorCategory {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 409) return "conflict";
  if (status === 413) return "too-large";
  if (status === 429) return "too-many";
  if (status === 503) return "environment";
  if (status === 504) return "timeout";
  if (status >= 400 && status < 500) return "input";
  return "environment";
}

/** Typed calls to a hub's JSON API; hub errors come back as CodedErrors with the hub's code. */
export class HubClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: HubClientOptions) {
    this.url = options.url.replace(/\/$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async raw(
    method: string,
    path: string,
    init: { body?: RequestBody; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; duplex?: "half" } = {},
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(init.timeoutMs ?? this.timeoutMs);
    const signal = init.signal ? AbortSignal.any([timeout, init.signal]) : timeout;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        body: init.body,
        headers: this.headers(init.headers),
        signal,
        ...(init.duplex ? { duplex: init.duplex } : {}),
      } as RequestInit);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw orchestratorError(
        "HUB_UNREACHABLE",
        `hub ${this.url} did not answer ${method} ${path}: ${(error as Error).cause ?? (error as Error).message}`,
        { cause: error },
      );
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      let body: { code?: string; message?: string; hint?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON
      }
      throw new CodedError(
        body.code ?? "HUB_ERROR",
        categoryForStatus(response.status),
        body.message ?? `hub answered ${response.status} to ${method} ${path}`,
        {
          hint: body.hint,
          details: { status: response.status },
        },
      );
    }
    return response;
  }

  async call<T>(method: string, path: string, body?: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const response = await this.raw(method, path, {
      ...options,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }
  post<T>(path: string, body: unknown = {}, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return this.call<T>("POST", path, body, options);
  }

  /** Upload a file, streamed, declaring its sha256 and size (computed first). */
  /** Upload a file; `known` (e.g. from deb-mock's result.json) spares hashing it again, and the hub checks it on receipt. */
  async uploadFile(path: string, known?: { sha256: string; size: number }): Promise<{ name: string; sha256: string; size: number }> {
    const { sha256, size } = known ?? (await hashFileWith(path, ["sha256"]));
    await this.raw("PUT", `/api/v1/artifacts/${sha256}?size=${size}`, {
      body: Readable.toWeb(createReadStream(path)) as unknown as RequestBody,
      headers: { "content-type": "application/octet-stream" },
      duplex: "half",
      timeoutMs: Math.max(this.timeoutMs, 10 * 60_000),
    });
    return { name: basename(path), sha256, size };
  }

  async uploadBuffer(data: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash("sha256").update(data).digest("hex");
    await this.raw("PUT", `/api/v1/artifacts/${sha256}?size=${data.length}`, {
      body: new Uint8Array(data),
      headers: { "content-type": "application/octet-stream" },
    });
    return { sha256, size: data.length };
  }

  /** Download an artifact to a path, checking its sha256; written to a temp name and renamed. */
  async download(sha256: string, path: string, urlPath = `/api/v1/artifacts/${sha256}`): Promise<void> {
    const response = await this.raw("GET", urlPath, { timeoutMs: Math.max(this.timeoutMs, 10 * 60_000) });
    if (!response.body) throw orchestratorError("HUB_ERROR", `empty body for ${urlPath}`);
    const tmp = `${path}.part`;
    const hash = createHash("sha256");
    try {
      await pipeline(
        Readable.fromWeb(response.body as never),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      const actual = hash.digest("hex");
      if (actual !== sha256) throw orchestratorError("ARTIFACT_MISMATCH", `downloaded ${urlPath} has sha256 ${actual}, expected ${sha256}`);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
