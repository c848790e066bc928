import type { CommandSpec } from "@debian-bootc/core";
import type { WhyAnswer } from "../api/tasks.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const whyCommand: CommandSpec = {
  name: "why",
  summary: "One answer to 'why is this waiting or failing' for a task id or a build (NAME/VERSION or build:ID).",
  description:
    "Follows the task tree to the step that matters: no builder for the architecture, all builders busy (and how many tasks are ahead), a disabled or silent builder, a build held in dep-wait (what is missing and which pending build, if any, produces it), a failed step with its error and the tail of build.log, or the build-dependencies apt could not satisfy (parsed from deb-mock's result.json).",
  args: [{ name: "what", description: "a task id, NAME/VERSION of a build, or build:ID" }],
  examples: ["deb-orchestrator why 42", "deb-orchestrator why hello/2.10-3"],
  async run(ctx) {
    const what = ctx.args[0] ?? "";
    const client = await clientFor(ctx);
    const answer: WhyAnswer & { details?: { buildLogTail?: string; failure?: { relation?: string } } } = /^[0-9]+$/.test(what)
      ? await client.whyTask(Number(what))
      : await client.whyBuild(what.startsWith("build:") ? what.slice(6) : what);
    emit(ctx, answer, () =>
      [
        answer.reason,
        ...(answer.details?.failure?.relation ? [`Unsatisfiable: ${answer.details.failure.relation}`] : []),
        ...(answer.details?.buildLogTail ? ["", "Tail of build.log:", answer.details.buildLogTail.trimEnd()] : []),
      ].join("\n"),
    );
    return 0;
  },
};
