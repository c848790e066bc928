import { packageVersion, type ToolSpec } from "@debian-bootc/core";
import { addExternalRepoCommand } from "./commands/add-external-repo.js";
import { addTagCommand } from "./commands/add-tag.js";
import { addTargetCommand } from "./commands/add-target.js";
import { addUserCommand } from "./commands/add-user.js";
import { addWebhookCommand } from "./commands/add-webhook.js";
import { buildCommand } from "./commands/build.js";
import { buildInfoCommand } from "./commands/build-info.js";
import { builderCommand } from "./commands/builder.js";
import { cancelCommand } from "./commands/cancel.js";
import { deleteBuildCommand } from "./commands/delete-build.js";
import { disableHostCommand } from "./commands/disable-host.js";
import { disableUserCommand, enableUserCommand } from "./commands/disable-user.js";
import { downloadBuildCommand } from "./commands/download-build.js";
import { editTagCommand } from "./commands/edit-tag.js";
import { enableHostCommand } from "./commands/enable-host.js";
import { grantCommand } from "./commands/grant.js";
import { hubCommand } from "./commands/hub.js";
import { latestBuildCommand } from "./commands/latest-build.js";
import { listBuildsCommand } from "./commands/list-builds.js";
import { listHostsCommand } from "./commands/list-hosts.js";
import { listTaggedCommand } from "./commands/list-tagged.js";
import { listTagsCommand } from "./commands/list-tags.js";
import { listTargetsCommand } from "./commands/list-targets.js";
import { listTasksCommand } from "./commands/list-tasks.js";
import { listWebhooksCommand } from "./commands/list-webhooks.js";
import { regenRepoCommand } from "./commands/regen-repo.js";
import { resubmitCommand } from "./commands/resubmit.js";
import { tagBuildCommand, untagBuildCommand } from "./commands/tag-build.js";
import { taskInfoCommand } from "./commands/task-info.js";
import { tokenCommand } from "./commands/token.js";
import { upCommand } from "./commands/up.js";
import { watchTaskCommand } from "./commands/watch-task.js";
import { whyCommand } from "./commands/why.js";

export const tool: ToolSpec = {
  name: "deb-orchestrator",
  version: packageVersion(import.meta.url),
  summary: "Distributed Debian package builds: a hub, builders, tags, targets and signed APT repositories (Koji's role).",
  description:
    "Client verbs talk to a hub given by --hub/--token-file, the environment (DEB_ORCHESTRATOR_HUB, DEB_ORCHESTRATOR_TOKEN) or ~/.config/deb-orchestrator/client.yaml ('hub:' and 'token-file:').",
  options: [
    { flags: "--hub <url>", description: "the hub's URL", env: "DEB_ORCHESTRATOR_HUB" },
    { flags: "--token <token>", description: "API token (prefer --token-file)", env: "DEB_ORCHESTRATOR_TOKEN" },
    { flags: "--token-file <file>", description: "file holding the API token" },
    { flags: "--config <file>", description: "client config file (default ~/.config/deb-orchestrator/client.yaml)" },
  ],
  commands: [
    hubCommand,
    builderCommand,
    upCommand,
    buildCommand,
    watchTaskCommand,
    listTasksCommand,
    taskInfoCommand,
    cancelCommand,
    resubmitCommand,
    whyCommand,
    listBuildsCommand,
    buildInfoCommand,
    latestBuildCommand,
    downloadBuildCommand,
    deleteBuildCommand,
    addTagCommand,
    editTagCommand,
    listTagsCommand,
    addTargetCommand,
    listTargetsCommand,
    addExternalRepoCommand,
    tagBuildCommand,
    untagBuildCommand,
    listTaggedCommand,
    regenRepoCommand,
    listHostsCommand,
    enableHostCommand,
    disableHostCommand,
    addUserCommand,
    grantCommand,
    disableUserCommand,
    enableUserCommand,
    tokenCommand,
    addWebhookCommand,
    listWebhooksCommand,
  ],
};
