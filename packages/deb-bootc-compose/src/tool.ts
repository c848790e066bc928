import { packageVersion, type ToolSpec } from "@debian-bootc/core";
import { bootTestCommand } from "./commands/boot-test.js";
import { composeCommand } from "./commands/compose.js";
import { diffCommand } from "./commands/diff.js";
import { diskImageCommand } from "./commands/disk-image.js";
import { imageTaskCommand } from "./commands/image-task.js";
import { lintCommand } from "./commands/lint.js";
import { publishCommand } from "./commands/publish.js";
import { statusCommand } from "./commands/status.js";
import { updateTestCommand } from "./commands/update-test.js";
import { validateCommand } from "./commands/validate.js";

export const tool: ToolSpec = {
  name: "deb-bootc-compose",
  version: packageVersion(import.meta.url),
  summary: "Compose Debian bootc images: APT snapshot, OSTree commit, OCI image and disk images (Pungi's role).",
  commands: [
    composeCommand,
    validateCommand,
    diffCommand,
    lintCommand,
    statusCommand,
    bootTestCommand,
    publishCommand,
    imageTaskCommand,
    diskImageCommand,
    updateTestCommand,
  ],
};
