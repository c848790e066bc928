import { resolve } from "node:path";
import type { CodedError } from "@debian-bootc/core";

/**
 * Messages leave the hub (HTTP errors, task errors, events) without its host paths: a stored object is
 * named `artifact <sha256>`, anything else under the data directory `<data>/...`. Libraries name the
 * files they fail on, and those are often the hub's own.
 */
export function withoutHostPaths(text: string, dataDir: string): string {
  let out = text;
  for (const dir of new Set([resolve(dataDir), dataDir])) {
    if (dir === "" || dir === "/") continue;
    out = out
      .split(`${dir}/objects/`)
      .map((part, i) => (i === 0 ? part : part.replace(/^[0-9a-f]{2}\/([0-9a-f]{64})/, "artifact $1")))
      .join("")
      .split(dir)
      .join("<data>");
  }
  return out;
}

function scrub(value: unknown, dataDir: string): unknown {
  if (typeof value === "string") return withoutHostPaths(value, dataDir);
  if (Array.isArray(value)) return value.map((v) => scrub(v, dataDir));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, dataDir)]));
  return value;
}

/** The `{code, message, hint, details}` JSON of an error, without the hub's paths. */
export function publicErrorJson(error: CodedError, dataDir: string): Record<string, unknown> {
  return scrub(error.toJSON(), dataDir) as Record<string, unknown>;
}

/** A task's `{code, message}` error as stored and shown to anyone. */
export function publicTaskError(error: { code: string; message: string }, dataDir: string): { code: string; message: string } {
  return { code: error.code, message: withoutHostPaths(error.message, dataDir) };
}
