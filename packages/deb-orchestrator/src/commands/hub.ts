import { join } from "node:path";
import { type CommandSpec, coreError } from "@debian-bootc/core";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { startHub } from "../hub/hub.js";
import { defaultLimits, type HubLimits } from "../hub/limits.js";
import { DebianRepoPublisher } from "../repo/debian-publisher.js";

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(value);
  if (!match?.[1] || !match[2] || Number(match[2]) > 65535) throw coreError("USAGE", `--listen '${value}': expected HOST:PORT`);
  return { host: match[1].replace(/^\[|\]$/g, ""), port: Number(match[2]) };
}

function positive(value: string, flag: string): number {
  const number = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(number > 0)) throw coreError("USAGE", `${flag} '${value}': expected a positive number`);
  return number;
}

export const hubCommand: CommandSpec = {
  name: "hub",
  summary: "Run the hub: the JSON API, the task scheduler and the tag repositories.",
  description:
    "Opens (and migrates) the database, resumes unfinished work, and serves the API at /api/v1 (OpenAPI at /api/v1/openapi.json) and the signed tag repositories at /repos/TAG/latest/. On first start it creates the user 'admin' and writes its token to DATA/admin.token. SIGTERM stops it cleanly; builders keep their tasks through a restart.",
  options: [
    { flags: "--db <url>", description: "sqlite:PATH or postgres://USER@HOST/DB (default sqlite:DATA/hub.db)" },
    { flags: "--data <dir>", description: "artifacts, logs, repositories, keys", default: "/var/lib/deb-orchestrator" },
    { flags: "--listen <host:port>", description: "where to listen", default: "127.0.0.1:8470" },
    { flags: "--public-url <url>", description: "the URL builders and clients use to reach this hub" },
    { flags: "--lease <seconds>", description: "a builder's hold on a task without heartbeat", default: "60" },
    { flags: "--no-sign", description: "write unsigned repositories (no OpenPGP key)" },
    { flags: "--private-read", description: "require a token for reading the API and the web UI too", default: false },
    {
      flags: "--web-private",
      description: "require a login for the web UI's pages (the JSON API's reads stay as --private-read says)",
      default: false,
    },
    {
      flags: "--max-streams <n>",
      description: "event and log streams open at once (more answer 429 TOO_MANY_STREAMS)",
      default: String(defaultLimits.maxStreams),
    },
    {
      flags: "--max-streams-per-client <n>",
      description: "of which one user (or one address, anonymous) may hold",
      default: String(defaultLimits.maxStreamsPerClient),
    },
    {
      flags: "--upload-quota <MiB>",
      description: "a user's uploads no build uses yet (more answer 413 UPLOAD_QUOTA_EXCEEDED)",
      default: String(defaultLimits.uploadQuotaBytes / 1024 ** 2),
    },
    {
      flags: "--upload-grace <hours>",
      description: "uploads no build uses are removed after this long",
      default: String(defaultLimits.uploadGraceMs / 3_600_000),
    },
    {
      flags: "--max-task-log <MiB>",
      description: "a task's logs together (more answer 413 LOG_TOO_LARGE)",
      default: String(defaultLimits.maxTaskLogBytes / 1024 ** 2),
    },
  ],
  examples: ["deb-orchestrator hub --db postgres://orch@db/orch --data /srv/orchestrator --listen 0.0.0.0:8470"],
  async run(ctx) {
    const o = ctx.options as {
      db?: string;
      data: string;
      listen: string;
      publicUrl?: string;
      lease: string;
      sign?: boolean;
      privateRead: boolean;
      webPrivate: boolean;
      maxStreams: string;
      maxStreamsPerClient: string;
      uploadQuota: string;
      uploadGrace: string;
      maxTaskLog: string;
    };
    const limits: HubLimits = {
      maxStreams: positive(o.maxStreams, "--max-streams"),
      maxStreamsPerClient: positive(o.maxStreamsPerClient, "--max-streams-per-client"),
      uploadQuotaBytes: Math.round(positive(o.uploadQuota, "--upload-quota") * 1024 ** 2),
      uploadGraceMs: Math.round(positive(o.uploadGrace, "--upload-grace") * 3_600_000),
      maxTaskLogBytes: Math.round(positive(o.maxTaskLog, "--max-task-log") * 1024 ** 2),
    };
    const { host, port } = parseListen(o.listen);
    const logger = daemonLogger("deb-orchestrator-hub", ctx.verbose);
    const hub = await startHub({
      db: o.db ?? `sqlite:${join(o.data, "hub.db")}`,
      dataDir: o.data,
      host,
      port,
      ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}),
      leaseMs: Number(o.lease) * 1000,
      publisher: await DebianRepoPublisher.forDataDir(o.data, { sign: o.sign !== false }),
      logger,
      publicRead: !o.privateRead,
      webPublicRead: !o.webPrivate,
      limits,
    });
    if (!ctx.json) ctx.out.warn(`hub listening on ${hub.url} (admin token: ${hub.adminTokenFile})`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    await hub.close();
    return 0;
  },
};
