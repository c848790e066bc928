import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import type { HubClient } from "@debian-bootc/deb-orchestrator";
import type { OpenHub, OrchestratorConnection } from "../build/orchestrator-connection.js";
import type { ComposeDefinition } from "../definition.js";
import type { ImageMetadata } from "../metadata/metadata-phase.js";
import type { PackageRecord, PackagesMetadata } from "../metadata/package-diff.js";
import type { PublishedMetadata } from "../publish/published-metadata.js";
import type { ComposeEvent, ComposeEvents } from "./compose-events.js";
import { PHASES, type PhaseName, type PhaseRecord, readComposeStatus } from "./phase-engine.js";

/**
 * A compose recorded on its deb-orchestrator hub as it runs: created there once the compose talks to a hub
 * (at once when a hub was named with --hub, else when a phase opens the connection: the build phase, an
 * orchestrator repository), each phase reported as it starts and ends with its log, and at the end its
 * status and results as the compose's metadata files have them (images, packages with the builds they came
 * from, SBOM, package diff, where the publish phase put it). The compose directory is not touched; a hub that refuses or fails stops the
 * recording, not the compose.
 */

type PhaseReport = Parameters<HubClient["reportComposePhase"]>[2];
type FinishBody = Parameters<HubClient["finishCompose"]>[1];

/** The hub keeps this much of a phase's log (its end). */
const LOG_LIMIT = 256 * 1024;

export interface HubRecordOptions {
  connection: OrchestratorConnection;
  definition: ComposeDefinition;
  /** The definition file's text, kept by the hub with its hash. */
  definitionText: string;
  baseDir: string;
  /** Open the connection when the compose starts (a hub was named); else record only once a phase opened it. */
  openAtStart: boolean;
  /** Told when the hub refused or failed (the recording stops there; the compose goes on). */
  onProblem?: (message: string) => void;
  /** How often the compose's lease is renewed before the hub's answer says (default 10 s; then a third of the lease). */
  heartbeatMs?: number;
}

function reportOf(record: PhaseRecord): PhaseReport {
  const started = record.startedAt ? Date.parse(record.startedAt) : undefined;
  return {
    status: record.outcome,
    ...(started === undefined ? {} : { startedAt: started }),
    ...(started !== undefined && record.durationMs !== undefined ? { completedAt: started + record.durationMs } : {}),
    ...(record.error ? { error: { code: record.error.code.slice(0, 64), message: record.error.message.slice(0, 4000) } } : {}),
  };
}

export class HubComposeRecord {
  #composeId: string | undefined;
  #composeDir: string | undefined;
  #hub: OpenHub | undefined;
  #stopped = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** The newest report of each phase, and (as JSON) the one the hub has. */
  readonly #reports = new Map<PhaseName, PhaseReport>();
  readonly #sent = new Map<PhaseName, string>();

  constructor(private readonly options: HubRecordOptions) {}

