import type { Output } from "@debian-bootc/core";
import type { HubClient } from "../client/hub-client.js";
import type { TaskView } from "../hub/queries.js";

type TaskDetail = TaskView & { children: TaskView[] };

/**
 * Follow a task tree until it ends: the hub's event stream (SSE) says when something changed, then the
 * tree is read again; no polling interval. Prints each state change; returns the final top task.
 */
export async function watchTask(client: HubClient, id: number, out: Output | undefined, signal?: AbortSignal): Promise<TaskDetail> {
  const seen = new Map<number, string>();
  const report = (task: TaskView) => {
    if (seen.get(task.id) === task.state) return;
    seen.set(task.id, task.state);
    const what = `${task.method}${task.arch ? ` ${task.arch}` : ""}`;
    out?.line(
      `task ${task.id} (${what}): ${task.state}${task.host ? ` on ${task.host}` : ""}${task.error ? `: ${task.error.code}: ${task.error.message}` : ""}`,
    );
  };
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const task = await client.get<TaskDetail>(`/api/v1/tasks/${id}`);
      for (const child of task.children) report(child);
      report(task);
      if (["closed", "failed", "canceled"].includes(task.state)) return task;
      if (signal?.aborted) return task;
      await nextEvent(client, controller.signal);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    controller.abort();
  }
}

let stream: { reader: ReadableStreamDefaultReader<Uint8Array>; controller: AbortController } | undefined;

async function nextEvent(client: HubClient, signal: AbortSignal): Promise<void> {
  if (!stream) {
    const controller = new AbortController();
    signal.addEventListener("abort", () => controller.abort(), { once: true });
    const response = await client.raw("GET", "/api/v1/events/stream", { timeoutMs: 24 * 3600_000, signal: controller.signal });
    stream = { reader: response.body!.getReader(), controller };
    signal.addEventListener("abort", () => {
      stream?.controller.abort();
      stream = undefined;
    });
  }
  // any data line means the log grew; a 5 s cap covers a stream that went quiet behind a proxy
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
  await Promise.race([
    (async () => {
      for (;;) {
        const { value, done } = await stream!.reader.read();
        if (done) {
          stream = undefined;
          return;
        }
        if (new TextDecoder().decode(value).includes("data:")) return;
      }
    })().catch(() => {
      stream = undefined;
    }),
    timeout,
  ]);
}
