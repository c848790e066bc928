import type { CommandSpec } from "@debian-bootc/core";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { checkHubProfileMap, configFileOptions, hubOptionsFrom, loadDaemonConfig, printCheckedConfig } from "../daemon-config.js";
import { startHub } from "../hub/hub.js";
import { DebianRepoPublisher } from "../repo/debian-publisher.js";

export const hubCommand: CommandSpec = {
  name: "hub",
  summary: "Run the hub: the JSON API, the task scheduler and the tag repositories.",
  description:
    "Opens (and migrates) the database, resumes unfinished work, and serves the API at /api/v1 (OpenAPI at /api/v1/openapi.json) and the signed tag repositories at /repos/TAG/latest/ (with --ostree DIR, also the OSTree repositories published into DIR at /ostree/NAME/). On first start it creates the user 'admin' and writes its token to DATA/admin.token. SIGTERM stops it cleanly; builders keep their tasks through a restart. Settings come from the flags, then hub.yaml (each key is a flag's name without the dashes), then the defaults; --check-config validates them and prints them.",
  options: [
    ...configFileOptions("hub"),
    { flags: "--db <url>", description: "sqlite:PATH or postgres://USER@HOST/DB (default sqlite:DATA/hub.db)" },
    { flags: "--data <dir>", description: "artifacts, logs, repositories, keys (default /var/lib/deb-orchestrator)" },
    { flags: "--listen <host:port>", description: "where to listen (default 127.0.0.1:8470)" },
    { flags: "--public-url <url>", description: "the URL builders and clients use to reach this hub" },
    { flags: "--lease <seconds>", description: "a builder's hold on a task without heartbeat (default 60)" },
    { flags: "--sign", description: "sign the tag repositories with the hub's OpenPGP key (the default)" },
    { flags: "--no-sign", description: "write unsigned repositories (no OpenPGP key)" },
    { flags: "--private-read", description: "require a token for reading the API and the web UI too" },
    { flags: "--web-private", description: "require a login for the web UI's pages (the JSON API's reads stay as --private-read says)" },
    { flags: "--max-streams <n>", description: "event and log streams open at once; more answer 429 TOO_MANY_STREAMS (default 500)" },
    { flags: "--max-streams-per-client <n>", description: "of which one user (or one address, anonymous) may hold (default 20)" },
    {
      flags: "--upload-quota <MiB>",
      description: "a user's uploads no build uses yet; more answer 413 UPLOAD_QUOTA_EXCEEDED (default 20480)",
    },
    { flags: "--upload-grace <hours>", description: "uploads no build uses are removed after this long (default 24)" },
    { flags: "--max-task-log <MiB>", description: "a task's logs together; more answer 413 LOG_TOO_LARGE (default 512)" },
    {
      flags: "--index-cache <dir>",
      description: "cache of external repositories' package indexes for the dep-wait check (default DATA/index-cache)",
    },
    {
      flags: "--dep-wait-recheck <seconds>",
      description:
        "check every dep-wait task again this often, and read the base's and external repositories' Release files again at most this often (default 600)",
    },
    {
      flags: "--build-base",
      description: "search deb-mock's base (the suite, components and mirror of the builders' profile) in the dep-wait check (the default)",
    },
    { flags: "--no-build-base", description: "search only the tag's and its external repositories (builders that use no deb-mock base)" },
    {
      flags: "--profile-map <tag=profile>",
      description:
        "the builders' deb-mock profile for a build tag or architecture (as their --profile-map; default debian-trixie-ARCH), read on this host for the dep-wait base",
      repeatable: true,
    },
    {
      flags: "--ostree <dir>",
      description: "serve the OSTree repositories published into DIR/NAME (deb-bootc-compose publish) at /ostree/NAME/",
    },
  ],
  examples: [
    "deb-orchestrator hub --db postgres://orch@db/orch --data /srv/orchestrator --listen 0.0.0.0:8470",
    "deb-orchestrator hub --config-file /etc/deb-orchestrator/hub.yaml --check-config",
    "deb-orchestrator hub --ostree /srv/ostree",
  ],
  async run(ctx) {
    const { path, settings } = await loadDaemonConfig("hub", ctx.options);
    await checkHubProfileMap(path, settings);
    const options = hubOptionsFrom(settings);
    if (ctx.options.checkConfig === true) return printCheckedConfig(ctx.out, ctx.json, path, settings);
    const logger = daemonLogger("deb-orchestrator-hub", ctx.verbose);
    const hub = await startHub({
      ...options,
      publisher: await DebianRepoPublisher.forDataDir(settings.data, { sign: settings.sign }),
      logger,
    });
    if (!ctx.json) ctx.out.warn(`hub listening on ${hub.url} (admin token: ${hub.adminTokenFile})`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    await hub.close();
    return 0;
  },
};
