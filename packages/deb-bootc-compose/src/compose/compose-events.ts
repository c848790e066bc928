import type { BuildEvent } from "../build/build-phase.js";
import type { PackageSideEvent } from "../pkgset/pkgset-phase.js";
import type { PhaseName, PhaseRecord } from "./phase-engine.js";

/**
 * Everything a compose reports while it runs, one stream: each event names its phase and its kind
 * (kinds are unique across phases, so `kind` alone tells them apart).
 */
export type ComposeEvent =
  /** init made the compose: its ID and directory, and init's record. */
  | { phase: "init"; kind: "initialized"; composeId: string; composeDir: string; record: PhaseRecord }
  /** The engine starts a phase. */
  | { phase: PhaseName; kind: "started"; startedAt: string }
  /** The engine ended a phase: its record as logs/phases.json keeps it. */
  | { phase: PhaseName; kind: "ended"; record: PhaseRecord }
  /** A one-line remark of a phase (e.g. "tree reused from the cache"), kept in logs/phases.json too. */
  | { phase: PhaseName; kind: "note"; text: string }
  /** An image task on the hub (--images-on hub) was queued or changed state: composeImage in rootfs, diskImage in image-build. */
  | { phase: "rootfs" | "image-build"; kind: "image-task"; variant: string; arch: string; task: number; state: string; host: string | null }
  | BuildEvent
  | PackageSideEvent;

export type ComposeEventKind = ComposeEvent["kind"];
export type ComposeEventListener = (event: ComposeEvent) => void;

/** The event stream of one compose run: the phases and the engine emit, the CLI and the engine's log subscribe. */
export class ComposeEvents {
  readonly #listeners = new Set<ComposeEventListener>();

  /** Listen to every event from now on; the returned function stops listening. */
  subscribe(listener: ComposeEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: ComposeEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
