import { hubMethods } from "../../api/tasks.js";
import { setBuildState } from "../catalog/builds.js";
import type { HubContext } from "../context.js";
import { stepOf } from "./methods/registry.js";
import * as transition from "./transitions.js";

/** What a method's step may do besides reading and writing the database: end a task, step another. */
export interface Stepper {
  readonly ctx: HubContext;
  finish(
    taskId: number,
    state: "closed" | "failed" | "canceled",
    extra?: { error?: { code: string; message: string }; result?: unknown },
  ): Promise<void>;
  advance(taskId: number): void;
}

/**
 * Drives the tasks the hub runs itself (build, tagBuild, newRepo). Each pass looks at the task and its
 * children in the database and takes the method's next step, so it is safe to run again at any time
 * (after a restart, twice in a row): children are unique per parent and label, and every state change is
 * a compare-and-set (transitions.ts).
 */
export class StepRunner implements Stepper {
  private readonly running = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();

  constructor(readonly ctx: HubContext) {}

  /** Schedule a step for a task; concurrent requests for one task collapse into one more pass. */
  advance(taskId: number): void {
    if (this.running.has(taskId)) {
      this.again.add(taskId);
      return;
    }
    const pass = (async () => {
      do {
        this.again.delete(taskId);
        try {
          await this.step(taskId);
        } catch (error) {
          this.ctx.logger.error({ task: taskId, err: error }, "task step failed");
          await this.failUnexpected(taskId, error).catch(() => {});
        }
      } while (this.again.has(taskId));
    })().finally(() => this.running.delete(taskId));
    this.running.set(taskId, pass);
  }

  /** Wait until no step is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  /** Resume every open hub-side task (after a restart). */
  async resumeAll(): Promise<void> {
    const open = await this.ctx.db
      .selectFrom("tasks")
      .select("id")
      .where("state", "=", "open")
      .where("method", "in", [...hubMethods])
      .execute();
    for (const row of open) this.advance(row.id);
  }

  private async failUnexpected(taskId: number, error: unknown): Promise<void> {
    const coded = error as { code?: string; message?: string; category?: string };
    if (coded.category === "environment" || coded.category === "internal" || coded.code === undefined) return; // retried by the sweep
    await this.finish(taskId, "failed", { error: { code: coded.code, message: String(coded.message) } });
  }

  private async step(taskId: number): Promise<void> {
    const task = await this.ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
    if (task?.state !== "open") return;
    await stepOf(task)?.(this);
  }

  /** End a hub-side task; a build it was making ends with it (unless it closed: tagging follows). */
  async finish(
    taskId: number,
    state: "closed" | "failed" | "canceled",
    extra: { error?: { code: string; message: string }; result?: unknown } = {},
  ): Promise<void> {
    const ended = await this.ctx.db.transaction().execute(async (trx) => {
      const task = await transition.end(trx, this.ctx, taskId, state, { userId: null, ...extra });
      if (task && task.method === "build" && task.build_id !== null && state !== "closed")
        await setBuildState(trx, this.ctx, task.build_id, state, null);
      return task;
    });
    if (ended) {
      this.ctx.bus.ping();
      if (ended.parent_id !== null) this.advance(ended.parent_id);
    }
  }
}
