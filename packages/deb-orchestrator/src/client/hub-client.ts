import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CodedError, type ErrorCategory } from "@debian-bootc/core";
import { hashFileWith, type RepositoryFetch } from "@debian-bootc/debian";
import type { z } from "zod";
import type { CheckinRequest } from "../api/builder-protocol.js";
import { contractChecksFromEnvironment, type Operation, type Permission } from "../api/operation.js";
import { type HubOperations, hubOperations, type OperationId, operationUrl } from "../api/routes.js";
import type { TagSpec } from "../api/tags.js";
import type { BuildRequest, TaskResult, TaskState } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

export interface HubClientOptions {
  url: string;
  token?: string;
  /** Per-request timeout for ordinary calls (long-polls add their wait). */
  timeoutMs?: number;
  /** Check the builder protocol's answers against the contract too (default: DEB_ORCHESTRATOR_CHECK_RESPONSES=1). */
  checkAnswers?: boolean;
}

type RequestBody = NonNullable<RequestInit["body"]>;

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SendInit extends CallOptions {
  body?: RequestBody;
  headers?: Record<string, string>;
  duplex?: "half";
}

type Field<O, K extends string> = O extends { readonly [P in K]: infer S extends z.ZodType } ? z.input<S> : never;
/** What an operation takes: its path parameters, query and body, each where the contract has one. */
export type OperationInput<O> = ([Field<O, "params">] extends [never] ? unknown : { params: Field<O, "params"> }) &
  ([Field<O, "query">] extends [never] ? unknown : { query: Field<O, "query"> }) &
  ([Field<O, "body">] extends [never] ? unknown : { body: Field<O, "body"> });
/** What an operation answers: the parsed JSON by its contract. */
export type OperationAnswer<O> = O extends { readonly response: infer S extends z.ZodType } ? z.output<S> : never;
export type Answer<K extends OperationId> = OperationAnswer<HubOperations[K]>;

/**
 * The builder protocol's answers, several per task on a builder: parsing them with zod cost a builder
 * more CPU per task than the rest of its client together and protects nothing (a builder takes a task's
 * request as it comes; the hub validated it at submit). They are checked where the contract is tested:
 * with DEB_ORCHESTRATOR_CHECK_RESPONSES=1, as the test suite runs, where the hub checks them as well.
 */
const builderProtocolAnswers: ReadonlySet<OperationId> = new Set([
  "claim",
  "heartbeat",
  "startTask",
  "completeTask",
  "failTask",
  "releaseTask",
  "appendTaskLog",
] satisfies OperationId[]);

function categoryForStatus(status: number): ErrorCategory {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 409) return "conflict";
  if (status === 413) return "too-large";
  if (status === 429) return "too-many";
  if (status === 503) return "environment";
  if (status === 504) return "timeout";
  if (status >= 400 && status < 500) return "input";
  return "environment";
}

function orUndefinedWhenMissing<T>(answer: Promise<T>): Promise<T | undefined> {
  return answer.catch((error: unknown) => {
    if (error instanceof CodedError && error.category === "not-found") return undefined;
    throw error;
  });
}

/**
 * A hub's HTTP API, one method per operation of the contract (src/api): the URL comes from the route
 * table, the answer is parsed with the operation's response schema, and hub errors come back as
 * CodedErrors with the hub's code.
 */
