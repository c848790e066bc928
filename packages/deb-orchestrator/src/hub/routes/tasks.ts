import { join } from "node:path";
import { Readable } from "node:stream";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { type ComposeImageRequest, isTerminal } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { asDownload } from "../http/security.js";
import { streamClient } from "../limits.js";
import { getTask, listTasks, taskFile, taskState, whyTask } from "../queries.js";
import { followLog, listLogs, logDir, readLogFrom } from "../task-log.js";
import { cancelTask, resubmitTask } from "../tasks/control.js";
import { queueComposeImage } from "../tasks/methods/compose-image.js";
import { submitNoop } from "../tasks/methods/noop.js";
import { checkFileName } from "../validate.js";

/** Tasks: listed, described, explained, canceled, resubmitted; their logs and result files. */
export const taskRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get<{ Querystring: { state?: string[]; method?: string; parent?: number; top?: boolean; limit?: number } }>(
    "/api/v1/tasks",
    {
      config: { summary: "List tasks" },
    },
    async (request) =>
      listTasks(ctx, {
        state: request.query.state,
        method: request.query.method,
        parent: request.query.parent,
        topLevel: request.query.top,
        limit: request.query.limit,
      }),
  );
  app.post<{ Body: { method: "noop"; arch: string; priority?: number; sleepMs?: number } }>(
    "/api/v1/tasks",
    {
      config: { perm: "build", summary: "Submit a builder task that needs no build (noop)" },
    },
    async (request, reply) => reply.status(202).send({ task: await submitNoop(ctx, caller(request), request.body) }),
  );
  app.post<{ Params: { id: string }; Body: Omit<ComposeImageRequest, "compose"> }>(
    "/api/v1/composes/:id/image-tasks",
    {
      // the snapshot's file list: one entry per .deb and index
      bodyLimit: 32 * 1024 * 1024,
      config: {
        perm: "build",
        summary: "Queue a running compose's image phases for one variant and architecture on a builder with the image capability",
      },
    },
    async (request, reply) =>
      reply.status(202).send({ task: await queueComposeImage(ctx, caller(request), { ...request.body, compose: request.params.id }) }),
  );
  app.get<{ Params: { id: number } }>(
    "/api/v1/tasks/:id",
    { config: { summary: "One task with children, files, logs and history" } },
    async (request) => getTask(ctx, request.params.id),
  );
  app.get<{ Params: { id: number } }>("/api/v1/tasks/:id/why", { config: { summary: "Why a task waits or failed" } }, async (request) =>
    whyTask(ctx, request.params.id),
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/cancel",
    { config: { perm: "build", summary: "Cancel a task and its subtasks" } },
    async (request) => {
      await cancelTask(ctx, caller(request), request.params.id);
      return { ok: true };
    },
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/resubmit",
    { config: { perm: "build", summary: "Run a failed or canceled task again" } },
    async (request, reply) => reply.status(202).send({ task: await resubmitTask(ctx, caller(request), request.params.id) }),
  );
  app.get<{ Params: { id: number } }>("/api/v1/tasks/:id/logs", { config: { summary: "A task's logs and their sizes" } }, async (request) =>
    listLogs(ctx, request.params.id),
  );
  app.get<{ Params: { id: number; name: string }; Querystring: { offset?: number; follow?: boolean } }>(
    "/api/v1/tasks/:id/logs/:name",
    {
      config: { summary: "Read a log from an offset; follow=true streams until the task ends" },
    },
    async (request, reply) => readLog(ctx, request, reply),
  );
  app.get<{ Params: { id: number; name: string } }>(
    "/api/v1/tasks/:id/files/:name",
    { config: { summary: "Download a task's result file" } },
    async (request, reply) => {
      checkFileName(request.params.name, "name");
      const file = await taskFile(ctx, request.params.id, request.params.name);
      asDownload(reply, "attachment", file.name);
      return reply.header("content-type", "application/octet-stream").header("x-sha256", file.sha256).send(ctx.store.open(file.sha256));
    },
  );
};

/** A log from an offset (the next offset in x-next-offset), or with follow=true streamed until its task ends. */
async function readLog(
  ctx: HubContext,
  request: FastifyRequest<{ Params: { id: number; name: string }; Querystring: { offset?: number; follow?: boolean } }>,
  reply: FastifyReply,
) {
  const logName = checkFileName(request.params.name, "name");
  const taskId = request.params.id;
  const state = await taskState(ctx, taskId);
  if (state === undefined) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  const path = join(logDir(ctx, taskId), logName);
  // shown as text in the browser (the web UI's "raw" link); nosniff and the sandbox keep it inert
  asDownload(reply, "inline", logName);
  reply.header("content-type", "text/plain; charset=utf-8");
  if (!request.query.follow) {
    const { chunk, next } = await readLogFrom(path, request.query.offset ?? 0, { max: 1024 * 1024, complete: isTerminal(state) });
    return reply.header("x-next-offset", next).send(chunk);
  }
  const release = ctx.streams.acquire(streamClient(request));
  let closed = false;
  request.raw.on("close", () => {
    closed = true;
    release();
  });
  const ended = async () => {
    const now = await taskState(ctx, taskId);
    return now === undefined || isTerminal(now);
  };
  return reply.send(Readable.from(followLog(path, request.query.offset ?? 0, ended, () => closed)).once("close", release));
}
