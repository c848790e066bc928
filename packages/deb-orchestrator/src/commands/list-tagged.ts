import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const listTaggedCommand: CommandSpec = {
  name: "list-tagged",
  summary: "List the builds in a tag (--latest: the latest of each package, with inheritance).",
  args: [{ name: "tag", description: "tag name" }],
  options: [{ flags: "--latest", description: "only the latest build of each package, following inheritance", default: false }],
  async run(ctx) {
    const latest = (ctx.options as { latest: boolean }).latest;
    const rows = await (await clientFor(ctx)).listTagged(ctx.args[0] ?? "", latest ? { latest } : {});
    emit(ctx, rows, () =>
      table(
        ["build", "package", "version", "tag", "tagged"],
        rows.map((r) => [r.buildId, r.name, r.version, r.tag ?? ctx.args[0], when(r.taggedAt)]),
      ),
    );
    return 0;
  },
};
