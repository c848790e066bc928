import { packageVersion, type ToolSpec } from "@debian-bootc/core";
import { buildCommand } from "./commands/build.js";
import { chrootCommand } from "./commands/chroot.js";
import { cleanCommand } from "./commands/clean.js";
import { initCommand } from "./commands/init.js";
import { installCommand } from "./commands/install.js";
import { listProfilesCommand } from "./commands/list-profiles.js";
import { scrubCommand } from "./commands/scrub.js";
import { shellCommand } from "./commands/shell.js";
import { statusCommand } from "./commands/status.js";

export const tool: ToolSpec = {
  name: "deb-mock",
  version: packageVersion(import.meta.url),
  summary: "Build Debian source packages in clean, cached, isolated chroots (Mock's role for Debian).",
  description:
    "Profiles come from the shipped defaults, /etc/deb-mock, ~/.config/deb-mock and --config-opt, in that order. Exit codes: 0 ok, 1 build failed, 2 usage/input/config, 3 build dependencies unsatisfiable, 4 environment error, 5 locked, 130 interrupted.",
  options: [
    { flags: "-r, --root <profile>", description: "the profile to use (default debian-trixie-amd64, or $DEB_MOCK_PROFILE)" },
    {
      flags: "--config-opt <key=value>",
      description: "override a profile field for this run, e.g. cache.indexMaxAge=1h",
      repeatable: true,
    },
  ],
  commands: [
    initCommand,
    buildCommand,
    shellCommand,
    chrootCommand,
    installCommand,
    cleanCommand,
    scrubCommand,
    listProfilesCommand,
    statusCommand,
  ],
};
