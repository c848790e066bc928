import { resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { runUpdateTestTask } from "../image-task/run-update-test.js";

export const updateTestCommand: CommandSpec = {
  name: "update-test",
  summary: "Run a compose's A/B update boot test made elsewhere (a deb-orchestrator builder's updateTest task)",
  description:
    "Read <workdir>/request.json (an updateTest request: the variant and arch, the previous image's name and format, the update " +
    "remote, the firmware, the from and to commits), unpack <workdir>/inputs/repository.tar (the channel repository the client " +
    "signed: only plain files and directories inside it are taken) and boot <workdir>/inputs/<image>: `ostree admin upgrade` over " +
    "HTTP from a loopback server, reboot into the new commit, roll back (KVM when usable, else TCG). The image itself is never " +
    "written. Writes the record and the boot's console and results logs to <workdir>/out, with out/result.json naming them; a boot " +
    "that fails is a record with passed false, not a failure of the command. Run by a builder with the `image` capability.",
  args: [{ name: "workdir", description: "the task's work directory the builder prepared" }],
  examples: ["deb-bootc-compose update-test /var/lib/deb-orchestrator/builder/task-14-3 --json"],
  async run(ctx) {
    ctx.out.warn("update test: booting the previous image, upgrading, rebooting into the new commit, rolling back");
    const result = await runUpdateTestTask({ workDir: resolve(ctx.args[0]!), signal: ctx.signal });
    const { update } = result.result;
    if (ctx.json) ctx.out.json({ ok: true, ...result });
    else ctx.out.line(`${update.variant}/${update.arch} update test ${update.passed ? "passed" : "failed"}: ${update.message}`);
    return 0;
  },
};
