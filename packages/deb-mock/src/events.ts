/** Progress events that init, build and runInEnvironment emit (through the `onEvent` option). */
export type ProgressEvent =
  | { type: "phase-start"; phase: string; at: string }
  | { type: "phase-end"; phase: string; at: string; durationMs: number; ok: boolean }
  /** A line about what was done to the environment (mounts, apt, commands): what root.log records. */
  | { type: "root-log"; text: string }
  /** Output of the build itself (dpkg-buildpackage), as it arrives: what build.log records. */
  | { type: "build-output"; chunk: string }
  /**
   * A package layer (build dependencies, runroot packages) was stacked under the snapshot: reused (nothing
   * installed) or created by this installation. `dir` is the overlay lower directory.
   */
  | { type: "deps-layer"; key: string; dir: string; action: "reused" | "created" }
  | { type: "info"; message: string };

export type ProgressListener = (event: ProgressEvent) => void;

export interface PhaseRecord {
  name: string;
  startedAt: string;
  durationMs: number;
  status: "ok" | "failed" | "skipped";
}

/** Times phases, records them for result.json and state.log, and tells the listener. */
export class PhaseTracker {
  readonly phases: PhaseRecord[] = [];
  readonly stateLog: string[] = [];
  constructor(private readonly listener?: ProgressListener) {}

  emit(event: ProgressEvent): void {
    this.listener?.(event);
  }

  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const at = new Date(started).toISOString();
    this.stateLog.push(`${at} start ${name}`);
    this.emit({ type: "phase-start", phase: name, at });
    let ok = false;
    try {
      const value = await fn();
      ok = true;
      return value;
    } finally {
      const durationMs = Date.now() - started;
      const end = new Date().toISOString();
      this.phases.push({ name, startedAt: at, durationMs, status: ok ? "ok" : "failed" });
      this.stateLog.push(`${end} ${ok ? "finish" : "FAILED"} ${name} (${(durationMs / 1000).toFixed(3)} s)`);
      this.emit({ type: "phase-end", phase: name, at: end, durationMs, ok });
    }
  }
}
