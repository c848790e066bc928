import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, silentLogger } from "@debian-bootc/core";
import type { FastifyInstance } from "fastify";
import { type HubDatabase, openDatabase } from "../db/database.js";
import { DebianRepoPublisher } from "../repo/debian-publisher.js";
import type { RepoPublisher } from "../repo/publisher.js";
import { registerWebUi } from "../web/web-ui.js";
import { ArtifactStore } from "./artifact-store.js";
import { PrincipalCache } from "./auth.js";
import { type BuildBaseResolver, debMockBuildBase } from "./build-base.js";
import { BuildDepUniverses } from "./build-dep-universe.js";
import { extendComposeLeasesAfterStart, reapAbandonedComposes } from "./catalog/compose-leases.js";
import { createToken, createUser } from "./catalog/users.js";
import type { HubContext } from "./context.js";
import { Dispatcher } from "./dispatcher.js";
import { EventBus } from "./events.js";
import type { OpenApiRoute } from "./http/openapi.js";
import { defaultLimits, type HubLimits, StreamGate } from "./limits.js";
import { relayWakesThroughPostgres } from "./pg-notify.js";
import { buildServer } from "./server.js";
import { recheckAllDepWaits } from "./tasks/dep-wait.js";
import { extendLeasesAfterStart, reapExpiredLeases } from "./tasks/scheduler.js";
import { StepRunner } from "./tasks/step-runner.js";
import { sweepUploads } from "./uploads.js";
import { WebhookDeliverer } from "./webhooks.js";

export interface HubOptions {
  /** `sqlite:PATH` or `postgres://...` */
  db: string;
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Base URL builders use to reach this hub (default: from host and port). */
  publicUrl?: string;
  leaseMs?: number;
  maxAttempts?: number;
  publisher?: RepoPublisher;
  /** A directory of published OSTree repositories (DIR/NAME), served read-only at /ostree/NAME/. */
  ostreeDir?: string;
  logger?: Logger;
  /** pino-compatible logger for Fastify's request logs (off when absent). */
  httpLogger?: object;
  publicRead?: boolean;
  /** Web UI pages readable without logging in (default: as publicRead; never wider than it). */
  webPublicRead?: boolean;
  bodyLimit?: number;
  /** First retry delay of a failed webhook delivery (doubles per failure, up to 5 minutes). */
  webhookBackoffMs?: number;
  /** How often the hub re-examines open hub-side tasks (safety net after lost notifications). */
  sweepMs?: number;
  /** Streams, upload quota and grace, log size (defaults in limits.ts). */
  limits?: Partial<HubLimits>;
  /** Where external repositories' package indexes are cached, by their Release's hash (default `<dataDir>/index-cache`). */
  indexCacheDir?: string;
  /**
   * The build environment's base the dep-wait check searches besides the tag's repositories (default:
   * deb-mock's profile debian-trixie-ARCH on this host, as builders without a profile map use it; false:
   * none, only external repositories, for builders that use no deb-mock base).
   */
  buildBase?: BuildBaseResolver | false;
  /**
   * How often every dep-wait task is checked again (and at start), and the most often the base's and
   * external repositories' Release files are read again: a new one can end a wait (default 10 minutes).
   */
  depWaitRecheckMs?: number;
}

export interface RunningHub {
  url: string;
  app: FastifyInstance;
  ctx: HubContext;
  engine: StepRunner;
  database: HubDatabase;
  routes: OpenApiRoute[];
  /** Clear-text token of the bootstrap admin, written to `<dataDir>/admin.token` on first start. */
  adminTokenFile: string;
  close(): Promise<void>;
}

