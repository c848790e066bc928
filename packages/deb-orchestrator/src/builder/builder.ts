import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { isCodedError, type Logger, silentLogger } from "@debian-bootc/core";
import type { ClaimedTask } from "../api/builder-protocol.js";
import { type BuildArchRequest, type BuilderCapability, defaultCapabilities, type ResultFile, type TaskResult } from "../api/tasks.js";
import type { HubClient } from "../client/hub-client.js";
import type { BuildRunner } from "./build-runner.js";
import { prepareDiskWorkDir } from "./disk-work-dir.js";
import type { ImageRunner } from "./image-runner.js";
import { prepareImageWorkDir, readImageResult } from "./image-work-dir.js";
import { LiveLog } from "./live-log.js";
import { makeTaskWorkDir, removeTaskWorkDir, sweepStaleTaskWorkDirs } from "./task-work-dir.js";
import { prepareUpdateWorkDir } from "./update-work-dir.js";

/** Each image method's work directory and the deb-bootc-compose verb that runs in it. */
const imageTaskKinds = {
  composeImage: { prepare: prepareImageWorkDir, verb: "image-task" },
  diskImage: { prepare: prepareDiskWorkDir, verb: "disk-image" },
  updateTest: { prepare: prepareUpdateWorkDir, verb: "update-test" },
} as const;

export interface BuilderOptions {
  client: HubClient;
  name: string;
  arches: string[];
  /** What it declares at check-in (default: build); the hub hands it only those tasks. */
  capabilities?: readonly BuilderCapability[];
  capacity: number;
  runner: BuildRunner;
  /** Runs composeImage, diskImage and updateTest tasks (a builder with the `image` capability); without one they fail. */
  imageRunner?: ImageRunner;
  workDir: string;
  logger?: Logger;
  /** How long one claim request may wait at the hub. */
  claimWaitMs?: number;
  /** On stop: how long running tasks may finish before they are aborted and given back. */
  graceMs?: number;
}

interface Running {
  controller: AbortController;
  promise: Promise<void>;
  released: boolean;
}

export type BuilderEvent =
  | { type: "checked-in"; freed: number[] }
  | { type: "task-started"; task: number; method: string }
  | { type: "task-finished"; task: number; outcome: "closed" | "failed" | "released" | "lost" }
  | { type: "hub-error"; message: string };

/**
 * The builder daemon: checks in, keeps `capacity` claim requests open at the hub (long-poll), runs what it
 * gets through the BuildRunner, uploads results and reports. Heartbeats renew its leases; a task the hub
 * says it no longer holds is aborted. stop() finishes running tasks within the grace time, then gives
 * the rest back.
 */
