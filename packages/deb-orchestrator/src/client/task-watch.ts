import type { TaskDetail, TaskView } from "../api/tasks.js";
import type { HubClient } from "./hub-client.js";

/** States a task does not leave. */
export const TERMINAL_TASK_STATES: ReadonlySet<string> = new Set(["closed", "failed", "canceled"]);

/**
 * Wakes whoever waits when the hub's event stream (server-sent events) says something changed; a wait
 * also ends after its cap, so a stream that is down or quiet behind a proxy costs a little latency, never
 * a hang. One instance can serve several watchers of the same hub.
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
          const response = await this.client.streamEvents({}, { timeoutMs: 24 * 3600_000, signal: this.controller.signal });
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

export interface WatchTaskOptions {
  /** Called once for every state a task of the tree (children first, then the top task) is seen in. */
  onChange?: (task: TaskView) => void;
  /** Called after every read of the tree (for example to tail a log). */
  onRead?: (task: TaskDetail) => Promise<void> | void;
  /** Ends the watch early: the answer is the tree as last read, not terminal. */
  signal?: AbortSignal;
  /** A shared event stream (several watchers of one hub); by default one of its own, closed at the end. */
  events?: HubEvents;
  /** Longest wait between two reads when the event stream says nothing (default 5 s). */
  capMs?: number;
}

/**
 * Follow a task tree until its top task ends: the hub's event stream says when something changed, then
 * the tree is read again (no fixed polling interval). Returns the top task as last read: terminal unless
 * `signal` aborted the watch.
 */
export async function watchTask(client: HubClient, id: number, options: WatchTaskOptions = {}): Promise<TaskDetail> {
  const seen = new Map<number, string>();
  const report = (task: TaskView) => {
    if (seen.get(task.id) === task.state) return;
    seen.set(task.id, task.state);
    options.onChange?.(task);
  };
  const events = options.events ?? new HubEvents(client);
  try {
    for (;;) {
      const task = await client.getTask(id);
      for (const child of task.children) report(child);
      report(task);
      await options.onRead?.(task);
      if (TERMINAL_TASK_STATES.has(task.state) || options.signal?.aborted) return task;
      await events.next(options.capMs ?? 5000, options.signal);
    }
  } finally {
    if (!options.events) await events.close();
  }
}

/** One line for a task's state: `task 12 (buildArch amd64): open on host1`. */
export function describeTaskState(task: TaskView): string {
  const what = `${task.method}${task.arch ? ` ${task.arch}` : ""}`;
  return `task ${task.id} (${what}): ${task.state}${task.host ? ` on ${task.host}` : ""}${task.error ? `: ${task.error.code}: ${task.error.message}` : ""}`;
}

/** Bytes of a task's log from an offset: the text and the offset to read from next. */
export async function readTaskLog(client: HubClient, task: number, name: string, offset: number): Promise<{ text: string; next: number }> {
  const response = await client.taskLog(task, name, { offset });
  const text = await response.text();
  const next = Number(response.headers.get("x-next-offset") ?? offset + Buffer.byteLength(text));
  return { text, next: Number.isFinite(next) ? next : offset };
}