/** Start a hub: open and migrate the database, resume open work, serve the API. */
export async function startHub(options: HubOptions): Promise<RunningHub> {
  const depWaitRecheckMs = options.depWaitRecheckMs ?? 10 * 60_000;
  const logger = options.logger ?? silentLogger;
  // tokens, keys, logs and (with SQLite) the database: the hub's user alone reads the data directory
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await chmod(options.dataDir, 0o700);
  const database = await openDatabase(options.db, { onPoolError: (err) => logger.warn({ err: err.message }, "database connection lost") });
  const store = new ArtifactStore(options.dataDir);
  await store.init();
  const publisher = options.publisher ?? (await DebianRepoPublisher.forDataDir(options.dataDir));
  const leaseMs = options.leaseMs ?? 60_000;
  const limits: HubLimits = { ...defaultLimits, ...options.limits };
  const closing = new AbortController();
  const ctx: HubContext = {
    db: database.db,
    dialect: database.dialect,
    dataDir: options.dataDir,
    store,
    bus: new EventBus(),
    dispatcher: new Dispatcher(),
    publisher,
    logger,
    leaseMs,
    heartbeatMs: Math.max(50, Math.floor(leaseMs / 4)),
    maxAttempts: options.maxAttempts ?? 3,
    publicUrl: "",
    ostreeDir: options.ostreeDir,
    repoPublicKey: await publisher.publicKey(),
    now: () => Date.now(),
    principals: new PrincipalCache(),
    closing: closing.signal,
    inflight: new Set(),
    limits,
    streams: new StreamGate(limits),
    depUniverses: new BuildDepUniverses({
      dataDir: options.dataDir,
      cacheDir: options.indexCacheDir ?? join(options.dataDir, "index-cache"),
      ...(options.buildBase === false ? {} : { base: options.buildBase ?? debMockBuildBase() }),
      releaseTtlMs: depWaitRecheckMs,
    }),
    advance: () => {},
  };
  const stopRelay = database.dialect === "postgres" ? await relayWakesThroughPostgres(options.db, ctx.dispatcher, logger) : async () => {};
  const engine = new StepRunner(ctx);
  ctx.advance = (id) => engine.advance(id);

  const adminTokenFile = join(options.dataDir, "admin.token");
  const anyUser = await ctx.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (!anyUser) {
    await createUser(ctx, null, "admin", ["admin"]);
    const { token } = await createToken(ctx, null, "admin", "bootstrap");
    await writeFile(adminTokenFile, `${token}\n`, { mode: 0o600 });
    await chmod(adminTokenFile, 0o600);
    logger.info({ tokenFile: adminTokenFile }, "created the admin user; its token is in the token file");
  }

  const { app, routes } = await buildServer(ctx, {
    publicRead: options.publicRead ?? true,
    bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024,
    logger: options.httpLogger ?? false,
  });
  await registerWebUi(app, ctx, { publicRead: (options.webPublicRead ?? true) && (options.publicRead ?? true), routes });
  const address = await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 0 });
  const url = address.replace("[::1]", "localhost");
  ctx.publicUrl = (options.publicUrl ?? url).replace(/\/$/, "");

  await extendLeasesAfterStart(ctx);
  await extendComposeLeasesAfterStart(ctx);
  await engine.resumeAll();
  const reaper = setInterval(
    () => {
      void reapExpiredLeases(ctx).catch((err) => logger.error({ err }, "lease reaper failed"));
      void reapAbandonedComposes(ctx).catch((err) => logger.error({ err }, "compose lease reaper failed"));
    },
    Math.max(50, Math.floor(leaseMs / 4)),
  );
  const webhooks = new WebhookDeliverer(ctx, { baseBackoffMs: options.webhookBackoffMs ?? 1000 });
  webhooks.start();
  const sweeper = setInterval(
    () => void engine.resumeAll().catch((err) => logger.error({ err }, "task sweep failed")),
    options.sweepMs ?? 5000,
  );
  /** A background job run every `ms`, never twice at once, awaited by close (ctx.inflight). */
  const every = (ms: number, what: string, job: () => Promise<unknown>) => {
    let running = false;
    const runOnce = () => {
      if (running || closing.signal.aborted) return;
      running = true;
      const pending = job()
        .catch((err) => logger.error({ err }, `${what} failed`))
        .finally(() => {
          running = false;
          ctx.inflight.delete(pending);
        });
      ctx.inflight.add(pending);
    };
    return { runOnce, timer: setInterval(runOnce, ms) };
  };
  const uploadSweeper = every(Math.min(Math.max(50, Math.floor(limits.uploadGraceMs / 2)), 15 * 60_000), "upload sweep", () =>
    sweepUploads(ctx),
  );
  // dep-wait tasks checked again now (what changed while the hub was down) and then periodically
  const depWaitRechecker = every(depWaitRecheckMs, "dep-wait recheck", () => recheckAllDepWaits(ctx));
  depWaitRechecker.runOnce();
  logger.info({ url, db: database.display, dataDir: options.dataDir }, "hub listening");

  let closed = false;
  return {
    url,
    app,
    ctx,
    engine,
    database,
    routes,
    adminTokenFile,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(reaper);
      clearInterval(sweeper);
      clearInterval(uploadSweeper.timer);
      clearInterval(depWaitRechecker.timer);
      closing.abort();
      ctx.dispatcher.wakeAll();
      await app.close();
      await Promise.allSettled([...ctx.inflight]);
      await engine.idle();
      await webhooks.stop();
      await stopRelay();
      await database.close();
    },
  };
}
