import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { run } from "@debian-bootc/core";
import { createOpenPgpSigner, dearmor, defaultMirror, generateOpenPgpKey, writeAptRepository } from "@debian-bootc/debian";
import { afterEach, describe, expect, it } from "vitest";
import { CHAIN, makeDemoSources } from "../testing/dependent-sources.js";
import { sourceFiles } from "../testing/real-source.js";
import { submitBuild, until } from "../testing/test-builds.js";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { type BuildBase, debMockBuildBase } from "./build-base.js";

/**
 * The dep-wait check searches the build environment's base (deb-mock's profile suite) even when the build
 * tag has no external repository: against a hub whose base is a small signed repository standing in for
 * debian/trixie (no mirror needed), the application of the demo chain submitted alone waits, in plain
 * words naming the places searched, while a source whose build-dependencies the base holds is not held.
 */
const databases = useDatabases();

/**
 * A signed file:// repository "debian/trixie" standing in for the base, holding build-essential and
 * `more` (each without dependencies), and the keyring that verifies it; written again, it is a new Release.
 */
async function fakeBase(dir: string, more: readonly string[] = []): Promise<BuildBase> {
  const debs = [];
  for (const name of ["build-essential", ...more]) {
    const pkg = join(dir, "pkgs", name);
    await mkdir(join(pkg, "DEBIAN"), { recursive: true });
    await writeFile(
      join(pkg, "DEBIAN", "control"),
      `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: T <t@localhost>\nDescription: stand-in\n`,
    );
    const deb = join(dir, "pkgs", `${name}_1.0_amd64.deb`);
    // made once: the pool refuses the same file name with other bytes
    if (!existsSync(deb)) await run("dpkg-deb", ["--root-owner-group", "--build", pkg, deb], { debianPackage: "dpkg" });
    debs.push(deb);
  }
  signingKey ??= await generateOpenPgpKey({ name: "Fake Archive", email: "archive@localhost" });
  const root = join(dir, "mirror");
  await writeAptRepository({
    root,
    suite: "trixie",
    architectures: ["amd64"],
    debs,
    signer: await createOpenPgpSigner({ privateKey: signingKey.privateKey }),
  });
  const keyring = join(dir, "archive.gpg");
  await writeFile(keyring, await dearmor(signingKey.publicKey));
  return { name: "debian", url: pathToFileURL(root).href, suite: "trixie", components: "main", keyring };
}
let signingKey: Awaited<ReturnType<typeof generateOpenPgpKey>> | undefined;

describe("dep-wait against the build environment's base", () => {
  let test: TestHub | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  it("holds the application submitted alone to a tag without external repositories, naming the tag and the base", async () => {
    test = await startTestHub(databases, "sqlite");
    const base = await fakeBase(test.dir);
    const asked: string[] = [];
    await test.restart({
      buildBase: async (buildTag, arch) => {
        asked.push(`${buildTag} ${arch}`);
        return base;
      },
    });
    await test.admin.createTag("demo", { arches: ["amd64"] });
    await test.admin.createTarget({ name: "demo", buildTag: "demo", destTag: "demo" });
    const [lib, , app] = await makeDemoSources(join(test.dir, "src"), CHAIN);
    const archOf = (task: number) =>
      until(async () => (await test!.admin.getTask(task)).children.find((c) => c.method === "buildArch"), 20_000, "the buildArch");

    const appTask = await submitBuild(test.admin, "demo", { dsc: app!, files: await sourceFiles(app!) });
    expect((await archOf(appTask)).state).toBe("dep-wait");
    expect((await test.admin.whyTask(appTask)).reason).toBe(
      "waiting: libchaindemo-mid-dev is not in tag demo or debian/trixie, and no pending build produces it",
    );
    expect(asked).toContain("demo amd64");

    // the library needs nothing but build-essential, which the base holds: not held (no builder takes it here)
    const libTask = await submitBuild(test.admin, "demo", { dsc: lib!, files: await sourceFiles(lib!) });
    expect((await archOf(libTask)).state).toBe("free");
  });

  /** A hub whose base is the stand-in, the tag demo without external repositories, the application waiting. */
  async function appWaiting(options: { depWaitRecheckMs?: number } = {}) {
    test = await startTestHub(databases, "sqlite");
    const base = await fakeBase(test.dir);
    await test.restart({ buildBase: async () => base, ...options });
    await test.admin.createTag("demo", { arches: ["amd64"] });
    await test.admin.createTarget({ name: "demo", buildTag: "demo", destTag: "demo" });
    const [, , app] = await makeDemoSources(join(test.dir, "src"), CHAIN);
    const appTask = await submitBuild(test.admin, "demo", { dsc: app!, files: await sourceFiles(app!) });
    const arch = await until(async () => (await test!.admin.getTask(appTask)).children.find((c) => c.state === "dep-wait"));
    return { base, arch: arch.id };
  }

  it("checks waiting tasks again when the hub starts: what landed in the base meanwhile releases them", async () => {
    const { base, arch } = await appWaiting();
    await test!.hub.close();
    // while the hub is down, the base gets the middle library (a new Release)
    await fakeBase(test!.dir, ["libchaindemo-mid-dev"]);
    await test!.restart({ buildBase: async () => base });
    const released = await until(async () => {
      const task = await test!.admin.getTask(arch);
      return task.state !== "dep-wait" && task;
    });
    expect(released.state).toBe("free");
    expect(released.history.some((h) => (h as { reason?: string }).reason === "dependencies-satisfiable")).toBe(true);
  });

  it("checks waiting tasks again periodically: a new Release of the base releases them without a tag regeneration", async () => {
    const { arch } = await appWaiting({ depWaitRecheckMs: 200 });
    expect((await test!.admin.getTask(arch)).state).toBe("dep-wait");
    await fakeBase(test!.dir, ["libchaindemo-mid-dev"]);
    const released = await until(async () => {
      const task = await test!.admin.getTask(arch);
      return task.state !== "dep-wait" && task;
    });
    expect(released.state).toBe("free");
    expect(await test!.admin.listTasks({ method: "newRepo" })).toEqual([]);
  });
});

describe("debMockBuildBase", () => {
  it("is deb-mock's profile for the build tag and architecture: its suite, components and mirror (the host's when it names none)", async () => {
    expect(await debMockBuildBase()("demo", "amd64")).toEqual({
      name: "debian",
      url: await defaultMirror(),
      suite: "trixie",
      components: "main",
    });
    const picked: string[] = [];
    const bookworm = debMockBuildBase((tag, arch) => {
      picked.push(`${tag} ${arch}`);
      return `debian-bookworm-${arch}`;
    });
    expect(await bookworm("old", "amd64")).toMatchObject({ suite: "bookworm" });
    expect(picked).toEqual(["old amd64"]);
  });

  it("says nothing for a profile that does not exist or is for another architecture (apt decides then)", async () => {
    expect(await debMockBuildBase(() => "no-such-profile")("demo", "amd64")).toBeUndefined();
    expect(await debMockBuildBase(() => "debian-trixie-amd64")("demo", "arm64")).toBeUndefined();
  });
});
