import type { FastifyReply } from "fastify";
import type { HubContext } from "../context.js";
import type { HostIdentity } from "../hosts.js";
import { releaseTask } from "./reports.js";
import type { TaskRow } from "./transitions.js";

export interface ClaimedTaskView {
  id: number;
  method: string;
  arch: string | null;
  state: string;
  request: unknown;
  attempts: number;
}

/**
 * Claim answers must reach the builder or go back to the queue. `gone` aborts when the connection closes
 * before the answer was written (the builder stopped or gave up: a long-poll stops waiting). `hand`
 * turns a claimed task into the answer, unless the connection is gone already, and if the answer then
 * cannot be written to the connection the task is freed at once (reason `undelivered`) instead of
 * waiting for its lease to lapse.
 */
export function guardDelivery(
  ctx: HubContext,
  reply: { raw: Pick<FastifyReply["raw"], "on" | "writableFinished"> },
  host: HostIdentity,
  session: string,
): { gone: AbortSignal; hand(task: TaskRow | undefined): ClaimedTaskView | null } {
  const gone = new AbortController();
  let handed: TaskRow | undefined;
  const giveBack = (task: TaskRow) => {
    const pending = releaseTask(ctx, host, task.id, session, "undelivered")
      .then(() => ctx.logger.warn({ task: task.id, host: host.name }, "claim answer not delivered; task freed"))
      .catch((error: Error) => ctx.logger.warn({ task: task.id, err: error.message }, "could not free an undelivered task"))
      .finally(() => ctx.inflight.delete(pending));
    ctx.inflight.add(pending);
  };
  reply.raw.on("close", () => {
    if (reply.raw.writableFinished) return;
    gone.abort();
    if (handed) giveBack(handed);
    handed = undefined;
  });
  return {
    gone: gone.signal,
    hand(task) {
      if (!task) return null;
      if (gone.signal.aborted) {
        giveBack(task);
        return null;
      }
      handed = task;
      return {
        id: task.id,
        method: task.method,
        arch: task.arch,
        state: task.state,
        request: JSON.parse(task.request) as unknown,
        attempts: task.attempts,
      };
    },
  };
}
