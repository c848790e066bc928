import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const listHostsCommand: CommandSpec = {
  name: "list-hosts",
  summary: "List builder hosts: arches, capacity, running tasks, last check-in.",
  async run(ctx) {
    const hosts = await (await clientFor(ctx)).listHosts();
    emit(ctx, hosts, () =>
      table(
        ["host", "arches", "enabled", "tasks", "capacity", "last check-in"],
        hosts.map((h) => [h.name, h.arches.join(","), h.enabled ? "yes" : "no", h.tasks, h.capacity, when(h.lastCheckin)]),
      ),
    );
    return 0;
  },
};
