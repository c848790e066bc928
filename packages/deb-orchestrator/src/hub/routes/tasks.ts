import { join } from "node:path";
import { Readable } from "node:stream";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { type ComposeImageRequest, type DiskImageRequest, isTerminal, type UpdateTestRequest } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";
import { asDownload } from "../http/security.js";
import { streamClient } from "../limits.js";
import { getTask, listTasks, taskFile, taskState, whyTask } from "../queries.js";
import { followLog, listLogs, logDir, readLogFrom } from "../task-log.js";
import { cancelTask, resubmitTask } from "../tasks/control.js";
import { queueComposeImage } from "../tasks/methods/compose-image.js";
import { queueDiskImage } from "../tasks/methods/disk-image.js";
import { submitNoop } from "../tasks/methods/noop.js";
import { queueUpdateTest } from "../tasks/methods/update-test.js";
import { checkFileName } from "../validate.js";

/** Tasks: listed, described, explained, canceled, resubmitted; their logs and result files. */
export const taskRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route<{ Querystring: { state?: string[]; method?: string; parent?: number; top?: boolean; limit?: number } }>(
    "listTasks",
    async (request) =>
      listTasks(ctx, {
        state: request.query.state,
        method: request.query.method,
        parent: request.query.parent,
        topLevel: request.query.top,
        limit: request.query.limit,
      }),
  );
  route<{ Body: { method: "noop"; arch: string; priority?: number; sleepMs?: number } }>("submitNoop", async (request, reply) =>
    reply.status(202).send({ task: await submitNoop(ctx, caller(request), request.body) }),
  );
  route<{ Params: { id: string }; Body: Omit<ComposeImageRequest, "compose"> }>(
    "queueComposeImage",
    async (request, reply) =>
      reply.status(202).send({ task: await queueComposeImage(ctx, caller(request), { ...request.body, compose: request.params.id }) }),
    {
      // the snapshot's file list: one entry per .deb and index
      bodyLimit: 32 * 1024 * 1024,
    },
  );
  route<{ Params: { id: string }; Body: Omit<DiskImageRequest, "compose"> }>(
    "queueDiskImage",
    async (request, reply) =>
      reply.status(202).send({ task: await queueDiskImage(ctx, caller(request), { ...request.body, compose: request.params.id }) }),
    // the definition (1 MiB at most) and the state (4 MiB at most) ride in the body
    { bodyLimit: 8 * 1024 * 1024 },
  );
  route<{ Params: { id: string }; Body: Omit<UpdateTestRequest, "compose"> }>("queueUpdateTest", async (request, reply) =>
    reply.status(202).send({ task: await queueUpdateTest(ctx, caller(request), { ...request.body, compose: request.params.id }) }),
  );
  route<{ Params: { id: number } }>("getTask", async (request) => getTask(ctx, request.params.id));
  route<{ Params: { id: number } }>("whyTask", async (request) => whyTask(ctx, request.params.id));
  route<{ Params: { id: number } }>("cancelTask", async (request) => {
    await cancelTask(ctx, caller(request), request.params.id);
    return { ok: true };
  });
  route<{ Params: { id: number } }>("resubmitTask", async (request, reply) =>
    reply.status(202).send({ task: await resubmitTask(ctx, caller(request), request.params.id) }),
  );
  route<{ Params: { id: number } }>("listTaskLogs", async (request) => listLogs(ctx, request.params.id));
  route<{ Params: { id: number; name: string }; Querystring: { offset?: number; follow?: boolean } }>(
    "readTaskLog",
    async (request, reply) => readLog(ctx, request, reply),
  );
  route<{ Params: { id: number; name: string } }>("downloadTaskFile", async (request, reply) => {
    checkFileName(request.params.name, "name");
    const file = await taskFile(ctx, request.params.id, request.params.name);
    asDownload(reply, "attachment", file.name);
    return reply.header("content-type", "application/octet-stream").header("x-sha256", file.sha256).send(ctx.store.open(file.sha256));
  });
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
