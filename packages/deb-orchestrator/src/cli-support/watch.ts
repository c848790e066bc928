import type { Output } from "@debian-bootc/core";
import type { HubClient } from "../client/hub-client.js";
import { describeTaskState, watchTask } from "../client/task-watch.js";
import type { TaskDetail, TaskView } from "../hub/queries.js";

/**
 * A client verb's wait for a task tree: prints each state change (unless `out` is undefined, as with
 * --json); `onChange` sees every change too. Returns the final top task.
 */
export function printTaskProgress(
  client: HubClient,
  id: number,
  out: Output | undefined,
  signal?: AbortSignal,
  onChange?: (task: TaskView) => void,
): Promise<TaskDetail> {
  return watchTask(client, id, {
    onChange: (task) => {
      out?.line(describeTaskState(task));
      onChange?.(task);
    },
    ...(signal ? { signal } : {}),
  });
}
