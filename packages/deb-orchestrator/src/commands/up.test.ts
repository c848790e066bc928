import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NoopBuildRunner } from "../builder/build-runner.js";
import { imageTools } from "../builder/capabilities.js";
import { ComposeCliImageRunner } from "../builder/image-runner.js";
import { settingsFromFlags } from "../daemon-config.js";
import { startLocalOrchestrator } from "../local-orchestrator.js";
import { RawHubClient } from "../testing/raw-hub-client.js";
import { waitForTask } from "../testing/test-builds.js";
import { upImages } from "./up.js";

describe("deb-orchestrator up: its builder's image tasks", () => {
  /** The newest hostPath's directory; every one of them is removed after the test. */
  let dir: string;
  const dirs: string[] = [];
  afterEach(async () => {
    for (const made of dirs.splice(0)) await rm(made, { recursive: true, force: true });
  });

  /** A PATH holding the image tools, and deb-bootc-compose unless told otherwise. */
  async function hostPath(withCompose = true): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), "up-images-"));
    dirs.push(dir);
    const bin = join(dir, "bin");
    await mkdir(bin);
    for (const tool of [...imageTools, ...(withCompose ? ["deb-bootc-compose"] : [])]) {
      await writeFile(join(bin, tool), "#!/bin/sh\n");
      await chmod(join(bin, tool), 0o755);
    }
    return bin;
  }

  /** upImages as `up` calls it, with these flags (commander's camelCase names). */
  const imagesWith = (flags: Record<string, unknown>, host: { uid: number; path: string }) =>
    upImages(flags, settingsFromFlags("builder", flags), undefined, host);

  it("runs image tasks when the compose command resolves on PATH (root, image tools), not when it does not", async () => {
    const root = { uid: 0, path: await hostPath() };
    const on = await imagesWith({}, root);
    expect(on.capabilities).toEqual(["build", "image"]);
    expect(on.imageRunner).toBeInstanceOf(ComposeCliImageRunner);
    expect(on.without).toBeUndefined();

    const noCompose = { uid: 0, path: await hostPath(false) };
    const off = await imagesWith({}, noCompose);
    expect(off).toEqual({ capabilities: ["build"], without: expect.stringContaining("deb-bootc-compose") });
    // as the builder resolves --compose-command: a path is taken as it is
    const named = join(dir, "my-compose");
    await writeFile(named, "#!/bin/sh\n");
    await chmod(named, 0o755);
    expect((await imagesWith({ composeCommand: named }, noCompose)).capabilities).toEqual(["build", "image"]);
    expect((await imagesWith({ composeCommand: join(dir, "absent") }, noCompose)).capabilities).toEqual(["build"]);
  });

  it("runs none without root, with --no-images, or with --capability build; refuses a contradiction or an image capability it cannot honour", async () => {
    const path = await hostPath();
    expect(await imagesWith({}, { uid: 1000, path })).toEqual({ capabilities: ["build"], without: expect.stringContaining("root") });
    expect(await imagesWith({ images: false }, { uid: 0, path })).toEqual({ capabilities: ["build"], without: "--no-images" });
    expect((await imagesWith({ capability: ["build"] }, { uid: 0, path })).imageRunner).toBeUndefined();
    expect((await imagesWith({ capability: ["image"] }, { uid: 0, path })).capabilities).toEqual(["image"]);
    await expect(imagesWith({ images: false, capability: ["image"] }, { uid: 0, path })).rejects.toMatchObject({ code: "USAGE" });
    await expect(imagesWith({ capability: ["image"] }, { uid: 1000, path })).rejects.toMatchObject({ code: "BUILDER_CAPABILITY_MISSING" });
  });

  it("the hub `up` starts runs a compose's image task on its builder", async () => {
    const bin = await hostPath();
    // the compose command `up` found, standing in for deb-bootc-compose image-task W --json
    const command = join(bin, "deb-bootc-compose");
    await writeFile(
      command,
      `#!/bin/sh
printf 'an image' > "$2/out/disk.raw"
echo '{"files":[{"name":"disk.raw","kind":"disk-image"}],"result":{"ran":"'"$1"'"}}' > "$2/out/result.json"
`,
    );
    const images = await imagesWith({ composeCommand: command }, { uid: 0, path: bin });
    const local = await startLocalOrchestrator({
      dataDir: join(dir, "data"),
      arches: ["amd64"],
      capabilities: images.capabilities,
      capacity: 1,
      runner: new NoopBuildRunner(),
      ...(images.imageRunner ? { imageRunner: images.imageRunner } : {}),
      workDir: join(dir, "work"),
      builderName: "local",
    });
    try {
      expect((await local.admin.listHosts()).map((h) => [h.name, h.capabilities])).toEqual([["local", ["build", "image"]]]);
      const admin = new RawHubClient({ url: local.hub.url, token: (await readFile(local.hub.adminTokenFile, "utf8")).trim() });
      const compose = "mini-1.0-20261204.0";
      await admin.post("/api/v1/composes", { id: compose, name: "mini", definition: "name: mini\n" });
      const release = await admin.uploadBuffer(Buffer.from("Origin: test\n"));
      const { task } = await admin.post<{ task: number }>(`/api/v1/composes/${compose}/image-tasks`, {
        definitionFile: "mini.yaml",
        definition: "name: mini\n",
        variant: "base",
        arch: "amd64",
        snapshot: [{ path: "dists/mini/InRelease", ...release }],
        state: {},
      });
      const done = await waitForTask(admin, task);
      expect(done.state, JSON.stringify(done.error)).toBe("closed");
      expect(done.result).toMatchObject({ image: { ran: "image-task" }, files: [{ name: "disk.raw", kind: "disk-image" }] });
    } finally {
      await local.close(0);
    }
  });
});
