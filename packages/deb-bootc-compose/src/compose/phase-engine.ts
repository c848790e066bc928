import { appendFile, copyFile, mkdir, readFile, rename, symlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { isCodedError, type Logger, siblingTempPath, writeFileAtomic } from "@debian-bootc/core";
import type { ComposeDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { didYouMean } from "../suggest.js";
import { type ComposeEvent, ComposeEvents } from "./compose-events.js";
import { claimComposeDir } from "./compose-id.js";
import { ComposeState } from "./compose-state.js";

/** The phases of a compose, in order. init always runs; the others can be skipped or run alone. */
export const PHASES = [
  "init",
  "build",
  "pkgset",
  "gather",
  "snapshot-repo",
  "rootfs",
  "ostree",
  "oci",
  "lint",
  "image-build",
  "test",
  "metadata",
  "publish",
] as const;
export type PhaseName = (typeof PHASES)[number];

export type ComposeStatus = "STARTED" | "FINISHED" | "FINISHED_INCOMPLETE" | "DOOMED" | "TERMINATED";

export interface PhaseContext {
  composeId: string;
  composeDir: string;
  definition: ComposeDefinition;
  /** Writes JSON lines to logs/<phase>.log. */
  logger: Logger;
  signal: AbortSignal;
  /** What the phases of one run hand to each other (e.g. the trees the rootfs phase made). */
  state: ComposeState;
  /** Report progress, or a note (kept in logs/phases.json, shown by the CLI), on the run's event stream. */
  emit: (event: ComposeEvent) => void;
}

export interface Phase {
  name: Exclude<PhaseName, "init">;
  /** When the definition lists this deliverable as failable, a failure makes the compose FINISHED_INCOMPLETE. */
  deliverable?: string;
  run(ctx: PhaseContext): Promise<void>;
}

export type PhaseOutcome = "done" | "skipped" | "failed" | "failed-failable" | "interrupted";

export interface PhaseRecord {
  name: PhaseName;
  outcome: PhaseOutcome;
  startedAt?: string;
  durationMs?: number;
  error?: { code: string; message: string };
  /** What the phase remarked (its note events): why it took the time it took. */
  notes?: string[];
}

export interface ComposeResult {
  composeId: string;
  composeDir: string;
  status: ComposeStatus;
  phases: PhaseRecord[];
}

export interface ComposeRunOptions {
  definition: ComposeDefinition;
  /** The definition file, copied into the compose. */
  definitionPath: string;
  outputDir: string;
  /** Implementations of the phases after init; a phase without one is recorded as skipped. */
  phases: readonly Phase[];
  skipPhases?: readonly string[];
  justPhases?: readonly string[];
  now?: Date;
  signal?: AbortSignal;
  /** The run's event stream (phases started and ended, notes, the phases' own progress); subscribe before the run. */
  events?: ComposeEvents;
  /**
   * Run as part of a compose made elsewhere (an image task on a builder): its compose ID, whose directory
   * <outputDir>/<composeId> must not exist yet, instead of claiming a new one.
   */
  composeId?: string;
  /** What earlier phases run elsewhere handed on (an image task's snapshot), instead of an empty state. */
  state?: ComposeState;
  /**
   * Deliverables failable in this run besides the definition's (an image task: a failed disk image goes
   * back in its result with the other files, and the client's definition decides what it is worth).
   */
  failable?: readonly string[];
}

/** Refuse unknown phase names up front, naming the closest one. */
export function checkPhaseNames(names: readonly string[], option: string): void {
  for (const name of names) {
    if (!(PHASES as readonly string[]).includes(name)) {
      throw composeError("COMPOSE_PHASE_UNKNOWN", `${option} ${name}: no such phase${didYouMean(name, PHASES)}`, {
        hint: `phases: ${PHASES.join(", ")}`,
      });
    }
  }
  if (option === "--skip-phase" && names.includes("init")) {
    throw composeError("COMPOSE_PHASE_UNKNOWN", "--skip-phase init: init cannot be skipped (it creates the compose)");
  }
}

/** A Logger that appends JSON lines to a file (phase logs); writes are queued in order. */
export function fileLogger(path: string, bindings: Record<string, unknown> = {}): Logger & { flush(): Promise<void> } {
  let queue: Promise<void> = Promise.resolve();
  const write = (level: string, obj: object, msg?: string) => {
    const line = `${JSON.stringify({ time: new Date().toISOString(), level, ...bindings, ...obj, ...(msg === undefined ? {} : { msg }) })}\n`;
    queue = queue.then(() => appendFile(path, line)).catch(() => {});
  };
  const logger = {
    debug: (obj: object, msg?: string) => write("debug", obj, msg),
    info: (obj: object, msg?: string) => write("info", obj, msg),
    warn: (obj: object, msg?: string) => write("warn", obj, msg),
    error: (obj: object, msg?: string) => write("error", obj, msg),
    child: (more: Record<string, unknown>) => fileLogger(path, { ...bindings, ...more }),
    flush: () => queue,
  };
  return logger;
}

async function writeStatus(dir: string, status: ComposeStatus): Promise<void> {
  await writeFileAtomic(join(dir, "STATUS"), `${status}\n`);
}

function isFailable(definition: ComposeDefinition, deliverable: string | undefined, extra: readonly string[] = []): boolean {
  if (deliverable === undefined) return false;
  if (extra.includes(deliverable)) return true;
  return definition.failable.some((f) => (typeof f === "string" ? f : f.deliverable) === deliverable);
}

/**
 * Run a compose: init (compose ID, directory, STATUS, the definition copied in), then each phase in
 * order with its own log and timing in logs/, then the final STATUS and the latest-<name> link.
 * A failing phase makes the compose DOOMED (or FINISHED_INCOMPLETE when its deliverable is failable);
 * an abort makes it TERMINATED. Rerunning creates a new compose ID.
 */
/** Whether a phase runs under --skip-phase and --just-phase. */
export function phaseWanted(name: string, options: { skipPhases?: readonly string[]; justPhases?: readonly string[] }): boolean {
  const just = options.justPhases ?? [];
  return !(options.skipPhases ?? []).includes(name) && (just.length === 0 || just.includes(name));
}

export async function runCompose(options: ComposeRunOptions): Promise<ComposeResult> {
  const skip = options.skipPhases ?? [];
  const just = options.justPhases ?? [];
  checkPhaseNames(skip, "--skip-phase");
  checkPhaseNames(just, "--just-phase");
  const signal = options.signal ?? new AbortController().signal;
  const { definition } = options;
  const now = options.now ?? new Date();
  const { id, dir } = options.composeId
    ? await givenComposeDir(options.outputDir, options.composeId)
    : await claimComposeDir(options.outputDir, definition.name, definition.version, now);
  const records: PhaseRecord[] = [];
  await mkdir(join(dir, "logs"), { recursive: true });
  await mkdir(join(dir, "compose", "metadata"), { recursive: true });
  await mkdir(join(dir, "work"), { recursive: true });
  const initStart = Date.now();
  await writeStatus(dir, "STARTED");
  await writeFileAtomic(join(dir, "COMPOSE_ID"), `${id}\n`);
  await copyFile(options.definitionPath, join(dir, "compose", "metadata", basename(options.definitionPath)));
  const initLog = fileLogger(join(dir, "logs", "init.log"), { phase: "init" });
  initLog.info({ composeId: id, definition: options.definitionPath }, "compose started");
  await initLog.flush();
  const initRecord: PhaseRecord = {
    name: "init",
    outcome: "done",
    startedAt: new Date(initStart).toISOString(),
    durationMs: Date.now() - initStart,
  };
  records.push(initRecord);

  const state = options.state ?? new ComposeState();
  const events = options.events ?? new ComposeEvents();
  const emit = (event: ComposeEvent) => events.emit(event);
  emit({ phase: "init", kind: "initialized", composeId: id, composeDir: dir, record: initRecord });
  const implemented = new Map(options.phases.map((p) => [p.name, p]));
  let status: ComposeStatus = "FINISHED";
  let fatal: unknown;
  for (const name of PHASES.slice(1) as Exclude<PhaseName, "init">[]) {
    const phase = implemented.get(name);
    const wanted = phaseWanted(name, options);
    if (!phase || !wanted) {
      records.push({ name, outcome: "skipped" });
      continue;
    }
    if (signal.aborted) {
      records.push({ name, outcome: "interrupted" });
      status = "TERMINATED";
      break;
    }
    const logger = fileLogger(join(dir, "logs", `${name}.log`), { phase: name });
    const started = Date.now();
    const record: PhaseRecord = { name, outcome: "done", startedAt: new Date(started).toISOString() };
    // the phase's notes go into its record and its log
    const stopNotes = events.subscribe((event) => {
      if (event.kind !== "note" || event.phase !== name) return;
      record.notes = [...(record.notes ?? []), event.text];
      logger.info({ note: event.text }, "note");
    });
    emit({ phase: name, kind: "started", startedAt: record.startedAt! });
    logger.info({}, "phase started");
    try {
      await phase.run({ composeId: id, composeDir: dir, definition, logger, signal, state, emit });
      logger.info({ durationMs: Date.now() - started }, "phase finished");
    } catch (error) {
      const coded = isCodedError(error)
        ? { code: error.code, message: error.message }
        : { code: "INTERNAL", message: String((error as Error)?.stack ?? error) };
      record.error = coded;
      logger.error({ error: coded, durationMs: Date.now() - started }, "phase failed");
      if (signal.aborted || isCodedError(error, "INTERRUPTED")) {
        record.outcome = "interrupted";
        status = "TERMINATED";
      } else if (isFailable(definition, phase.deliverable, options.failable)) {
        record.outcome = "failed-failable";
        status = "FINISHED_INCOMPLETE";
      } else {
        record.outcome = "failed";
        status = "DOOMED";
        fatal = error;
      }
    }
    stopNotes();
    record.durationMs = Date.now() - started;
    await logger.flush();
    records.push(record);
    emit({ phase: name, kind: "ended", record });
    if (status === "DOOMED" || status === "TERMINATED") break;
  }
  for (const name of PHASES) if (!records.some((r) => r.name === name)) records.push({ name, outcome: "skipped" });
  await writeFileAtomic(join(dir, "logs", "phases.json"), `${JSON.stringify({ composeId: id, status, phases: records }, null, 2)}\n`);
  await writeStatus(dir, status);
  if (status === "FINISHED" || status === "FINISHED_INCOMPLETE") await pointLatest(options.outputDir, definition.name, id);
  const result = { composeId: id, composeDir: dir, status, phases: records };
  if (status === "DOOMED") {
    const failed = records.find((r) => r.outcome === "failed");
    const log = join(dir, "logs", `${failed?.name}.log`);
    // the failing step's own remedy (e.g. `deb-orchestrator why N`) comes first, then the phase's log
    const causeHint = isCodedError(fatal) ? fatal.hint : undefined;
    throw composeError("COMPOSE_PHASE_FAILED", `${id}: phase ${failed?.name} failed: ${failed?.error?.message}`, {
      cause: fatal,
      hint: causeHint ? `${causeHint}; the phase's log: ${log}` : `see ${log}`,
      details: { composeId: id, composeDir: dir, phase: failed?.name },
    });
  }
  return result;
}

/** The directory of a compose ID given by the caller: made here, so never one that holds something already. */
async function givenComposeDir(outputDir: string, id: string): Promise<{ id: string; dir: string }> {
  await mkdir(outputDir, { recursive: true });
  const dir = join(outputDir, id);
  await mkdir(dir);
  return { id, dir };
}

/** Point `latest-<name>` at a compose, replacing the old link atomically. */
async function pointLatest(outputDir: string, name: string, id: string): Promise<void> {
  const link = join(outputDir, `latest-${name}`);
  const temp = siblingTempPath(link);
  await symlink(id, temp);
  await rename(temp, link);
}

export interface ComposeStatusReport {
  composeId: string;
  status: ComposeStatus;
  phases: PhaseRecord[];
}

/** STATUS, COMPOSE_ID and logs/phases.json of a compose directory. */
export async function readComposeStatus(dir: string): Promise<ComposeStatusReport> {
  let status: string;
  let composeId: string;
  try {
    status = (await readFile(join(dir, "STATUS"), "utf8")).trim();
    composeId = (await readFile(join(dir, "COMPOSE_ID"), "utf8")).trim();
  } catch (error) {
    throw composeError("COMPOSE_DIR_INVALID", `${dir}: not a compose directory (no STATUS or COMPOSE_ID)`, { cause: error });
  }
  let phases: PhaseRecord[] = [];
  try {
    phases = (JSON.parse(await readFile(join(dir, "logs", "phases.json"), "utf8")) as { phases: PhaseRecord[] }).phases;
  } catch {
    // a compose still running has no phases.json yet
  }
  return { composeId, status: status as ComposeStatus, phases };
}