  /** Follow a compose run's events; the returned function stops following. */
  listen(events: ComposeEvents): () => void {
    return events.subscribe((event) => this.#on(event));
  }

  #on(event: ComposeEvent): void {
    if (event.kind === "initialized") {
      this.#composeId = event.composeId;
      this.#composeDir = event.composeDir;
      this.#reports.set("init", reportOf(event.record));
    } else if (event.kind === "started") {
      // the phases before it that did not run were skipped (the engine sends no event for them)
      for (const name of PHASES.slice(0, PHASES.indexOf(event.phase)))
        if (!this.#reports.has(name)) this.#reports.set(name, { status: "skipped" });
      this.#reports.set(event.phase, { status: "running", startedAt: Date.parse(event.startedAt) });
    } else if (event.kind === "ended") this.#reports.set(event.phase, reportOf(event.record));
    else return;
    this.#enqueue(() => this.#sync());
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step).catch((error: unknown) => this.#stop(error));
    return this.#queue;
  }

  #stop(error: unknown): void {
    this.#stopHeartbeat();
    if (this.#stopped) return;
    this.#stopped = true;
    this.options.onProblem?.(`the compose is no longer recorded on the hub: ${(error as Error).message ?? String(error)}`);
  }

  /** Whether the hub has the compose, once the reports sent so far are through. */
  async recorded(): Promise<boolean> {
    await this.#queue;
    return this.#hub !== undefined && !this.#stopped;
  }

  /** Create the compose on the hub when it can be, then send the reports the hub does not have yet. */
  async #sync(): Promise<void> {
    const id = this.#composeId;
    if (this.#stopped || id === undefined) return;
    if (!this.#hub) {
      const { connection, definition, baseDir, openAtStart, definitionText } = this.options;
      const hub = openAtStart ? await connection.open(definition, baseDir) : await connection.opened();
      if (!hub) return;
      await hub.client.createCompose({ id, name: definition.name, definition: definitionText, phases: [...PHASES] });
      this.#hub = hub;
      this.#scheduleHeartbeat(this.options.heartbeatMs ?? 10_000);
    }
    for (const [phase, report] of this.#reports) {
      const sent = JSON.stringify(report);
      if (this.#sent.get(phase) === sent) continue;
      const ended = report.status !== "running" && report.status !== "skipped";
      const log = ended ? await this.#log(phase) : undefined;
      await this.#hub.client.reportComposePhase(id, phase, { ...report, ...(log === undefined ? {} : { log }) });
      this.#sent.set(phase, sent);
    }
  }

  /**
   * Between reports (a rootfs phase says nothing for minutes) the compose's lease is renewed, so the hub
   * ends it TERMINATED only when this process is gone. A hub that cannot be reached is tried again at the
   * next beat; one that refuses (the compose was ended) stops the recording.
   */
  #scheduleHeartbeat(ms: number): void {
    this.#heartbeat = setTimeout(() => {
      const hub = this.#hub;
      if (!hub || this.#stopped) return;
      hub.client.renewCompose(this.#composeId!).then(
        (answer) => {
          if (this.#heartbeat) this.#scheduleHeartbeat(Math.max(100, Math.floor(answer.leaseMs / 3)));
        },
        (error: unknown) => {
          // an answer that arrives after finish() says nothing about the recording
          if (!this.#heartbeat) return;
          if (isCodedError(error) && (error.category === "environment" || error.category === "timeout")) this.#scheduleHeartbeat(ms);
          else this.#stop(error);
        },
      );
    }, ms);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  async #log(phase: PhaseName): Promise<string | undefined> {
    const text = await readFile(join(this.#composeDir!, "logs", `${phase}.log`), "utf8").catch(() => undefined);
    return text === undefined || text.length <= LOG_LIMIT ? text : text.slice(text.length - LOG_LIMIT);
  }

  /**
   * After the run (finished, failed or interrupted): every phase as logs/phases.json has it, then the
   * compose's status from its STATUS file and its results. A compose that never reached a hub stays local.
   */
  finish(): Promise<void> {
    this.#stopHeartbeat();
    return this.#enqueue(async () => {
      const dir = this.#composeDir;
      if (dir === undefined || this.#stopped) return;
      const status = await readComposeStatus(dir);
      for (const record of status.phases) this.#reports.set(record.name, reportOf(record));
      await this.#sync();
      if (!this.#hub || this.#stopped) return;
      // a run that crashed before writing its final status failed
      const final = status.status === "STARTED" ? "DOOMED" : status.status;
      await this.#hub.client.finishCompose(this.#composeId!, { status: final, ...(await composeResults(dir, this.#hub.url)) });
    });
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/**
 * What the metadata and publish phases wrote, as the hub keeps it; a package names its build when this hub
 * built it. A channel URL that is not http(s) (file://) is nothing a browser can follow: the hub gets none.
 */
export async function composeResults(composeDir: string, hubUrl: string): Promise<Omit<FinishBody, "status">> {
  const meta = join(composeDir, "compose", "metadata");
  const images = (await readJson<{ payload: { images: ImageMetadata[] } }>(join(meta, "images.json")))?.payload.images ?? [];
  const packages = (await readJson<PackagesMetadata>(join(meta, "packages.json")))?.payload.packages ?? {};
  const diff = await readJson<unknown>(join(meta, "package-diff.json"));
  const published = await readJson<PublishedMetadata>(join(meta, "published.json"));
  const sbom: Record<string, unknown> = {};
  const sbomFiles = await readdir(join(meta, "sbom")).catch(() => [] as string[]);
  for (const file of sbomFiles.filter((f) => f.endsWith(".spdx.json")).sort())
    sbom[file.slice(0, -".spdx.json".length)] = await readJson(join(meta, "sbom", file));
  const hub = hubUrl.replace(/\/$/, "");
  const buildOf = (p: PackageRecord) => (p.orchestrator && p.orchestrator.hub.replace(/\/$/, "") === hub ? p.orchestrator.build : null);
  return {
    images: images.map((i) => ({
      variant: i.variant,
      arch: i.arch,
      kind: i.type,
      path: i.path,
      digest: i.digest ?? (i.sha256 ? `sha256:${i.sha256}` : null),
      size: i.size,
    })),
    packages: Object.entries(packages).flatMap(([variant, byArch]) =>
      Object.entries(byArch).flatMap(([arch, list]) =>
        list.map((p) => ({ variant, arch, name: p.name, version: p.version, packageArch: p.arch, build: buildOf(p) })),
      ),
    ),
    ...(sbomFiles.length ? { sbom } : {}),
    ...(diff === undefined ? {} : { diff }),
    ...(published?.commits?.length
      ? { published: { url: /^https?:\/\//.test(published.url) ? published.url : null, commits: published.commits } }
      : {}),
  };
}
