import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table } from "../cli-support/render.js";

export const listTargetsCommand: CommandSpec = {
  name: "list-targets",
  summary: "List build targets.",
  async run(ctx) {
    const targets = await (await clientFor(ctx)).listTargets();
    emit(ctx, targets, () =>
      table(
        ["target", "build tag", "dest tag"],
        targets.map((t) => [t.name, t.buildTag, t.destTag]),
      ),
    );
    return 0;
  },
};
