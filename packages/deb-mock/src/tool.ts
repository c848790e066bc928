import { packageVersion, type ToolSpec } from "@debian-bootc/core";

export const tool: ToolSpec = {
  name: "deb-mock",
  version: packageVersion(import.meta.url),
  summary: "Build Debian source packages in clean, cached, isolated chroots (Mock's role for Debian).",
  commands: [],
};
