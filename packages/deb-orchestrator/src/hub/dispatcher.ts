interface Waiter {
  hostId: number;
  arches: ReadonlySet<string>;
  capabilities: ReadonlySet<string>;
  wake: () => void;
}

/**
 * Wakes builders that are long-polling for work. A claim request that found nothing waits here; when a
 * task becomes free the hub wakes one waiting builder of that architecture with the capability the task
 * needs (an image task does not wake a build-only builder, which would find nothing), so dispatch takes
 * one round trip instead of a poll interval. `generation` closes the gap between a claim that found
 * nothing and the wait that follows it.
 */
export class Dispatcher {
  private waiters: Waiter[] = [];
  private generation = 0;

  get current(): number {
    return this.generation;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolve on a wake, after `ms`, or on abort; at once if something woke since `seenGeneration`. */
  wait(
    hostId: number,
    arches: ReadonlySet<string>,
    capabilities: ReadonlySet<string>,
    seenGeneration: number,
    ms: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.generation !== seenGeneration || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = { hostId, arches, capabilities, wake: done };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Told about every local wake, so other hub processes on the same database can wake their builders. */
  relay: ((arch: string | null, capability: string | null) => void) | undefined;

  /**
   * `count` tasks of `arch` that need `capability` became free (null: any architecture, any capability):
   * wake that many waiting builders that can take them.
   */
  wake(arch: string | null, capability: string | null = null, count = 1, fromRelay = false): void {
    if (!fromRelay) this.relay?.(arch, capability);
    this.generation++;
    let left = count;
    for (const waiter of [...this.waiters]) {
      if (left <= 0) break;
      if ((arch === null || waiter.arches.has(arch)) && (capability === null || waiter.capabilities.has(capability))) {
        waiter.wake();
        left--;
      }
    }
  }

  wakeAll(): void {
    this.generation++;
    for (const waiter of [...this.waiters]) waiter.wake();
  }
}
