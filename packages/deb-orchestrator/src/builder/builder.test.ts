import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HubClient } from "../client/hub-client.js";
import { orchestratorError } from "../errors.js";
import { guardDelivery } from "../hub/tasks/claim-delivery.js";
import { submitNoop } from "../hub/tasks/methods/noop.js";
import { claimOnce } from "../hub/tasks/scheduler.js";
import { RawHubClient } from "../testing/raw-hub-client.js";
import { until, waitForTask } from "../testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";
import { NoopBuildRunner } from "./build-runner.js";
import { Builder, type BuilderEvent } from "./builder.js";

const databases = useDatabases();

interface TaskAnswer {
  id: number;
  state: string;
}

/**
 * A HubClient that can hold claim answers carrying a task (the answer has reached the builder's host but
 * not yet the builder's code: the window in which stop() may be called), can refuse checkouts (a hub that
 * cannot be reached at that moment), and counts the host calls it makes.
 */
class ScriptedClient extends RawHubClient {
  holdClaims = false;
  failCheckout = false;
  claimsWithTask = 0;
  completions = 0;
  chained = 0;
  private heldResolve: ((task: TaskAnswer) => void) | undefined;
  private releaseGate: (() => void) | undefined;
  readonly held = new Promise<TaskAnswer>((resolve) => {
    this.heldResolve = resolve;
  });

  override async claim(...call: Parameters<HubClient["claim"]>) {
    const answer = await super.claim(...call);
    if (answer.task) {
      this.claimsWithTask++;
      if (this.holdClaims) {
        this.heldResolve?.(answer.task);
        // the answer is here; the builder sees it only when the test lets it through
        await new Promise<void>((resolve) => {
          this.releaseGate = resolve;
        });
      }
    }
    return answer;
  }

  override async checkout(...call: Parameters<HubClient["checkout"]>) {
    if (this.failCheckout) throw orchestratorError("HUB_UNREACHABLE", "checkout refused by the test");
    return super.checkout(...call);
  }

  override async completeTask(...call: Parameters<HubClient["completeTask"]>) {
    const answer = await super.completeTask(...call);
    this.completions++;
    if (answer.next) this.chained++;
    return answer;
  }

  deliver(): void {
    this.releaseGate?.();
  }
}

