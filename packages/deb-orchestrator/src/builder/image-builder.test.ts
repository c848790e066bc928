import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { currentProcessOwner } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { stopProcess } from "../testing/processes.js";
import { RawHubClient } from "../testing/raw-hub-client.js";
import { until, waitForTask } from "../testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";
import { NoopBuildRunner } from "./build-runner.js";
import { Builder } from "./builder.js";
import { ComposeCliImageRunner } from "./image-runner.js";

const databases = useDatabases();

/**
 * A stand-in for `deb-bootc-compose image-task W --json` (what it does depends on the request's variant)
 * and `update-test W --json` (it lists what it found in W as its log).
 * It writes what it saw of W into out/, and its pids into PIDS (outside W, which the builder removes).
 */
function fakeCommand(pids: string): string {
  return `#!/bin/sh
set -e
if [ "$1" = update-test ] && [ "$3" = --json ]; then
  echo "fake update test" >&2
  out=$2/out
  { (cd "$2" && find inputs -type f | sort); ls -A "$out"; cat "$2/inputs/repository.tar"; } > "$out/log-boot-update.log"
  echo '{"files":[{"name":"log-boot-update.log","kind":"log"}],"result":{"update":{"passed":true}}}' > "$out/result.json"
  exit 0
fi
if [ "$1" = disk-image ] && [ "$3" = --json ]; then
  echo "fake disk image task" >&2
  out=$2/out
  { (cd "$2" && find definition inputs -type f | sort); ls -A "$out"; cat "$2/inputs/ostree-repo.tar"; } > "$out/log-disk-seen.log"
  printf 'a disk image' > "$out/mini.qcow2"
  echo '{"files":[{"name":"mini.qcow2","kind":"disk-image"},{"name":"log-disk-seen.log","kind":"log"}],"result":{"disk":true}}' > "$out/result.json"
  exit 0
fi
[ "$1" = image-task ] && [ "$3" = --json ] || { echo "unexpected arguments: $*" >&2; exit 64; }
W=$2
out=$W/out
variant=$(sed -n 's/.*"variant":"\\([^"]*\\)".*/\\1/p' "$W/request.json")
echo "fake image task: $variant" >&2
good() { printf 'good file of %s' "$variant" > "$out/good.img"; }
case $variant in
ok)
  cat "$W/definition/mini.yaml" "$W/definition/scripts/post.sh" > "$out/seen.txt"
  (cd "$W" && find snapshot -type f | sort) >> "$out/seen.txt"
  [ -z "$(ls -A "$out" | grep -v seen.txt)" ] && echo "out was empty" >> "$out/seen.txt"
  printf 'an OCI archive' > "$out/base-amd64.oci.tar"
  echo '{"files":[{"name":"base-amd64.oci.tar","kind":"oci-archive"},{"name":"seen.txt","kind":"metadata"}],"result":{"digest":"sha256:abc"}}' > "$out/result.json" ;;
slash)
  good; mkdir "$out/sub"; echo x > "$out/sub/x"
  echo '{"files":[{"name":"good.img","kind":"disk-image"},{"name":"sub/x","kind":"metadata"}],"result":{}}' > "$out/result.json" ;;
dotdot)
  good
  echo '{"files":[{"name":"good.img","kind":"disk-image"},{"name":"..","kind":"metadata"}],"result":{}}' > "$out/result.json" ;;
symlink)
  good; ln -s /etc/passwd "$out/passwd"
  echo '{"files":[{"name":"good.img","kind":"disk-image"},{"name":"passwd","kind":"metadata"}],"result":{}}' > "$out/result.json" ;;
missing)
  good
  echo '{"files":[{"name":"good.img","kind":"disk-image"},{"name":"absent.img","kind":"disk-image"}],"result":{}}' > "$out/result.json" ;;
oversized)
  good
  { printf '{"files":[{"name":"good.img","kind":"disk-image"}],"result":{"blob":"'; head -c 1100000 /dev/zero | tr '\\0' x; printf '"}}'; } > "$out/result.json" ;;
resultlink)
  good; echo '{"files":[{"name":"good.img","kind":"disk-image"}],"result":{}}' > "$W/elsewhere.json"
  ln -s "$W/elsewhere.json" "$out/result.json" ;;
coded)
  echo "mmdebstrap: something broke" >&2
  printf '{\\n  "ok": false,\\n  "error": {\\n    "code": "DEFINITION_INVALID",\\n    "message": "variant base: no such package"\\n  }\\n}\\n'
  exit 2 ;;
crash)
  echo "Segmentation fault" >&2; exit 139 ;;
sleep)
  # the trap is set before the pid files the test waits for (a SIGTERM could otherwise come first)
  trap 'echo "stopping on SIGTERM" >&2; exit 130' TERM
  echo $$ > "${pids}/sleep.pid"
  sleep 300 & echo $! > "${pids}/sleep-child.pid"
  wait ;;
second-chance)
  if [ ! -e "${pids}/first-run" ]; then
    echo $$ > "${pids}/first-run"
    sleep 300 & child=$!
    # as the real command does on SIGTERM: stop its work, leave nothing behind (set before the cue)
    trap 'kill $child; exit 130' TERM
    echo $child > "${pids}/first-run-child"
    wait
  fi
  printf 'made on the second try' > "$out/image.raw"
  echo '{"files":[{"name":"image.raw","kind":"disk-image"}],"result":{"try":2}}' > "$out/result.json" ;;
esac
`;
}

