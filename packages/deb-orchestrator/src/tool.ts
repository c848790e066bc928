import { packageVersion, type ToolSpec } from "@debian-bootc/core";

export const tool: ToolSpec = {
  name: "deb-orchestrator",
  version: packageVersion(import.meta.url),
  summary: "Distributed Debian package builds: a hub, builders, tags, targets and signed APT repositories (Koji's role).",
  commands: [],
};
