import { readFile, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { Builder } from "../builder/builder.js";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { HubClient } from "../client/hub-client.js";
import { startHub } from "../hub/hub.js";
import { DebianRepoPublisher } from "../repo/debian-publisher.js";
import { builderOptions, runnerFrom } from "./builder.js";
import { parseListen } from "./hub.js";

export const upCommand: CommandSpec = {
  name: "up",
  summary: "Run a hub on SQLite and a local builder in one process: the single-machine setup.",
  description:
    "Starts the hub with an embedded SQLite database under DATA, creates a builder user and token on first start, and runs a builder against it. The admin token is in DATA/admin.token; use it with --token-file for the client verbs.",
  options: [
    {
      flags: "--data <dir>",
      description: "state directory",
      default: join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "deb-orchestrator"),
    },
    { flags: "--listen <host:port>", description: "where the hub listens", default: "127.0.0.1:8470" },
    ...builderOptions.filter((b) => !b.flags.startsWith("--name")),
  ],
  examples: [
    "deb-orchestrator up --capacity 2",
    "deb-orchestrator --hub http://127.0.0.1:8470 --token-file ~/.local/share/deb-orchestrator/admin.token list-hosts",
  ],
  async run(ctx) {
    const o = ctx.options as Record<string, unknown> & {
      data: string;
      listen: string;
      arch: string[];
      capacity: string;
      workDir: string;
      grace: string;
    };
    const logger = daemonLogger("deb-orchestrator", ctx.verbose);
    const { host, port } = parseListen(o.listen);
    const hub = await startHub({
      db: `sqlite:${join(o.data, "hub.db")}`,
      dataDir: o.data,
      host,
      port,
      publisher: await DebianRepoPublisher.forDataDir(o.data),
      logger,
    });
    const admin = new HubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
    const tokenFile = join(o.data, "builder.token");
    const name = hostname().split(".")[0] || "local";
    let token: string;
    try {
      token = (await readFile(tokenFile, "utf8")).trim();
    } catch {
      await admin.post("/api/v1/users", { name: `builder-${name}`, perms: ["host"] }).catch(() => {});
      token = (await admin.post<{ token: string }>(`/api/v1/users/builder-${name}/tokens`, { label: "up" })).token;
      await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    }
    const builder = new Builder({
      client: new HubClient({ url: hub.url, token }),
      name,
      arches: o.arch.length ? o.arch : ["amd64"],
      capacity: Number(o.capacity),
      runner: runnerFrom(o, logger),
      workDir: o.workDir,
      logger,
    });
    await builder.start();
    if (!ctx.json) ctx.out.warn(`hub ${hub.url}, builder '${name}'; admin token in ${hub.adminTokenFile}`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    await builder.stop(Number(o.grace) * 1000);
    await hub.close();
    return 0;
  },
};
