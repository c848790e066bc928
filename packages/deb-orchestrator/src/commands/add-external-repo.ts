import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const addExternalRepoCommand: CommandSpec = {
  name: "add-external-repo",
  summary: "Register a Debian suite as an external repository (build input for tags that list it).",
  args: [
    { name: "name", description: "a name for it" },
    { name: "url", description: "the archive's base URL (http, https or file)" },
  ],
  options: [
    { flags: "--suite <suite>", description: "suite or codename", default: "trixie" },
    { flags: "--component <c>", description: "component; several allowed", repeatable: true },
    { flags: "--tag <tag>", description: "also add it to this tag's external repos (after the existing ones)" },
  ],
  async run(ctx) {
    const [name, url] = ctx.args as [string, string];
    const o = ctx.options as { suite: string; component: string[]; tag?: string };
    const client = await clientFor(ctx, { needToken: true });
    await client.createExternalRepo({ name, url, suite: o.suite, components: o.component.length ? o.component : ["main"] });
    if (o.tag) {
      const tag = await client.getTag(o.tag);
      await client.editTag(o.tag, { externalRepos: [...tag.externalRepos, name] });
    }
    emit(ctx, { name, url, suite: o.suite }, () => `created external repo ${name}${o.tag ? ` and added it to ${o.tag}` : ""}`);
    return 0;
  },
};
