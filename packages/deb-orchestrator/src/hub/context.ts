import type { Logger } from "@debian-bootc/core";
import type { Kysely } from "kysely";
import type { DialectName } from "../db/database.js";
import type { Database } from "../db/schema.js";
import type { RepoPublisher } from "../repo/publisher.js";
import type { ArtifactStore } from "./artifact-store.js";
import type { PrincipalCache } from "./auth.js";
import type { BuildDepUniverses } from "./build-dep-universe.js";
import type { Dispatcher } from "./dispatcher.js";
import type { EventBus } from "./events.js";
import type { HubLimits, StreamGate } from "./limits.js";

/** Everything the hub's modules share. One per hub process. */
export interface HubContext {
  db: Kysely<Database>;
  dialect: DialectName;
  dataDir: string;
  store: ArtifactStore;
  bus: EventBus;
  dispatcher: Dispatcher;
  publisher: RepoPublisher;
  logger: Logger;
  /** How long a claimed task stays with a builder without a heartbeat. */
  leaseMs: number;
  /** How often builders are asked to heartbeat (a fraction of the lease). */
  heartbeatMs: number;
  /** A task whose build environment failed is retried on another builder up to this many times. */
  maxAttempts: number;
  /** URL builders use to reach this hub's repositories (`<publicUrl>/repos/<tag>/latest/`). */
  publicUrl: string;
  /** Published OSTree repositories (deb-bootc-compose publish), served at /ostree/; none when absent. */
  ostreeDir: string | undefined;
  /** Armored OpenPGP public key the tag repositories are signed with, if any. */
  repoPublicKey: string | undefined;
  now(): number;
  /** Checked tokens; cleared on every change to users, tokens or permissions. */
  principals: PrincipalCache;
  /** Aborted when the hub shuts down: long-polls answer at once. */
  closing: AbortSignal;
  /** Requests that may still touch the database after their connection closed (claims); awaited on close. */
  inflight: Set<Promise<unknown>>;
  /** Streams, uploads and logs: what a client or the hub may hold. */
  limits: HubLimits;
  /** The open event and log streams of this process, per client and in total. */
  streams: StreamGate;
  /** What buildArch tasks' build-dependencies are checked against before dispatch (tasks/dep-wait.ts). */
  depUniverses: BuildDepUniverses;
  /** Re-examine a hub-side task (build, tagBuild, newRepo) after something changed. Set by tasks/step-runner.ts. */
  advance(taskId: number): void;
}
