import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDetachedMetadata, commitmetaPath, readDiskTask, refusalOf } from "./disk-task.js";
import { runDiskTask } from "./run-disk-task.js";
import { phasesOf } from "./run-image-task.js";

/**
 * The builder's side of a diskImage task, up to the commit's check in a runroot (that one runs in the
 * system tier: images-on-hub.system.test.ts): the request read strictly, the signature written at the
 * commit's own path only, the verification's answer judged, a hostile tar refused before anything runs.
 */

const example = new URL("../../../../examples/minimal.yaml", import.meta.url).pathname;
const COMMIT = "ab".repeat(32);
let work: string;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "disk-task-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function validRequest(signed = true): Promise<Record<string, unknown>> {
  const text = (await readFile(example, "utf8")).replace(/^outputs: .*$/m, "outputs: [ostree, qcow2]");
  return {
    compose: "debian-bootc-minimal-13.0-20261204.0",
    definitionFile: "minimal.yaml",
    definition: signed ? `${text}\nupdates:\n  url: http://127.0.0.1/\n` : text,
    variant: "minimal",
    arch: "amd64",
    commit: {
      checksum: COMMIT,
      repository: { sha256: "c".repeat(64), size: 10 },
      ...(signed ? { commitmeta: Buffer.from("signatures").toString("base64") } : {}),
    },
    state: {},
  };
}

/** A work directory holding this request.json (and, when given, the repository tar); its W. */
async function workDir(request: unknown, tar?: string): Promise<string> {
  const dir = join(work, `w${n++}`);
  await mkdir(join(dir, "definition"), { recursive: true });
  await mkdir(join(dir, "inputs"));
  await writeFile(join(dir, "request.json"), JSON.stringify(request));
  if (tar) await run("cp", [tar, join(dir, "inputs", "ostree-repo.tar")]);
  return dir;
}

async function refusal(request: unknown): Promise<{ code?: string; message?: string }> {
  try {
    await readDiskTask(await workDir(request));
    return {};
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return { code: error.code, message: error.message };
  }
}

describe("a diskImage task's request on the builder", () => {
  it("takes a valid request, signed or not, with a marker boot asked", async () => {
    expect(await refusal(await validRequest())).toEqual({});
    expect(await refusal(await validRequest(false))).toEqual({});
    expect(await refusal({ ...(await validRequest()), state: { bootTest: { marker: true, accel: "tcg" } } })).toEqual({});
  });

  it("refuses paths: a signature path, a field it does not know, a definition file that is not one name", async () => {
    const request = await validRequest();
    const signaturePath = { ...request, commit: { ...(request.commit as object), commitmetaPath: "../../etc/shadow" } };
    expect(await refusal(signaturePath)).toMatchObject({ code: "IMAGE_TASK_REQUEST_INVALID", message: expect.stringContaining("commit") });
    expect(await refusal({ ...request, repo: "/srv/repo" })).toMatchObject({ code: "IMAGE_TASK_REQUEST_INVALID" });
    expect(await refusal({ ...request, definitionFile: "../minimal.yaml" })).toMatchObject({ code: "IMAGE_TASK_REQUEST_INVALID" });
    expect(await refusal({ ...request, state: { consoleLog: "/etc/shadow" } })).toMatchObject({ code: "IMAGE_TASK_STATE_INVALID" });
  });

  it("refuses a commit that is not 64 hex digits and a signature that is not base64", async () => {
    const request = await validRequest();
    const commit = request.commit as Record<string, unknown>;
    for (const checksum of ["../objects/ab", COMMIT.toUpperCase(), `${COMMIT}0`])
      expect(await refusal({ ...request, commit: { ...commit, checksum } })).toMatchObject({ code: "IMAGE_TASK_REQUEST_INVALID" });
    expect(await refusal({ ...request, commit: { ...commit, commitmeta: "not base64!" } })).toMatchObject({
      code: "IMAGE_TASK_REQUEST_INVALID",
    });
  });

  it("wants a signature exactly when the definition signs its commits", async () => {
    const signed = await validRequest();
    const { commitmeta: _dropped, ...unsignedCommit } = signed.commit as Record<string, unknown>;
    expect(await refusal({ ...signed, commit: unsignedCommit })).toMatchObject({
      message: expect.stringContaining("deployed signed only"),
    });
    const unsigned = await validRequest(false);
    expect(await refusal({ ...unsigned, commit: { ...(unsigned.commit as object), commitmeta: "c2ln" } })).toMatchObject({
      message: expect.stringContaining("no updates section"),
    });
  });
});