export class HubClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly checkAnswers: boolean;

  constructor(options: HubClientOptions) {
    this.url = options.url.replace(/\/$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.checkAnswers = options.checkAnswers ?? contractChecksFromEnvironment();
  }

  private authorization(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** One HTTP request to a path of the hub; any status but 2xx becomes a CodedError. */
  protected async send(method: string, path: string, init: SendInit = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(init.timeoutMs ?? this.timeoutMs);
    const signal = init.signal ? AbortSignal.any([timeout, init.signal]) : timeout;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        body: init.body,
        headers: { ...this.authorization(), ...init.headers },
        signal,
        ...(init.duplex ? { duplex: init.duplex } : {}),
      } as RequestInit);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw orchestratorError(
        "HUB_UNREACHABLE",
        `hub ${this.url} did not answer ${method} ${path}: ${(error as Error).cause ?? (error as Error).message}`,
        { cause: error },
      );
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      let body: { code?: string; message?: string; hint?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON
      }
      throw new CodedError(
        body.code ?? "HUB_ERROR",
        categoryForStatus(response.status),
        body.message ?? `hub answered ${response.status} to ${method} ${path}`,
        { hint: body.hint, details: { status: response.status } },
      );
    }
    return response;
  }

  private request(id: OperationId, input: object, init: SendInit = {}): Promise<Response> {
    const operation: Operation = hubOperations[id];
    const { params, query, body } = input as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const json = body !== undefined && !operation.bodyType;
    return this.send(operation.method, operationUrl(operation, params, query), {
      ...init,
      ...(json ? { body: JSON.stringify(body), headers: { "content-type": "application/json", ...init.headers } } : {}),
    });
  }

  /** Call an operation that answers JSON; the answer is checked against the contract (the builder protocol's when asked). */
  async call<K extends OperationId>(id: K, input: OperationInput<HubOperations[K]>, options: SendInit = {}): Promise<Answer<K>> {
    const response = await this.request(id, input as object, options);
    const schema = (hubOperations[id] as Operation).response;
    if (!schema) throw new Error(`${id} does not answer JSON; open it`);
    const text = await response.text();
    const answer: unknown = text ? JSON.parse(text) : undefined;
    if (!this.checkAnswers && builderProtocolAnswers.has(id)) return answer as Answer<K>;
    const parsed = schema.safeParse(answer);
    if (!parsed.success)
      throw orchestratorError("HUB_ERROR", `hub ${this.url} answered ${id} with something its API contract does not allow`, {
        details: { issues: parsed.error.issues.slice(0, 5) },
      });
    return parsed.data as Answer<K>;
  }

  /** Call an operation that answers bytes, text or a stream: the response, to be read by the caller. */
  open<K extends OperationId>(id: K, input: OperationInput<HubOperations[K]>, init: SendInit = {}): Promise<Response> {
    return this.request(id, input as object, init);
  }

  // identity
  health() {
    return this.call("health", {});
  }
  whoami() {
    return this.call("whoami", {});
  }
  listUsers() {
    return this.call("listUsers", {});
  }
  createUser(name: string, perms: Permission[] = []) {
    return this.call("createUser", { body: { name, perms } });
  }
  grantPermission(user: string, perm: Permission, revoke = false) {
    return this.call("grantPermission", { params: { name: user }, body: { perm, revoke } });
  }
  createToken(user: string, options: { label?: string; expiresAt?: number } = {}) {
    return this.call("createToken", { params: { name: user }, body: options });
  }
  listTokens(user: string) {
    return this.call("listTokens", { params: { name: user } });
  }
  revokeToken(id: number) {
    return this.call("revokeToken", { params: { id } });
  }
  setUserDisabled(user: string, disabled: boolean) {
    return this.call(disabled ? "disableUser" : "enableUser", { params: { name: user } });
  }

  // tags, external repositories, targets
  listTags() {
    return this.call("listTags", {});
  }
  getTag(name: string) {
    return this.call("getTag", { params: { name } });
  }
  /** A tag, or undefined when the hub has none of that name. */
  findTag(name: string): Promise<Answer<"getTag"> | undefined> {
    return orUndefinedWhenMissing(this.getTag(name));
  }
  createTag(name: string, spec: TagSpec = {}) {
    return this.call("createTag", { body: { name, ...spec } });
  }
  editTag(name: string, spec: TagSpec) {
    return this.call("editTag", { params: { name }, body: spec });
  }
  listTagged(tag: string, options: { latest?: boolean; inherit?: boolean } = {}) {
    return this.call("listTagged", { params: { name: tag }, query: options });
  }
  latestTagged(tag: string, pkg: string) {
    return this.call("latestTagged", { params: { name: tag, pkg } });
  }
  /** Tag a build (id or NAME/VERSION); the answer names the newRepo task queued, unless regen is false. */
  tagBuild(tag: string, build: string, options: { regen?: boolean } = {}) {
    return this.call("tagBuild", { params: { name: tag }, body: { build, ...options } });
  }
  untagBuild(tag: string, build: string, options: { regen?: boolean } = {}) {
    return this.call("untagBuild", { params: { name: tag }, query: { build, ...options } });
  }
  /** A tag's automatic rebuilds, by the build that caused them. */
  listRebuilds(tag: string) {
    return this.call("listRebuilds", { params: { name: tag } });
  }
  /** Dry run: what a build (id or NAME/VERSION; default: the one tagged last) landing in the tag would rebuild. */
  planRebuilds(tag: string, build?: string) {
    return this.call("planRebuilds", { params: { name: tag }, query: build === undefined ? {} : { build } });
  }
  regenRepo(tag: string) {
    return this.call("regenRepo", { params: { name: tag } });
  }
  listExternalRepos() {
    return this.call("listExternalRepos", {});
  }
  createExternalRepo(spec: { name: string; url: string; suite: string; components?: string[] }) {
    return this.call("createExternalRepo", { body: spec });
  }
  listTargets() {
    return this.call("listTargets", {});
  }
  createTarget(spec: { name: string; buildTag: string; destTag: string }) {
    return this.call("createTarget", { body: spec });
  }

  // builds
  submitBuild(request: BuildRequest) {
    return this.call("submitBuild", { body: request });
  }
  /** Upload a .dsc and the files it lists (the .dsc among them), then submit its build. */
  async submitSource(source: { dsc: string; files: readonly string[] }, request: Omit<BuildRequest, "dsc" | "files">) {
    const files = [];
    for (const file of source.files) files.push(await this.uploadFile(file));
    return this.submitBuild({ ...request, dsc: basename(source.dsc), files });
  }
  listBuilds(filter: { name?: string; state?: Answer<"getBuild">["state"]; limit?: number } = {}) {
    return this.call("listBuilds", { query: filter });
  }
  /** A build by id or NAME/VERSION. */
  getBuild(ref: string | number) {
    return this.call("getBuild", { params: { ref: String(ref) } });
  }
  /** A build by name and version, or undefined when the hub has none. */
  findBuild(name: string, version: string): Promise<Answer<"getBuild"> | undefined> {
    return orUndefinedWhenMissing(this.getBuild(`${name}/${version}`));
  }
  deleteBuild(ref: string, options: { removeArtifacts?: boolean } = {}) {
    return this.call("deleteBuild", { params: { ref }, query: { artifacts: options.removeArtifacts ? "remove" : "keep" } });
  }
  whyBuild(ref: string) {
    return this.call("whyBuild", { params: { ref } });
  }

  // tasks
  listTasks(filter: { state?: TaskState[]; method?: string; parent?: number; top?: boolean; limit?: number } = {}) {
    return this.call("listTasks", { query: filter });
  }
  submitNoop(request: { arch: string; priority?: number; sleepMs?: number }) {
    return this.call("submitNoop", { body: { method: "noop", ...request } });
  }
  getTask(id: number) {
    return this.call("getTask", { params: { id } });
  }
  whyTask(id: number) {
    return this.call("whyTask", { params: { id } });
  }
  /** Queue a running compose's image phases for one variant/arch (a composeImage task). */
  queueComposeImage(compose: string, request: Field<HubOperations["queueComposeImage"], "body">) {
    return this.call("queueComposeImage", { params: { id: compose }, body: request });
  }
  /** Queue a running compose's disk images of one variant/arch, its commit signed (a diskImage task). */
  queueDiskImage(compose: string, request: Field<HubOperations["queueDiskImage"], "body">) {
    return this.call("queueDiskImage", { params: { id: compose }, body: request });
  }
  /** Queue a running compose's A/B update boot test for one variant/arch (an updateTest task). */
  queueUpdateTest(compose: string, request: Field<HubOperations["queueUpdateTest"], "body">) {
    return this.call("queueUpdateTest", { params: { id: compose }, body: request });
  }
  cancelTask(id: number) {
    return this.call("cancelTask", { params: { id } });
  }
  resubmitTask(id: number) {
    return this.call("resubmitTask", { params: { id } });
  }
  listTaskLogs(id: number) {
    return this.call("listTaskLogs", { params: { id } });
  }
  /** A task's log from an offset (the x-next-offset header says where to go on); follow streams it until the task ends. */
  taskLog(id: number, name: string, options: { offset?: number; follow?: boolean } & CallOptions = {}) {
    const { offset, follow, ...init } = options;
    return this.open("readTaskLog", { params: { id, name }, query: { offset, follow } }, init);
  }

  // artifacts
  /** Upload a file, streamed, declaring its sha256 and size; `known` (e.g. from deb-mock's result.json) spares hashing it again, and the hub checks it on receipt. */
  async uploadFile(path: string, known?: { sha256: string; size: number }): Promise<{ name: string; sha256: string; size: number }> {
    const { sha256, size } = known ?? (await hashFileWith(path, ["sha256"]));
    await this.open(
      "uploadArtifact",
      { params: { sha256 }, query: { size } },
      {
        body: Readable.toWeb(createReadStream(path)) as unknown as RequestBody,
        headers: { "content-type": "application/octet-stream" },
        duplex: "half",
        timeoutMs: Math.max(this.timeoutMs, 10 * 60_000),
      },
    );
    return { name: basename(path), sha256, size };
  }

  /** Upload a file unless the store holds its SHA256 already (asked with HEAD): a compose's snapshot is mostly .debs the hub has. */
  async uploadFileOnce(path: string): Promise<{ name: string; sha256: string; size: number; uploaded: boolean }> {
    const { sha256, size } = await hashFileWith(path, ["sha256"]);
    try {
      await this.open("artifactSize", { params: { sha256 } });
      return { name: basename(path), sha256, size, uploaded: false };
    } catch (error) {
      if (!(error instanceof CodedError) || error.details?.status !== 404) throw error;
    }
    return { ...(await this.uploadFile(path, { sha256, size })), uploaded: true };
  }

  async uploadBuffer(data: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash("sha256").update(data).digest("hex");
    await this.open(
      "uploadArtifact",
      { params: { sha256 }, query: { size: data.length } },
      { body: new Uint8Array(data), headers: { "content-type": "application/octet-stream" } },
    );
    return { sha256, size: data.length };
  }

  /** Download an artifact to a path, checking its sha256; written to a temp name and renamed. */
  async downloadArtifact(sha256: string, path: string): Promise<void> {
    const response = await this.open("downloadArtifact", { params: { sha256 } }, { timeoutMs: Math.max(this.timeoutMs, 10 * 60_000) });
    if (!response.body) throw orchestratorError("HUB_ERROR", `empty body for artifact ${sha256}`);
    const tmp = `${path}.part`;
    const hash = createHash("sha256");
    try {
      await pipeline(
        Readable.fromWeb(response.body as never),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      const actual = hash.digest("hex");
      if (actual !== sha256) throw orchestratorError("ARTIFACT_MISMATCH", `downloaded artifact ${sha256} has sha256 ${actual}`);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  // the builder protocol
  listHosts() {
    return this.call("listHosts", {});
  }
  setHostEnabled(host: string, enabled: boolean) {
    return this.call(enabled ? "enableHost" : "disableHost", { params: { name: host } });
  }
  checkin(host: string, request: CheckinRequest) {
    return this.call("checkin", { params: { name: host }, body: request });
  }
  /** Long-poll for a task for up to waitMs; start marks it open at once. */
  claim(host: string, request: { session: string; waitMs: number; start?: boolean }, options: CallOptions = {}) {
    return this.call("claim", { params: { name: host }, body: request }, { timeoutMs: request.waitMs + 15_000, ...options });
  }
  checkout(host: string, request: { session: string; tasks: number[] }, options: CallOptions = {}) {
    return this.call("checkout", { params: { name: host }, body: request }, options);
  }
  heartbeat(host: string, request: { session: string; load: number; tasks: number[] }) {
    return this.call("heartbeat", { params: { name: host }, body: request });
  }
  startTask(host: string, id: number, session: string) {
    return this.call("startTask", { params: { name: host, id }, body: { session } });
  }
  /** Report success; claimNext also claims and starts the next task (answered as `next`). */
  completeTask(host: string, id: number, request: { session: string; result: TaskResult; claimNext?: boolean }) {
    return this.call("completeTask", { params: { name: host, id }, body: request });
  }
  failTask(host: string, id: number, request: { session: string; error: { code: string; message: string }; result?: TaskResult }) {
    return this.call("failTask", { params: { name: host, id }, body: request });
  }
  releaseTask(host: string, id: number, session: string, options: CallOptions = {}) {
    return this.call("releaseTask", { params: { name: host, id }, body: { session } }, options);
  }
  /** Append a chunk (UTF-8 text) to a task's live log. */
  appendTaskLog(host: string, id: number, log: string, session: string, chunk: string | Uint8Array, options: CallOptions = {}) {
    return this.call(
      "appendTaskLog",
      { params: { name: host, id, log }, query: { session } },
      { ...options, body: chunk, headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  }

  // events and webhooks
  listEvents(filter: { after?: number; limit?: number; type?: string; object?: number } = {}) {
    return this.call("listEvents", { query: filter });
  }
  /** The event log as server-sent events, from now (or after an event id) on. */
  streamEvents(filter: { after?: number; type?: string; object?: number } = {}, init: CallOptions = {}) {
    return this.open("streamEvents", { query: filter }, init);
  }
  listWebhooks() {
    return this.call("listWebhooks", {});
  }
  createWebhook(spec: { url: string; secret: string; kinds?: string[]; allowLocal?: boolean }) {
    return this.call("createWebhook", { body: spec });
  }
  deleteWebhook(id: number) {
    return this.call("deleteWebhook", { params: { id } });
  }

  // composes
  createCompose(spec: { id: string; name: string; definition: string; phases?: string[] }) {
    return this.call("createCompose", { body: spec });
  }
  reportComposePhase(id: string, phase: string, report: Field<HubOperations["reportComposePhase"], "body">) {
    return this.call("reportComposePhase", { params: { id, phase }, body: report });
  }
  /** The compose's client is still there (between phase reports): renew the compose's lease. */
  renewCompose(id: string) {
    return this.call("renewCompose", { params: { id } });
  }
  /** End a compose with its status and results; the SBOM and package lists can be large: a longer timeout. */
  finishCompose(id: string, result: Field<HubOperations["finishCompose"], "body">) {
    return this.call("finishCompose", { params: { id }, body: result }, { timeoutMs: Math.max(this.timeoutMs, 5 * 60_000) });
  }
  listComposes(filter: Field<HubOperations["listComposes"], "query"> = {}) {
    return this.call("listComposes", { query: filter });
  }
  getCompose(id: string) {
    return this.call("getCompose", { params: { id } });
  }
  getComposeSbom(id: string) {
    return this.call("getComposeSbom", { params: { id } });
  }
  async composePhaseLog(id: string, phase: string): Promise<string> {
    return (await this.open("readComposePhaseLog", { params: { id, phase } })).text();
  }

  // repositories
  /**
   * A fetch for the files of the hub's tag repositories (/repos/...) with this client's token, for APT
   * readers and package downloads (a hub run with --private-read refuses them without one). It answers
   * as fetch does (a 404 is an answer) and refuses any other URL and any redirect, so the token goes
   * nowhere else.
   */
  readonly repoFetch: RepositoryFetch = (url, init) => {
    const hub = new URL(`${this.url}/repos/`);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.reject(orchestratorError("REQUEST_INVALID", `not a URL: ${url.slice(0, 200)}`));
    }
    if (target.origin !== hub.origin || !target.pathname.startsWith(hub.pathname))
      return Promise.reject(orchestratorError("REQUEST_INVALID", `${url.slice(0, 200)} is not a file of ${hub.href}`));
    return fetch(target, { ...init, redirect: "error", headers: this.authorization() });
  };

  /** The armored OpenPGP key the hub signs its tag repositories with. */
  async repoKey(): Promise<string> {
    return (await this.open("repoKey", {})).text();
  }
}
