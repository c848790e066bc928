import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";

/*
 * The hub serves the OSTree repositories published into its OSTree directory (deb-orchestrator up
 * --ostree DIR; deb-bootc-compose publish --to DIR/NAME) at /ostree/NAME/, read-only and to anyone on a
 * public-read hub, the way machines fetch them. The database plays no part: SQLite only. A real ostree
 * client pulling through the hub: deb-bootc-compose's publish.system.test.ts.
 */

const databases = useDatabases();
const scratch = useTempDir("published-ostree-");
/** A fresh directory of published repositories. */
async function ostreeDir(): Promise<string> {
  const dir = join(scratch(), "ostree");
  await mkdir(dir, { recursive: true });
  return dir;
}

describe("/ostree/: published OSTree repositories", () => {
  let test: TestHub | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  it("serves nothing at /ostree/ unless it is given the directory", async () => {
    test = await startTestHub(databases, "sqlite");
    await mkdir(join(test.hub.ctx.dataDir, "ostree", "demo"), { recursive: true });
    await writeFile(join(test.hub.ctx.dataDir, "ostree", "demo", "config"), "[core]\n");
    await expect(test.anonymous.raw("GET", "/ostree/demo/config")).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "this hub serves nothing at /ostree/",
    });
  });

  it("serves a published repository's files as they are, to machines without a token", async () => {
    test = await startTestHub(databases, "sqlite", { ostreeDir: await ostreeDir() });
    await expect(test.anonymous.raw("GET", "/ostree/demo/summary")).rejects.toMatchObject({ code: "NOT_FOUND" });

    const repo = join(test.hub.ctx.ostreeDir!, "demo");
    const object = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff));
    // a static delta's directory is named in ostree's URL-safe base64 ("_" for "/")
    const delta = join(repo, "deltas", "Ab", "c_d+ef-0123456789");
    await mkdir(join(repo, "objects", "ab"), { recursive: true });
    await mkdir(delta, { recursive: true });
    await writeFile(join(repo, "config"), "[core]\nrepo_version=1\nmode=archive-z2\n");
    await writeFile(join(repo, "objects", "ab", "cdef.filez"), object);
    await writeFile(join(delta, "superblock"), "delta");
    await writeFile(join(repo, "summary.sig"), Buffer.from([0, 1, 2, 255]));

    const get = async (path: string) => {
      const response = await test!.anonymous.raw("GET", path);
      return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
    };
    const refused = (path: string) =>
      test!.anonymous.raw("GET", path).then(
        () => "served",
        (error: { code: string }) => error.code,
      );
    expect(await get("/ostree/demo/config")).toEqual({ status: 200, body: Buffer.from("[core]\nrepo_version=1\nmode=archive-z2\n") });
    expect(await get("/ostree/demo/objects/ab/cdef.filez")).toEqual({ status: 200, body: object });
    expect(await get("/ostree/demo/deltas/Ab/c_d+ef-0123456789/superblock")).toEqual({ status: 200, body: Buffer.from("delta") });
    expect(await get("/ostree/demo/summary.sig")).toEqual({ status: 200, body: Buffer.from([0, 1, 2, 255]) });
    expect(await refused("/ostree/demo/objects/ab/missing.filez")).toBe("NOT_FOUND");
    expect(await refused("/ostree/-demo/config")).toBe("NAME_INVALID");
  });

  it("never serves anything outside its directory: not through .., an encoded slash or a symlink in a repository", async () => {
    // the directory beside the data directory, so a way out would reach the token
    const dir = await ostreeDir();
    test = await startTestHub(databases, "sqlite", { ostreeDir: dir, dataDir: join(dir, "..", "data") });
    const data = test.hub.ctx.dataDir;
    const token = (await readFile(join(data, "admin.token"), "utf8")).trim();
    const repo = join(dir, "demo");
    await mkdir(repo, { recursive: true });
    // a file a publisher's tree (or whoever writes there) links to the hub's own secrets
    await symlink(join(data, "admin.token"), join(repo, "summary"));
    await symlink(data, join(repo, "up"));
    // whatever each is refused with, the token is never in an answer
    const codes = new Map<string, string>();
    for (const path of [
      "/ostree/demo/summary",
      "/ostree/demo/up/admin.token",
      "/ostree/demo/%2e%2e/%2e%2e/admin.token",
      "/ostree/..%2fadmin.token",
      "/ostree/demo/..%2f..%2fadmin.token",
      "/ostree/%2e%2e/repos",
      "/ostree/",
    ]) {
      const response = await fetch(`${test.hub.url}${path}`);
      const text = await response.text();
      expect(text).not.toContain(token);
      expect(`${path} ${response.status}`).toMatch(/ 4\d\d$/);
      codes.set(path, (JSON.parse(text) as { code: string }).code);
    }
    // the symlinks resolve outside: refused as such, not as missing
    expect(codes.get("/ostree/demo/summary")).toBe("PATH_INVALID");
    expect(codes.get("/ostree/demo/up/admin.token")).toBe("PATH_INVALID");
  });
});
