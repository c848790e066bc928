import { CodedError, isCodedError } from "@debian-bootc/core";
import type { HubClient, TaskView, WhyAnswer } from "@debian-bootc/deb-orchestrator";
import { composeError } from "../errors.js";

/** The hub's answers the build phase reads (the JSON API's shapes, see docs/openapi.json). */

export type TaskDetail = TaskView & { children: TaskView[]; logs: { name: string; size: number }[] };

export interface BuildInfo {
  id: number;
  name: string;
  version: string;
  state: "building" | "complete" | "failed" | "canceled" | "deleted";
  task: number | null;
  binaries: { name: string; version: string; arch: string; filename: string; sha256: string; size: number }[];
  tags: string[];
  buildroots: { id: number; arch: string; task: number | null; installed: unknown[] }[];
}

export interface TagInfo {
  name: string;
  arches: string[];
  parents: string[];
  repo: { number: number; createdAt: number } | null;
}

export const TERMINAL = new Set(["closed", "failed", "canceled"]);

function notFound(error: unknown): boolean {
  return error instanceof CodedError && error.category === "not-found";
}

/** A build by name and version, or undefined when the hub has none. */
export async function findBuild(client: HubClient, name: string, version: string): Promise<BuildInfo | undefined> {
  try {
    return await client.get<BuildInfo>(`/api/v1/builds/${encodeURIComponent(`${name}/${version}`)}`);
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

export async function findTag(client: HubClient, name: string): Promise<TagInfo | undefined> {
  try {
    return await client.get<TagInfo>(`/api/v1/tags/${encodeURIComponent(name)}`);
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

/**
 * The target's build and destination tags; a missing target is created (with its tags: the build tag for
 * the definition's arches, the destination tag inheriting from it), as `deb-orchestrator add-tag` and
 * `add-target` would.
 */
export async function ensureTarget(
  client: HubClient,
  spec: { target: string; buildTag?: string; destTag?: string; arches: readonly string[] },
  log: (msg: string, data: object) => void,
): Promise<{ buildTag: string; destTag: string; created: boolean }> {
  const targets = await client.get<{ name: string; buildTag: string; destTag: string }[]>("/api/v1/targets");
  const existing = targets.find((t) => t.name === spec.target);
  if (existing) return { buildTag: existing.buildTag, destTag: existing.destTag, created: false };
  const buildTag = spec.buildTag ?? `${spec.target}-build`;
  const destTag = spec.destTag ?? spec.target;
  try {
    if (!(await findTag(client, buildTag))) await client.post("/api/v1/tags", { name: buildTag, arches: [...spec.arches] });
    if (!(await findTag(client, destTag)))
      await client.post("/api/v1/tags", { name: destTag, arches: [...spec.arches], parents: [buildTag] });
    await client.post("/api/v1/targets", { name: spec.target, buildTag, destTag });
  } catch (error) {
    if (isCodedError(error))
      throw composeError("ORCHESTRATOR_FAILED", `target ${spec.target} does not exist on the hub and cannot be created: ${error.message}`, {
        cause: error,
        hint: `create it with deb-orchestrator add-tag ${buildTag}; add-tag ${destTag} --parent ${buildTag}; add-target ${spec.target} ${buildTag} ${destTag} (or use a token with the tag permission)`,
      });
    throw error;
  }
  log("created the target and its tags", { target: spec.target, buildTag, destTag });
  return { buildTag, destTag, created: true };
}

export function getTask(client: HubClient, id: number): Promise<TaskDetail> {
  return client.get<TaskDetail>(`/api/v1/tasks/${id}`);
}

export function whyTask(client: HubClient, id: number): Promise<WhyAnswer> {
  return client.get<WhyAnswer>(`/api/v1/tasks/${id}/why`);
}

/** Bytes of a task's log from an offset: the text and the next offset. */
export async function readLog(client: HubClient, task: number, name: string, offset: number): Promise<{ text: string; next: number }> {
  const response = await client.raw("GET", `/api/v1/tasks/${task}/logs/${encodeURIComponent(name)}?offset=${offset}`);
  const text = await response.text();
  const next = Number(response.headers.get("x-next-offset") ?? offset + Buffer.byteLength(text));
  return { text, next: Number.isFinite(next) ? next : offset };
}

/**
 * Wakes whoever waits when the hub's event stream (server-sent events) says something changed; a wait
 * also ends after `capMs`, so a stream that is down or quiet costs a little latency, never a hang.
 */
export class HubEvents {
  private waiters: (() => void)[] = [];
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly client: HubClient) {}

  private start(): void {
    this.running ??= (async () => {
      while (!this.controller.signal.aborted) {
        try {
          const response = await this.client.raw("GET", "/api/v1/events/stream", {
            timeoutMs: 24 * 3600_000,
            signal: this.controller.signal,
          });
          const reader = response.body!.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            if (decoder.decode(value, { stream: true }).includes("data:")) this.wake();
          }
        } catch {
          if (this.controller.signal.aborted) return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    })();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolve on the next event, after capMs, or when signal aborts. */
  next(capMs: number, signal?: AbortSignal): Promise<void> {
    this.start();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, capMs);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.push(done);
    });
  }

  async close(): Promise<void> {
    this.controller.abort();
    this.wake();
    await this.running?.catch(() => {});
  }
}
