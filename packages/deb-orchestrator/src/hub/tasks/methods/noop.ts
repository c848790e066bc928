import { methodCapability } from "../../../api/tasks.js";
import type { Principal } from "../../auth.js";
import type { HubContext } from "../../context.js";
import { checkArch } from "../../validate.js";
import * as transition from "../transitions.js";
import { DEFAULT_PRIORITY } from "./build.js";

/** noop: a task builders run without a build (benchmarks, tests, checking a builder). */
export async function submitNoop(
  ctx: HubContext,
  principal: Principal,
  request: { arch: string; priority?: number; sleepMs?: number },
): Promise<number> {
  checkArch(request.arch);
  const id = await ctx.db.transaction().execute((trx) =>
    transition.insert(trx, ctx, {
      parentId: null,
      label: null,
      method: "noop",
      arch: request.arch,
      priority: request.priority ?? DEFAULT_PRIORITY,
      ownerId: principal.userId,
      request: { sleepMs: request.sleepMs ?? 0 },
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.dispatcher.wake(request.arch, methodCapability.noop);
  ctx.bus.ping();
  return id;
}