interface Detail {
  id: number;
  state: string;
  host: string | null;
  attempts: number;
  error: { code: string; message: string } | null;
  result: { files?: { name: string; sha256: string; size: number; kind: string }[]; image?: unknown } | null;
  history: { kind: string; reason?: string }[];
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function isGone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe.each(databaseKinds)("image builder on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);
  let renewals: NodeJS.Timeout | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    clearInterval(renewals);
    for (const child of children.splice(0)) await stopProcess(child, "SIGKILL");
  });

  const composeId = "mini-1.0-20261204.0";

  /** A running compose (renewed as its client would), the fake command, and a request body per variant. */
  async function setUp(leaseMs: number) {
    test = await startTestHub(databases, kind, { leaseMs });
    await test.admin.post("/api/v1/composes", { id: composeId, name: "mini", definition: "name: mini\n" });
    renewals = setInterval(() => void test.admin.renewCompose(composeId).catch(() => {}), 200);
    const pids = join(test.dir, "pids");
    await mkdir(pids);
    const command = join(test.dir, "fake-deb-bootc-compose");
    await writeFile(command, fakeCommand(pids));
    await chmod(command, 0o755);
    const upload = (text: string) => test.admin.uploadBuffer(Buffer.from(text));
    const release = await upload("Origin: test\n");
    const deb = await upload("not really a deb\n");
    const script = await upload("#!/bin/sh\necho postprocess\n");
    const body = (variant: string) => ({
      definitionFile: "mini.yaml",
      definition: "name: mini\n",
      variant,
      arch: "amd64",
      snapshot: [
        { path: "dists/mini/InRelease", ...release },
        { path: "pool/main/h/hello/hello_1.0-1_amd64.deb", ...deb },
      ],
      definitionFiles: [{ path: "scripts/post.sh", ...script }],
      state: { codename: "trixie" },
    });
    const queue = async (variant: string) =>
      (await test.admin.post<{ task: number }>(`/api/v1/composes/${composeId}/image-tasks`, body(variant))).task;
    return { pids, command, queue };
  }

  async function hostClient(name: string): Promise<{ client: RawHubClient; token: string }> {
    await test.admin.post("/api/v1/users", { name, perms: ["host"] });
    const { token } = await test.admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, {});
    return { client: new RawHubClient({ url: test.hub.url, token }), token };
  }

  async function imageBuilder(
    name: string,
    command: string,
    workDir = join(test.dir, `work-${name}`),
  ): Promise<{ builder: Builder; workDir: string }> {
    const builder = new Builder({
      client: (await hostClient(name)).client,
      name,
      arches: ["amd64"],
      capabilities: ["image"],
      capacity: 1,
      runner: new NoopBuildRunner(),
      imageRunner: new ComposeCliImageRunner({ command: [command], terminateGraceMs: 5000 }),
      workDir,
      claimWaitMs: 5000,
    });
    builders.push(builder);
    await builder.start();
    return { builder, workDir };
  }

  const detail = (id: number) => test.admin.get<Detail>(`/api/v1/tasks/${id}`);
  const workDirEntries = (dir: string) => readdir(dir).catch(() => [] as string[]);

  it("runs an update test: W with the request, the image and the repository tar, the update-test verb, the log uploaded", async () => {
    const { command } = await setUp(60_000);
    const { workDir } = await imageBuilder("images", command);
    const image = await test.admin.uploadBuffer(Buffer.from("a disk image\n"));
    const repository = await test.admin.uploadBuffer(Buffer.from("a repository tar\n"));
    const { task: id } = await test.admin.post<{ task: number }>(`/api/v1/composes/${composeId}/update-tests`, {
      variant: "base",
      arch: "amd64",
      image: { name: "mini-base.qcow2", format: "qcow2", ...image },
      repository,
      remote: "mini",
      firmware: "uefi",
      from: { commit: "a".repeat(64) },
      to: { commit: "b".repeat(64), composeId },
    });
    const done = await waitForTask(test.admin, id, 30_000);
    expect(done.state, JSON.stringify(done.error)).toBe("closed");
    const task = await detail(id);
    expect(task.result?.image).toEqual({ update: { passed: true } });
    expect(task.result?.files?.map((f) => [f.name, f.kind])).toEqual([["log-boot-update.log", "log"]]);
    const seen = await (await test.admin.raw("GET", `/api/v1/tasks/${id}/files/log-boot-update.log`)).text();
    // the inputs downloaded by name, out/ empty but for what the command wrote, the tar as uploaded
    expect(seen).toBe("inputs/mini-base.qcow2\ninputs/repository.tar\nlog-boot-update.log\na repository tar\n");
    expect(await (await test.admin.raw("GET", `/api/v1/tasks/${id}/logs/image.log`)).text()).toContain("fake update test");
    // W goes once the task has completed
    await until(async () => (await workDirEntries(workDir)).length === 0, 10_000, "the update test's W to be removed");
  });

  it("runs a disk image task: W with the request, the definition and the repository tar from the store, the disk-image verb", async () => {
    const { command } = await setUp(60_000);
    const { workDir } = await imageBuilder("images", command);
    const repository = await test.admin.uploadBuffer(Buffer.from("the composeImage task's repository tar\n"));
    const request = {
      definitionFile: "mini.yaml",
      definition: "name: mini\n",
      variant: "base",
      arch: "amd64",
      commit: { checksum: "a".repeat(64), repository, commitmeta: Buffer.from("signatures").toString("base64") },
      state: { bootTest: { marker: true } },
    };
    // the hub takes no repository it does not have, and no field it does not know (a path for the signature)
    await expect(
      test.admin.post(`/api/v1/composes/${composeId}/disk-tasks`, {
        ...request,
        commit: { ...request.commit, repository: { sha256: "d".repeat(64), size: 1 } },
      }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    await expect(
      test.admin.post(`/api/v1/composes/${composeId}/disk-tasks`, { ...request, commit: { ...request.commit, path: "../x" } }),
    ).rejects.toMatchObject({ code: "REQUEST_INVALID", message: expect.stringContaining("additional") });
    const { task: id } = await test.admin.post<{ task: number }>(`/api/v1/composes/${composeId}/disk-tasks`, request);
    const done = await waitForTask(test.admin, id, 30_000);
    expect(done.state, JSON.stringify(done.error)).toBe("closed");
    const task = await detail(id);
    expect(task.result?.image).toEqual({ disk: true });
    expect(task.result?.files?.map((f) => [f.name, f.kind])).toEqual([
      ["mini.qcow2", "disk-image"],
      ["log-disk-seen.log", "log"],
    ]);
    const seen = await (await test.admin.raw("GET", `/api/v1/tasks/${id}/files/log-disk-seen.log`)).text();
    // the definition by its name, the tar downloaded from the store as uploaded, out/ empty but for what the command wrote
    expect(seen).toBe("definition/mini.yaml\ninputs/ostree-repo.tar\nlog-disk-seen.log\nthe composeImage task's repository tar\n");
    expect(await (await test.admin.raw("GET", `/api/v1/tasks/${id}/logs/image.log`)).text()).toContain("fake disk image task");
    await until(async () => (await workDirEntries(workDir)).length === 0, 10_000, "the disk task's W to be removed");
  });

  it("runs an image task: W as the contract says, the log live, the files uploaded and listed in the task's result", async () => {
    const { command, queue } = await setUp(60_000);
    const { workDir } = await imageBuilder("images", command);
    // what a builder SIGKILLed since left in the shared work directory: swept before the next image task
    const left = join(workDir, "task-999-gone");
    await mkdir(join(left, "out"), { recursive: true });
    await writeFile(
      join(left, "owner.json"),
      JSON.stringify({ ...(await currentProcessOwner()), pid: spawnSync("true").pid, pidStart: "1" }),
    );
    const id = await queue("ok");
    const done = await waitForTask(test.admin, id, 30_000);
    expect(done.state, JSON.stringify(done.error)).toBe("closed");
    expect(await workDirEntries(workDir)).not.toContain("task-999-gone");
    const task = await detail(id);
    expect(task.result?.image).toEqual({ digest: "sha256:abc" });
    expect(task.result?.files?.map((f) => [f.name, f.kind])).toEqual([
      ["base-amd64.oci.tar", "oci-archive"],
      ["seen.txt", "metadata"],
    ]);
    expect(task.result?.files?.[0]).toMatchObject({ sha256: sha256("an OCI archive"), size: 14 });
    const file = async (name: string) => (await test.admin.raw("GET", `/api/v1/tasks/${id}/files/${name}`)).text();
    expect(await file("base-amd64.oci.tar")).toBe("an OCI archive");
    // what the command found in W: the definition, the file it refers to, the snapshot, an empty out/
    expect(await file("seen.txt")).toBe(
      "name: mini\n#!/bin/sh\necho postprocess\nsnapshot/dists/mini/InRelease\nsnapshot/pool/main/h/hello/hello_1.0-1_amd64.deb\nout was empty\n",
    );
    expect(await (await test.admin.raw("GET", `/api/v1/tasks/${id}/logs/image.log`)).text()).toContain("fake image task: ok");
    await until(async () => (await workDirEntries(workDir)).length === 0, 10_000, "W to be removed");
  });

  it("fails a task whose result.json is hostile with IMAGE_RESULT_INVALID, uploading nothing", async () => {
    const { command, queue } = await setUp(60_000);
    const { workDir } = await imageBuilder("images", command);
    const ids = new Map<string, number>();
    for (const variant of ["slash", "dotdot", "symlink", "missing", "oversized", "resultlink"]) {
      ids.set(variant, await queue(variant));
      const done = await waitForTask(test.admin, ids.get(variant)!, 30_000);
      expect([variant, done.state, done.error?.code]).toEqual([variant, "failed", "IMAGE_RESULT_INVALID"]);
      // the regular file listed before the bad entry was not uploaded either
      expect(await test.hub.ctx.store.has(sha256(`good file of ${variant}`)), variant).toBe(false);
      expect((await detail(done.id)).result?.files ?? [], variant).toEqual([]);
      await until(async () => (await workDirEntries(workDir)).length === 0, 10_000, `W of ${variant} to be removed`);
    }
    const log = await (await test.admin.raw("GET", `/api/v1/tasks/${ids.get("symlink")}/logs/image.log`)).text();
    expect(log).toContain("IMAGE_RESULT_INVALID: image task result: 'passwd' is not a regular file (a symlink)");
  });

  it("fails with the command's coded error, or IMAGE_TASK_FAILED when it gave none, keeping the log", async () => {
    const { command, queue } = await setUp(60_000);
    await imageBuilder("images", command);
    const coded = await waitForTask(test.admin, await queue("coded"), 30_000);
    expect(coded.state).toBe("failed");
    expect(coded.error).toEqual({ code: "DEFINITION_INVALID", message: "variant base: no such package" });
    expect(await (await test.admin.raw("GET", `/api/v1/tasks/${coded.id}/logs/image.log`)).text()).toContain("mmdebstrap: something broke");
    const crash = await waitForTask(test.admin, await queue("crash"), 30_000);
    expect(crash.state).toBe("failed");
    expect(crash.error?.code).toBe("IMAGE_TASK_FAILED");
    expect(crash.error?.message).toContain("Segmentation fault");
  });

  it("kills the command when its task is canceled and removes W", async () => {
    const { command, queue, pids } = await setUp(2000);
    const { workDir } = await imageBuilder("images", command);
    const id = await queue("sleep");
    const pid = await until(
      async () => Number(await readFile(join(pids, "sleep-child.pid"), "utf8").catch(() => "")),
      20_000,
      "the command",
    );
    const shell = Number(await readFile(join(pids, "sleep.pid"), "utf8"));
    expect(await isGone(pid)).toBe(false);
    const log = () => test.admin.raw("GET", `/api/v1/tasks/${id}/logs/image.log`).then((r) => r.text());
    // the log is live: the command's first line is at the hub while it runs
    await until(async () => (await log()).includes("fake image task: sleep"), 20_000, "the live log");
    await test.admin.post(`/api/v1/tasks/${id}/cancel`);
    await until(async () => (await isGone(pid)) && (await isGone(shell)), 20_000, "the command and its child to be killed");
    await until(async () => (await workDirEntries(workDir)).length === 0, 20_000, "W to be removed");
    expect((await detail(id)).state).toBe("canceled");
  });

  it("a builder SIGKILLed during an image task: the lease lapses, another builder sharing its work directory removes its W and completes the same task", async () => {
    const { command, queue, pids } = await setUp(2000);
    const { token } = await hostClient("victim");
    const script = fileURLToPath(new URL("../testing/image-builder-process.ts", import.meta.url));
    const workDir = join(test.dir, "work-shared");
    const victim = spawn(process.execPath, ["--conditions=source", "--import", "tsx", script, test.hub.url, "victim", workDir, command], {
      env: { ...process.env, HUB_TOKEN: token },
      stdio: "ignore",
    });
    children.push(victim);
    const id = await queue("second-chance");
    const first = await until(
      async () => Number(await readFile(join(pids, "first-run-child"), "utf8").catch(() => "")),
      60_000,
      "the first try",
    );
    expect((await detail(id)).host).toBe("victim");
    await stopProcess(victim, "SIGKILL");
    // the killed builder's command is not left behind: it gets SIGTERM when its builder dies
    const shell = Number(await readFile(join(pids, "first-run"), "utf8"));
    await until(async () => (await isGone(shell)) && (await isGone(first)), 20_000, "the killed builder's command to stop");
    // the victim's W is left behind, marked as the dead builder's
    const [left] = await workDirEntries(workDir);
    expect(left).toMatch(new RegExp(`^task-${id}-`));
    expect(await readdir(join(workDir, left!))).toContain("owner.json");
    // the rescuer sweeps it when it starts, before it claims anything
    await imageBuilder("rescuer", command, workDir);
    expect(await workDirEntries(workDir)).not.toContain(left);
    const done = await waitForTask(test.admin, id, 30_000);
    expect(done.state, JSON.stringify(done.error)).toBe("closed");
    const task = await detail(id);
    expect(task).toMatchObject({ host: "rescuer", attempts: 1, result: { image: { try: 2 } } });
    expect(task.history.filter((h) => h.kind === "task.freed").map((h) => h.reason)).toEqual(["lease-lapsed"]);
    expect(await (await test.admin.raw("GET", `/api/v1/tasks/${id}/files/image.raw`)).text()).toBe("made on the second try");
  }, 120_000);
});
