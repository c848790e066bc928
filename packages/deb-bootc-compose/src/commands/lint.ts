import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CommandSpec, run } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import { lintImage } from "../lint/image-lint.js";

export const lintCommand: CommandSpec = {
  name: "lint",
  summary: "Check a bootc image's content (bootc container lint's checks)",
  description:
    "Run the image checks over a root directory, or over an OCI image layout given as oci:DIR[:TAG] (unpacked with umoci first): " +
    "exactly one kernel with its initramfs, an empty /boot and /run, /etc or /usr/etc but not both, the ostree base layout, " +
    "UTF-8 file names, /var content declared by tmpfiles.d, users declared by sysusers.d. Exits 1 when an error-severity check fails.",
  args: [{ name: "image", description: "a root directory, or oci:DIR[:TAG]" }],
  examples: [
    "deb-bootc-compose lint /srv/composes/latest-debian-bootc-minimal/work/amd64/minimal/rootfs",
    "deb-bootc-compose lint oci:./image:13.0",
  ],
  async run(ctx) {
    const image = ctx.args[0]!;
    let root = image;
    let temp: string | undefined;
    try {
      if (image.startsWith("oci:")) {
        const ref = image.slice(4);
        temp = await mkdtemp(join(tmpdir(), "bootc-lint-"));
        await run("umoci", ["unpack", "--image", ref, join(temp, "bundle")], { debianPackage: "umoci", signal: ctx.signal });
        root = join(temp, "bundle", "rootfs");
      }
      const report = await lintImage(root);
      if (ctx.json) ctx.out.json({ ...report, root: image });
      else {
        for (const r of report.results) {
          const mark = r.ok ? "ok  " : r.severity === "error" ? "FAIL" : "warn";
          ctx.out.line(`${mark} ${r.check}: ${r.message}`);
          for (const item of r.items ?? []) if (!r.ok) ctx.out.line(`       ${item}`);
        }
        ctx.out.line(`${report.errors} error(s), ${report.warnings} warning(s)`);
      }
      if (report.errors > 0 && !ctx.json) {
        throw composeError("LINT_FAILED", `${image}: ${report.errors} lint check(s) failed`, { details: { errors: report.errors } });
      }
      return report.errors > 0 ? 1 : 0;
    } finally {
      if (temp) await rm(temp, { recursive: true, force: true });
    }
  },
};