export class Builder {
  readonly session = randomBytes(12).toString("base64url");
  private readonly running = new Map<number, Running>();
  private readonly stopping = new AbortController();
  private readonly logger: Logger;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatMs = 1000;
  private listeners: ((event: BuilderEvent) => void)[] = [];
  private loops: Promise<void>[] = [];
  private checkedIn = false;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly options: BuilderOptions) {
    this.logger = (options.logger ?? silentLogger).child({ host: options.name });
  }

  on(listener: (event: BuilderEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(event: BuilderEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  get activeTasks(): number[] {
    return [...this.running.keys()];
  }

  async checkin(): Promise<void> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const answer = await this.options.client.checkin(this.options.name, {
          session: this.session,
          arches: this.options.arches,
          capabilities: [...(this.options.capabilities ?? defaultCapabilities)],
          capacity: this.options.capacity,
          load: this.running.size,
        });
        this.heartbeatMs = answer.heartbeatMs;
        this.checkedIn = true;
        this.logger.info({ freed: answer.freed, session: this.session }, "checked in");
        this.emit({ type: "checked-in", freed: answer.freed });
        return;
      } catch (error) {
        if (!isCodedError(error, "HUB_UNREACHABLE") && !isCodedError(error, "HUB_ERROR")) throw error;
        if (this.stopping.signal.aborted) throw error;
        this.emit({ type: "hub-error", message: (error as Error).message });
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  /**
   * Remove the work directories builders that are gone left in the work directory (a killed image task's
   * are GBs, perhaps with mounts): at start and before each task that makes one. One sweep at a time; a
   * failure is logged, never fails a task.
   */
  private sweep(): Promise<void> {
    this.sweeping ??= sweepStaleTaskWorkDirs(this.options.workDir, this.logger)
      .then(
        () => {},
        (error: unknown) => this.logger.warn({ err: (error as Error).message }, "could not sweep stale work directories"),
      )
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  /** Sweep what killed builders left, check in, and serve until stop(). */
  async start(): Promise<void> {
    await this.sweep();
    await this.checkin();
    this.scheduleHeartbeat();
    for (let slot = 0; slot < this.options.capacity; slot++) this.loops.push(this.claimLoop());
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(async () => {
      try {
        const answer = await this.options.client.heartbeat(this.options.name, {
          session: this.session,
          load: this.running.size,
          tasks: this.activeTasks,
        });
        for (const id of answer.lost) {
          const running = this.running.get(id);
          if (running) {
            this.logger.warn({ task: id }, "hub says the task is no longer ours; aborting it");
            running.released = true;
            running.controller.abort(new Error("task lost"));
          }
        }
      } catch (error) {
        this.emit({ type: "hub-error", message: (error as Error).message });
        this.logger.warn({ err: (error as Error).message }, "heartbeat failed");
      }
      if (!this.stopping.signal.aborted || this.running.size > 0) this.scheduleHeartbeat();
    }, this.heartbeatMs);
  }

  private async claimLoop(): Promise<void> {
    let backoff = 100;
    // the next task, claimed together with the completion of the previous one
    let next: ClaimedTask | null = null;
    for (;;) {
      let task = next;
      next = null;
      if (!task) {
        if (this.stopping.signal.aborted) return;
        try {
          const waitMs = this.options.claimWaitMs ?? 20_000;
          const answer = await this.options.client.claim(
            this.options.name,
            { session: this.session, waitMs, start: true },
            { signal: this.stopping.signal },
          );
          task = answer.task;
          backoff = 100;
        } catch (error) {
          if (this.stopping.signal.aborted) return;
          this.emit({ type: "hub-error", message: (error as Error).message });
          this.logger.warn({ err: (error as Error).message }, "claim failed");
          if (isCodedError(error, "NOT_FOUND")) await this.checkin().catch(() => {});
          await sleep(backoff, this.stopping.signal);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
      }
      if (!task) continue;
      // an answer that arrives after stop() goes straight back: it must not wait for its lease
      if (this.stopping.signal.aborted) await this.handBack(task);
      else next = await this.runTask(task);
    }
  }

  /** Give a claimed task back without running it (the builder is stopping). */
  private async handBack(task: ClaimedTask): Promise<void> {
    try {
      await this.options.client.releaseTask(this.options.name, task.id, this.session, { timeoutMs: 10_000 });
      this.logger.info({ task: task.id }, "claimed while stopping; given back");
    } catch (error) {
      // checkout frees it as well; failing both, its lease lapses
      this.logger.warn({ task: task.id, err: (error as Error).message }, "could not give back a task claimed while stopping");
    }
    this.emit({ type: "task-finished", task: task.id, outcome: "released" });
  }

  /** Tell the hub which tasks this session still runs; it frees every other task the session holds. */
  private async checkout(keep: number[]): Promise<void> {
    if (!this.checkedIn) return;
    try {
      const answer = await this.options.client.checkout(this.options.name, { session: this.session, tasks: keep }, { timeoutMs: 10_000 });
      if (answer.freed.length) this.logger.info({ tasks: answer.freed }, "checked out; the hub freed tasks this builder does not run");
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, "checkout failed; unfinished tasks wait for their leases");
    }
  }

  private async runTask(task: ClaimedTask): Promise<ClaimedTask | null> {
    const controller = new AbortController();
    const entry: Running = { controller, promise: Promise.resolve(), released: false };
    const work = this.execute(task, controller.signal, entry);
    entry.promise = work.then(() => {});
    this.running.set(task.id, entry);
    try {
      return await work;
    } finally {
      this.running.delete(task.id);
    }
  }

  /** Calls that must reach the hub are retried through hub restarts (for up to ten minutes), not through refusals. */
  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 10 * 60_000;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await call();
      } catch (error) {
        const transient = isCodedError(error) && (error.category === "environment" || error.category === "timeout");
        if (!transient || Date.now() > deadline) throw error;
        this.logger.warn({ err: (error as Error).message }, "hub call failed, retrying");
        await sleep(delay);
      }
    }
  }

  private startTask(task: ClaimedTask): Promise<unknown> {
    return this.retrying(() => this.options.client.startTask(this.options.name, task.id, this.session));
  }

  private releaseTask(task: ClaimedTask): Promise<unknown> {
    return this.retrying(() => this.options.client.releaseTask(this.options.name, task.id, this.session));
  }

  private failTask(task: ClaimedTask, error: { code: string; message: string }, result?: TaskResult): Promise<unknown> {
    return this.retrying(() =>
      this.options.client.failTask(this.options.name, task.id, { session: this.session, error, ...(result ? { result } : {}) }),
    );
  }

  /** Complete a task; unless stopping, the same request claims the next one (returned, already started). */
  private async complete(task: ClaimedTask, result: TaskResult): Promise<ClaimedTask | null> {
    const claimNext = !this.stopping.signal.aborted;
    const answer = await this.retrying(() =>
      this.options.client.completeTask(this.options.name, task.id, { session: this.session, result, ...(claimNext ? { claimNext } : {}) }),
    );
    this.emit({ type: "task-finished", task: task.id, outcome: "closed" });
    return answer.next ?? null;
  }

  private async execute(task: ClaimedTask, signal: AbortSignal, entry: Running): Promise<ClaimedTask | null> {
    const log = this.logger.child({ task: task.id });
    try {
      if (task.state !== "open") await this.startTask(task);
    } catch (error) {
      log.warn({ err: (error as Error).message }, "could not start the task; dropping it");
      this.emit({ type: "task-finished", task: task.id, outcome: "lost" });
      return null;
    }
    this.emit({ type: "task-started", task: task.id, method: task.method });
    const dir = join(this.options.workDir, `task-${task.id}-${this.session}`);
    let madeDir = false;
    try {
      if (task.method === "noop") {
        const sleepMs = (task.request as { sleepMs?: number }).sleepMs ?? 0;
        if (sleepMs > 0) await sleep(sleepMs, signal);
        if (signal.aborted) throw signal.reason;
        return await this.complete(task, {});
      }
      if (Object.hasOwn(imageTaskKinds, task.method) && this.options.imageRunner) {
        await this.sweep();
        await makeTaskWorkDir(dir);
        madeDir = true;
        return await this.runImage(task, dir, this.options.imageRunner, signal);
      }
      if (task.method !== "buildArch") {
        await this.failTask(task, { code: "REQUEST_INVALID", message: `this builder does not run ${task.method} tasks` });
        this.emit({ type: "task-finished", task: task.id, outcome: "failed" });
        return null;
      }
      const request = task.request as BuildArchRequest;
      const sourceDir = join(dir, "source");
      const resultDir = join(dir, "result");
      await this.sweep();
      await makeTaskWorkDir(dir);
      madeDir = true;
      await mkdir(sourceDir);
      await mkdir(resultDir);
      for (const file of request.files)
        await this.retrying(() => this.options.client.downloadArtifact(file.sha256, join(sourceDir, basename(file.name))));
      const logStream = new LiveLog((chunk) =>
        this.options.client.appendTaskLog(this.options.name, task.id, "build.log", this.session, chunk).then(() => {}),
      );
      let result: Awaited<ReturnType<BuildRunner["build"]>>;
      try {
        result = await this.options.runner.build({
          dscPath: join(sourceDir, basename(request.dsc)),
          source: request.source,
          version: request.version,
          arch: request.arch,
          buildTag: request.buildTag,
          extraRepos: request.extraRepos,
          ...(request.binnmu ? { binnmu: request.binnmu } : {}),
          resultDir,
          log: (chunk) => logStream.write(chunk),
          signal,
        });
      } catch (error) {
        await logStream.close();
        if (signal.aborted) throw error;
        result = { ok: false, files: [], installed: [], failure: { code: "BUILD_ENVIRONMENT_FAILED", message: (error as Error).message } };
      }
      await logStream.close();
      if (signal.aborted) throw signal.reason;
      const files: ResultFile[] = [];
      for (const file of result.files) {
        const known = file.sha256 !== undefined && file.size !== undefined ? { sha256: file.sha256, size: file.size } : undefined;
        const uploaded = await this.retrying(() => this.options.client.uploadFile(file.path, known));
        files.push({
          ...uploaded,
          kind: file.kind,
          ...(file.package ? { package: file.package, version: file.version, arch: file.arch } : {}),
        });
      }
      if (result.ok) return await this.complete(task, { files, installed: result.installed });
      const failure = result.failure ?? { code: "BUILD_STEP_FAILED", message: "the build failed" };
      await this.failTask(task, { code: failure.code, message: failure.message }, { files, failure });
      this.emit({ type: "task-finished", task: task.id, outcome: "failed" });
      return null;
    } catch (error) {
      if (signal.aborted) {
        if (!entry.released) {
          await this.releaseTask(task).catch(() => {});
          this.emit({ type: "task-finished", task: task.id, outcome: "released" });
        } else this.emit({ type: "task-finished", task: task.id, outcome: "lost" });
        return null;
      }
      if (isCodedError(error, "TASK_NOT_OWNED")) {
        this.emit({ type: "task-finished", task: task.id, outcome: "lost" });
        return null;
      }
      log.error({ err: (error as Error).message }, "task failed on the builder");
      await this.failTask(task, { code: "BUILD_ENVIRONMENT_FAILED", message: (error as Error).message.slice(0, 4000) }).catch(() => {});
      this.emit({ type: "task-finished", task: task.id, outcome: "failed" });
      return null;
    } finally {
      if (madeDir) await removeTaskWorkDir(dir, log).catch(() => {});
    }
  }

  /** Fail a task with a coded error and report it. */
  private async failWith(task: ClaimedTask, error: { code: string; message: string }): Promise<null> {
    await this.failTask(task, { code: error.code, message: error.message.slice(0, 4000) });
    this.emit({ type: "task-finished", task: task.id, outcome: "failed" });
    return null;
  }

  /**
   * A compose's image phases (composeImage: W holds the request, the definition and its files, the
   * snapshot), its disk images (diskImage: the request, the definition, the commit's repository tar) or
   * its update boot test (updateTest: the request, the previous image, the repository tar):
   * prepare W, run the command with its output in the live log `image.log`, check W/out/result.json,
   * upload the files it lists and complete with { files, image }. A hostile request or result fails the
   * task with its code before anything is uploaded; an abort kills the command (through the signal) and
   * gives the task back.
   */
  private async runImage(task: ClaimedTask, dir: string, runner: ImageRunner, signal: AbortSignal): Promise<ClaimedTask | null> {
    const download = (sha256: string, path: string) => this.retrying(() => this.options.client.downloadArtifact(sha256, path));
    const kind = imageTaskKinds[task.method as keyof typeof imageTaskKinds];
    try {
      await kind.prepare(dir, task.request, download, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      if (isCodedError(error, "REQUEST_INVALID") || isCodedError(error, "PATH_INVALID")) return this.failWith(task, error);
      throw error;
    }
    const logStream = new LiveLog((chunk) =>
      this.options.client.appendTaskLog(this.options.name, task.id, "image.log", this.session, chunk).then(() => {}),
    );
    // the log is complete before the task ends (the hub refuses appends to an ended task); closed in any case
    try {
      const outcome = await runner.run({ verb: kind.verb, workDir: dir, log: (chunk) => logStream.write(chunk), signal });
      if (signal.aborted) throw signal.reason;
      if (!outcome.ok) {
        logStream.write(`\n== image task failed: ${outcome.error.code}: ${outcome.error.message}\n`);
        await logStream.close();
        return await this.failWith(task, outcome.error);
      }
      let result: Awaited<ReturnType<typeof readImageResult>>;
      try {
        result = await readImageResult(join(dir, "out"));
      } catch (error) {
        if (!isCodedError(error, "IMAGE_RESULT_INVALID")) throw error;
        logStream.write(`\n== ${error.code}: ${error.message}\n`);
        await logStream.close();
        return await this.failWith(task, error);
      }
      const files: ResultFile[] = [];
      for (const file of result.files) {
        const uploaded = await this.retrying(() => this.options.client.uploadFile(file.path));
        files.push({ ...uploaded, kind: file.kind });
      }
      await logStream.close();
      return await this.complete(task, { files, image: result.image });
    } finally {
      await logStream.close();
    }
  }

  /**
   * Stop claiming (the open long-poll claims are aborted, and any claim answer that still arrives is
   * given back at once); check out, so the hub frees at once whatever this session holds beyond the
   * running tasks; let those finish within the grace time, then abort them and give them back.
   */
  async stop(graceMs = this.options.graceMs ?? 60_000): Promise<void> {
    this.stopping.abort();
    await this.checkout(this.activeTasks);
    const pending = [...this.running.values()].map((r) => r.promise);
    const timer = setTimeout(() => {
      for (const running of this.running.values()) running.controller.abort(new Error("builder stopping"));
    }, graceMs);
    await Promise.allSettled(pending);
    clearTimeout(timer);
    await Promise.allSettled(this.loops);
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    // whatever a completion claimed while the tasks were finishing went back already; this catches the rest
    await this.checkout([]);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
