import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { planExtraRepos } from "./extra-repos.js";

const dir = useTempDir("deb-mock-extra-repos-", "all");
let armoured: string;
let binary: string;
beforeAll(async () => {
  armoured = join(dir(), "hub-key.asc");
  binary = join(dir(), "archive.key");
  await writeFile(armoured, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n");
  await writeFile(binary, Buffer.from([0x99, 0x01, 0x0d, 0x04]));
});

describe("planExtraRepos", () => {
  it("copies a signed-by key file in and points the line at the copy", async () => {
    const plan = await planExtraRepos([`deb [signed-by=${armoured} arch=amd64] http://hub.invalid/repos/trixie-build ./`]);
    expect(plan.lines).toEqual(["deb [signed-by=/etc/apt/deb-mock-keys/extra-1.asc arch=amd64] http://hub.invalid/repos/trixie-build ./"]);
    expect(plan.keys).toHaveLength(1);
    expect(plan.keys[0]).toMatchObject({ host: armoured, target: "/etc/apt/deb-mock-keys/extra-1.asc" });
    expect(plan.keys[0]!.data.toString()).toContain("BEGIN PGP PUBLIC KEY BLOCK");
  });

  it("names a binary keyring .gpg, keeps fingerprints, and copies a key used twice once", async () => {
    const fpr = "0123456789ABCDEF0123456789ABCDEF01234567";
    const plan = await planExtraRepos([
      `deb [signed-by=${binary},${fpr}] http://a.invalid/debian trixie main contrib`,
      `deb-src [signed-by=${binary}] http://a.invalid/debian trixie main`,
    ]);
    expect(plan.lines).toEqual([
      `deb [signed-by=/etc/apt/deb-mock-keys/extra-1.gpg,${fpr}] http://a.invalid/debian trixie main contrib`,
      "deb-src [signed-by=/etc/apt/deb-mock-keys/extra-1.gpg] http://a.invalid/debian trixie main",
    ]);
    expect(plan.keys.map((k) => k.target)).toEqual(["/etc/apt/deb-mock-keys/extra-1.gpg"]);
  });

  it("gives --extra-repo-key keys to lines that name neither signed-by nor trusted", async () => {
    const plan = await planExtraRepos(
      ["deb http://a.invalid/r ./", "deb [trusted=yes] http://b.invalid/r ./", `deb [signed-by=${armoured}] http://c.invalid/r ./`],
      [binary],
    );
    expect(plan.lines).toEqual([
      "deb [signed-by=/etc/apt/deb-mock-keys/extra-1.gpg] http://a.invalid/r ./",
      "deb [trusted=yes] http://b.invalid/r ./",
      "deb [signed-by=/etc/apt/deb-mock-keys/extra-2.asc] http://c.invalid/r ./",
    ]);
  });

  it("leaves lines without keys as they are", async () => {
    const plan = await planExtraRepos(["  deb   http://a.invalid/debian  trixie main "]);
    expect(plan).toEqual({ lines: ["deb http://a.invalid/debian trixie main"], keys: [] });
  });

  it("rejects a missing key file, a relative key path and a malformed line, naming them", async () => {
    await expect(planExtraRepos([`deb [signed-by=${join(dir(), "nope.asc")}] http://a.invalid/r ./`])).rejects.toMatchObject({
      code: "BUILD_INPUT_INVALID",
      message: expect.stringContaining("nope.asc"),
    });
    await expect(planExtraRepos(["deb http://a.invalid/r ./"], ["keys/hub.asc"])).rejects.toMatchObject({
      code: "BUILD_INPUT_INVALID",
      message: expect.stringContaining("expected an absolute path"),
    });
    await expect(planExtraRepos(["http://a.invalid/r ./"])).rejects.toMatchObject({
      code: "BUILD_INPUT_INVALID",
      message: expect.stringContaining("expected a one-line APT source"),
    });
    await expect(planExtraRepos(["deb [signed-by] http://a.invalid/r ./"])).rejects.toMatchObject({
      message: expect.stringContaining("expected name=value"),
    });
  });
});