describe.each(databaseKinds)("builder on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  // leases far longer than any test step: a task that becomes free here was given back, never lapsed
  const leaseMs = 120_000;

  async function hostClient(name: string): Promise<ScriptedClient> {
    await test.admin.post("/api/v1/users", { name, perms: ["host"] });
    const { token } = await test.admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, {});
    return new ScriptedClient({ url: test.hub.url, token });
  }

  function builderFor(client: HubClient, name: string, events: BuilderEvent[] = []): Builder {
    const builder = new Builder({
      client,
      name,
      arches: ["amd64"],
      capacity: 1,
      runner: new NoopBuildRunner(),
      workDir: join(test.dir, `work-${name}`),
      claimWaitMs: 30_000,
    });
    builder.on((event) => events.push(event));
    builders.push(builder);
    return builder;
  }

  async function freedReasons(task: number): Promise<unknown[]> {
    const events = await test.admin.get<{ kind: string; data: { reason?: string } }[]>(`/api/v1/events?type=task&object=${task}`);
    return events.filter((e) => e.kind === "task.freed").map((e) => e.data.reason);
  }

  async function taskRow(id: number) {
    return test.hub.ctx.db.selectFrom("tasks").select(["state", "host_id", "attempts"]).where("id", "=", id).executeTakeFirstOrThrow();
  }

  it("gives back a task whose claim answer arrives after stop(), without running it", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    const client = await hostClient("b1");
    client.holdClaims = true;
    client.failCheckout = true; // only the builder's own hand-back can free the task
    const events: BuilderEvent[] = [];
    const builder = builderFor(client, "b1", events);
    await builder.start();
    await until(async () => test.hub.ctx.dispatcher.waiting >= 1, 10_000, "the builder's claim to wait at the hub");
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    expect((await client.held).id).toBe(task);
    expect(await taskRow(task)).toMatchObject({ state: "open", attempts: 0 });
    const stopped = builder.stop(100);
    client.deliver();
    await stopped;
    expect(await taskRow(task)).toEqual({ state: "free", host_id: null, attempts: 0 });
    expect(await freedReasons(task)).toEqual(["released"]);
    expect(events.filter((e) => e.type === "task-started")).toEqual([]);
    expect(events).toContainEqual({ type: "task-finished", task, outcome: "released" });
  });

  it("checks out on stop: the hub frees a task claimed for the stopping builder at once", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    const client = await hostClient("b1");
    client.holdClaims = true;
    const events: BuilderEvent[] = [];
    const builder = builderFor(client, "b1", events);
    await builder.start();
    await until(async () => test.hub.ctx.dispatcher.waiting >= 1, 10_000, "the builder's claim to wait at the hub");
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    await client.held;
    const stopped = builder.stop(100);
    // freed by the checkout while the answer is still on its way
    await until(async () => (await taskRow(task)).state === "free", 5000, "the checkout to free the task");
    client.deliver();
    await stopped;
    expect(await taskRow(task)).toEqual({ state: "free", host_id: null, attempts: 0 });
    expect(await freedReasons(task)).toEqual(["builder-stopped"]);
    expect(events.filter((e) => e.type === "task-started")).toEqual([]);
  });

  it("aborts its waiting claim on stop(), so the hub stops waiting and another builder gets the next task", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    const b1 = builderFor(await hostClient("b1"), "b1");
    await b1.start();
    await until(async () => test.hub.ctx.dispatcher.waiting === 1, 10_000, "b1's claim to wait at the hub");
    await b1.stop(100);
    // the claim's wait is 30 s; the hub notices the closed connection instead
    await until(async () => test.hub.ctx.dispatcher.waiting === 0, 5000, "the hub to drop b1's claim");
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    expect(await taskRow(task)).toMatchObject({ state: "free", host_id: null });
    await builderFor(await hostClient("b2"), "b2").start();
    expect((await waitForTask(test.admin, task, 10_000)).state).toBe("closed");
    const b2 = await test.hub.ctx.db.selectFrom("hosts").select("id").where("name", "=", "b2").executeTakeFirstOrThrow();
    expect(await taskRow(task)).toEqual({ state: "closed", host_id: b2.id, attempts: 0 });
  });

  it("frees a claimed task whose answer could not be written to the builder's connection", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    await (await test.user("b1", ["host"])).post("/api/v1/hosts/b1/checkin", { session: "s1", arches: ["amd64"], capacity: 3 });
    const host = await test.hub.ctx.db.selectFrom("hosts").selectAll().where("name", "=", "b1").executeTakeFirstOrThrow();
    const admin = { userId: 1, name: "admin", perms: new Set(["admin"]) };
    const task = await submitNoop(test.hub.ctx, admin, { arch: "amd64" });
    // a stand-in for the HTTP response: `close` with writableFinished false is a connection that went away
    // a stand-in for the long-poll's HTTP response: only its close event and writableFinished matter
    const connection = () => Object.assign(new EventEmitter(), { writableFinished: false }) as EventEmitter & { writableFinished: boolean };
    const raw = (c: ReturnType<typeof connection>) => c as unknown as ServerResponse;
    const claimed = async () => {
      const row = await claimOnce(test.hub.ctx, host.id, "s1", true);
      expect(row?.id).toBe(task);
      return row;
    };
    const settled = () => Promise.allSettled([...test.hub.ctx.inflight]);

    // gone before the claim returned: the answer is empty and the task goes back at once
    const early = connection();
    const first = guardDelivery(test.hub.ctx, { raw: raw(early) }, host, "s1");
    early.emit("close");
    expect(first.gone.aborted).toBe(true);
    expect(first.hand(await claimed())).toBeNull();
    await settled();
    expect(await taskRow(task)).toEqual({ state: "free", host_id: null, attempts: 0 });
    // gone while the answer was being written
    const late = connection();
    const second = guardDelivery(test.hub.ctx, { raw: raw(late) }, host, "s1");
    expect(second.hand(await claimed())).toMatchObject({ id: task, state: "open", method: "noop" });
    late.emit("close");
    await settled();
    expect(await taskRow(task)).toEqual({ state: "free", host_id: null, attempts: 0 });
    // delivered: the task stays with the builder
    const fine = connection();
    const third = guardDelivery(test.hub.ctx, { raw: raw(fine) }, host, "s1");
    expect(third.hand(await claimed())).toMatchObject({ id: task });
    fine.writableFinished = true;
    fine.emit("close");
    await settled();
    expect(await taskRow(task)).toEqual({ state: "open", host_id: host.id, attempts: 0 });
    expect(await freedReasons(task)).toEqual(["undelivered", "undelivered"]);
  });

  it("claims the next task with each completion: one claim request for a queue of tasks", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" })).task);
    const client = await hostClient("b1");
    const events: BuilderEvent[] = [];
    await builderFor(client, "b1", events).start();
    for (const id of ids) expect((await waitForTask(test.admin, id, 20_000)).state).toBe("closed");
    expect(client.claimsWithTask).toBe(1);
    expect(client.completions).toBe(10);
    expect(client.chained).toBe(9);
    // every task still went through assigned and open with its own events, in claim order
    const started = events.filter((e) => e.type === "task-started").map((e) => (e as { task: number }).task);
    expect(started).toEqual(ids);
    for (const id of ids) {
      const kinds = await test.admin.get<{ kind: string; data: { state?: string } }[]>(`/api/v1/events?type=task&object=${id}`);
      expect(kinds.map((e) => e.data.state)).toEqual(["free", "assigned", "open", "closed"]);
    }
  });

  it("answers a completion's claimNext with the next task, or null when none is free", async () => {
    test = await startTestHub(databases, kind, { leaseMs });
    const client = await hostClient("b1");
    await client.post("/api/v1/hosts/b1/checkin", { session: "s1", arches: ["amd64"], capacity: 1 });
    const first = (await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" })).task;
    const claimed = await client.post<{ task: TaskAnswer }>("/api/v1/hosts/b1/claim", { session: "s1", waitMs: 0, start: true });
    expect(claimed.task.id).toBe(first);
    // nothing queued: completion answers next = null
    expect(await client.post(`/api/v1/hosts/b1/tasks/${first}/complete`, { session: "s1", claimNext: true })).toEqual({
      ok: true,
      next: null,
    });
    const second = (await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" })).task;
    const third = (await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" })).task;
    await client.post("/api/v1/hosts/b1/claim", { session: "s1", waitMs: 0, start: true });
    const answer = await client.post<{ next: TaskAnswer }>(`/api/v1/hosts/b1/tasks/${second}/complete`, { session: "s1", claimNext: true });
    expect(answer.next).toMatchObject({ id: third, state: "open", method: "noop" });
    // without claimNext the answer is as before
    expect(await client.post(`/api/v1/hosts/b1/tasks/${third}/complete`, { session: "s1" })).toEqual({ ok: true });
  });
});
