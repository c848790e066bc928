import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, realpath, rename, rm, stat, symlink } from "node:fs/promises";
import { join, sep } from "node:path";
import type { FastifyReply } from "fastify";
import { orchestratorError } from "../errors.js";
import { latestTagged } from "./catalog/tags.js";
import type { HubContext } from "./context.js";
import { recordEvent } from "./events.js";
import { asDownload } from "./http/security.js";
import type { TaskRow } from "./tasks/transitions.js";
import { checkName } from "./validate.js";

/*
 * The tags' APT repositories: published by a newRepo task under <dataDir>/repos/TAG/N (with TAG/latest
 * pointing at the newest ready one) and served read-only from /repos/.
 */

/** Publish the next repository of a tag from its latest tagged builds; the newRepo task's outcome. */
export async function publishTagRepo(
  ctx: HubContext,
  task: TaskRow,
  tag: { id: number; name: string; arches: string },
): Promise<{ result: unknown } | { error: { code: string; message: string } }> {
  const { db } = ctx;
  const repo = await db.transaction().execute(async (trx) => {
    const last = await trx
      .selectFrom("repos")
      .select((eb) => eb.fn.max("number").as("n"))
      .where("tag_id", "=", tag.id)
      .executeTakeFirst();
    const number = Number(last?.n ?? 0) + 1;
    const row = await trx
      .insertInto("repos")
      .values({ tag_id: tag.id, number, state: "init", task_id: task.id, created_at: ctx.now() })
      .returning("id")
      .executeTakeFirstOrThrow();
    return { id: row.id, number };
  });
  const tagDir = join(ctx.dataDir, "repos", tag.name);
  const dir = join(tagDir, String(repo.number));
  try {
    const arches = tag.arches.split(" ").filter(Boolean);
    const builds = await latestTagged(db, tag.id);
    const binaries = builds.length
      ? await db
          .selectFrom("binaries")
          .innerJoin("builds", "builds.id", "binaries.build_id")
          .select([
            "binaries.name",
            "binaries.version",
            "binaries.arch",
            "binaries.filename",
            "binaries.sha256",
            "binaries.size",
            "builds.name as source",
          ])
          .where(
            "binaries.build_id",
            "in",
            builds.map((b) => b.buildId),
          )
          .where("binaries.arch", "in", [...arches, "all"])
          .orderBy("binaries.name")
          .orderBy("binaries.arch")
          .execute()
      : [];
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const published = await ctx.publisher.publish({
      tag: tag.name,
      number: repo.number,
      dir,
      suite: tag.name,
      arches,
      files: binaries.map((b) => ({ ...b, size: Number(b.size), path: ctx.store.pathOf(b.sha256) })),
    });
    const tmpLink = join(tagDir, `.latest-${repo.number}`);
    await rm(tmpLink, { force: true });
    await symlink(String(repo.number), tmpLink);
    await rename(tmpLink, join(tagDir, "latest"));
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("repos").set({ state: "ready" }).where("id", "=", repo.id).execute();
      await trx
        .updateTable("repos")
        .set({ state: "expired" })
        .where("tag_id", "=", tag.id)
        .where("state", "=", "ready")
        .where("id", "!=", repo.id)
        .execute();
      await recordEvent(
        trx,
        {
          userId: task.owner_id,
          kind: "repo.ready",
          objectType: "tag",
          objectId: tag.id,
          data: { tag: tag.name, number: repo.number, packages: published.packages, signed: published.signed },
        },
        ctx.now(),
      );
    });
    return { result: { tag: tag.name, repo: repo.number, packages: published.packages, signed: published.signed } };
  } catch (error) {
    ctx.logger.error({ task: task.id, tag: tag.name, err: error }, "repository publication failed");
    await db.updateTable("repos").set({ state: "failed" }).where("id", "=", repo.id).execute();
    return {
      error: { code: "PUBLISH_FAILED", message: `writing repository ${tag.name}/${repo.number} failed: ${(error as Error).message}` },
    };
  }
}

/** The trees served read-only: where each is, what its first path segment names, and an example. */
const PUBLISHED_TREES = {
  repos: { dir: (ctx: HubContext) => join(ctx.dataDir, "repos"), first: "tag", example: "/repos/TAG/latest/dists/..." },
  // `deb-bootc-compose publish --to OSTREE_DIR/NAME` writes them; machines follow http://HUB/ostree/NAME/
  ostree: { dir: (ctx: HubContext) => ctx.ostreeDir, first: "repository name", example: "/ostree/NAME/summary" },
} as const;

/**
 * A file (or a directory listing) of a published tree: DATA/repos (the tags' APT repositories) or the
 * OSTree repositories' directory; nothing outside it, whatever the path or a symlink in the tree says.
 */
export async function servePublishedFile(ctx: HubContext, tree: keyof typeof PUBLISHED_TREES, relative: string, reply: FastifyReply) {
  const dir = PUBLISHED_TREES[tree].dir(ctx);
  if (!dir) throw orchestratorError("NOT_FOUND", `this hub serves nothing at /${tree}/`, { hint: "deb-orchestrator up --ostree DIR" });
  const parts = relative.split("/").filter((p) => p !== "");
  if (parts.length < 1) throw orchestratorError("NOT_FOUND", `paths here look like ${PUBLISHED_TREES[tree].example}`);
  for (const part of parts)
    if (part === "." || part === ".." || part.length > 255 || !/^[A-Za-z0-9._+~:-]+$/.test(part))
      throw orchestratorError("PATH_INVALID", `bad path under /${tree}/`);
  checkName(parts[0]!, PUBLISHED_TREES[tree].first);
  const root = await realpath(dir).catch(() => undefined);
  if (!root) throw orchestratorError("NOT_FOUND", `nothing has been published in /${tree}/ yet`);
  let path: string;
  try {
    path = await realpath(join(root, ...parts));
  } catch {
    throw orchestratorError("NOT_FOUND", `no file /${tree}/${parts.join("/")}`);
  }
  if (!path.startsWith(root + sep)) throw orchestratorError("PATH_INVALID", `path leaves the /${tree}/ directory`);
  const info = await stat(path);
  if (info.isDirectory()) {
    return reply.header("content-type", "text/plain; charset=utf-8").send(`${(await readdir(path)).sort().join("\n")}\n`);
  }
  const type = /(Release|Packages|Sources|\.json)$/.test(path) ? "text/plain; charset=utf-8" : "application/octet-stream";
  asDownload(reply, type.startsWith("text/") ? "inline" : "attachment", parts[parts.length - 1]);
  reply.header("content-type", type).header("content-length", info.size);
  if (info.size < 64 * 1024) return reply.send(await readFile(path));
  return reply.send(createReadStream(path));
}