describe("the signature written and judged", () => {
  it("writes the detached metadata at the path of the checksum it was sent, replacing (not following) what the tar had there", async () => {
    const repo = join(work, "repo-ok");
    await mkdir(join(repo, "objects", "ab"), { recursive: true });
    await writeFile(join(repo, "objects", "ab", `${COMMIT.slice(2)}.commit`), "commit object");
    const outside = join(work, "outside");
    await writeFile(outside, "not to be touched\n");
    await symlink(outside, join(repo, "objects", "ab", `${COMMIT.slice(2)}.commitmeta`));
    await addDetachedMetadata(repo, COMMIT, Buffer.from("sigs").toString("base64"));
    const path = commitmetaPath(repo, COMMIT);
    expect(path).toBe(join(repo, "objects", "ab", `${"ab".repeat(31)}.commitmeta`));
    expect((await lstat(path)).isFile()).toBe(true);
    expect(await readFile(path, "utf8")).toBe("sigs");
    expect(await readFile(outside, "utf8")).toBe("not to be touched\n");
  });

  it("refuses a commit the repository does not have (not the one sent) and a checksum that is a path", async () => {
    const repo = join(work, "repo-other");
    await mkdir(join(repo, "objects", "cd"), { recursive: true });
    await writeFile(join(repo, "objects", "cd", `${"cd".repeat(31)}.commit`), "another commit");
    await expect(addDetachedMetadata(repo, COMMIT, "c2ln")).rejects.toMatchObject({ code: "COMMIT_SIGNATURE_REFUSED" });
    expect(existsSync(commitmetaPath(repo, COMMIT))).toBe(false);
    expect(() => commitmetaPath(repo, "../../../etc/passwd")).toThrow(/not a commit checksum/);
  });

  it("judges the verification: the ref at another commit, no key in the image, a signature by another key are refused", () => {
    expect(refusalOf({ head: COMMIT, verified: "yes" }, COMMIT, true)).toBeUndefined();
    expect(refusalOf({ head: COMMIT }, COMMIT, false)).toBeUndefined();
    expect(refusalOf({ head: "cd".repeat(32), verified: "yes" }, COMMIT, true)).toContain("not at");
    expect(refusalOf({ head: "" }, COMMIT, false)).toContain("at nothing");
    expect(refusalOf({ head: COMMIT, key: "none" }, COMMIT, true)).toContain("no channel key");
    // what the script says of a commit signed by a key the image does not carry, or not signed at all
    expect(refusalOf({ head: COMMIT, verified: "no" }, COMMIT, true)).toContain("no good signature by the key its image trusts");
    expect(refusalOf({ head: COMMIT }, COMMIT, true)).toContain("no good signature");
  });
});

describe("disk-image W with a hostile tar", () => {
  it("refuses a repository tar with a link out of it before anything is written or run", async () => {
    const src = join(work, "hostile");
    await mkdir(join(src, "repo", "objects", "ab"), { recursive: true });
    await symlink("/etc/shadow", join(src, "repo", "objects", "ab", `${COMMIT.slice(2)}.commit`));
    const tar = join(work, "hostile.tar");
    await run("tar", ["--create", "--file", tar, "--directory", src, "repo"]);
    const dir = await workDir(await validRequest(), tar);
    await expect(runDiskTask({ workDir: dir })).rejects.toMatchObject({ code: "IMAGE_RESULT_REFUSED" });
    expect(existsSync(join(dir, "ostree", "repo"))).toBe(false);
  });

  it("refuses a tar without the commit sent before the runroot starts", async () => {
    const src = join(work, "empty");
    await mkdir(join(src, "repo", "objects"), { recursive: true });
    const tar = join(work, "empty.tar");
    await run("tar", ["--create", "--file", tar, "--directory", src, "repo"]);
    await expect(runDiskTask({ workDir: await workDir(await validRequest(), tar) })).rejects.toMatchObject({
      code: "COMMIT_SIGNATURE_REFUSED",
      message: expect.stringContaining(`no commit ${COMMIT}`),
    });
  });
});

describe("a task's phases in its result", () => {
  it("are the ones its run ran: the skipped ones stay out, so both tasks' phases fit one variant/arch's result", async () => {
    const dir = join(work, "phases");
    await mkdir(join(dir, "logs"), { recursive: true });
    const names = ["init", "build", "pkgset", "gather", "snapshot-repo", "rootfs", "ostree", "oci", "lint", "image-build", "test"];
    const ran = new Set(["init", "image-build", "test"]);
    const phases = names.map((name) => ({ name, outcome: ran.has(name) ? "done" : "skipped", durationMs: 1 }));
    phases[9] = {
      name: "image-build",
      outcome: "failed-failable",
      durationMs: 1,
      error: { code: "DISK_IMAGE_FAILED", message: "x".repeat(5000) },
    } as never;
    await writeFile(join(dir, "logs", "phases.json"), JSON.stringify({ phases }));
    const kept = await phasesOf(dir);
    expect(kept.map((p) => p.name)).toEqual(["init", "image-build", "test"]);
    expect(kept[1]?.error?.message.length).toBe(4000);
  });
});
