import { readFile, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { writeSourcePackage } from "../testing/test-builds.js";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

/**
 * The hub reads a submitted .dsc with the debian package's parser when the build is submitted: a .dsc
 * it refuses (here a malformed Build-Depends) is a 400 with SOURCE_INVALID and no task, instead of a 202
 * and a build that fails at its first step.
 */
describe("a submitted .dsc", () => {
  let test: TestHub;
  afterEach(async () => test?.close());

  /** Upload the package with its .dsc mangled and submit it: the hub's answer, status and body. */
  async function submit(mangle: (dsc: string) => string): Promise<{ status: number; code?: string; message?: string }> {
    await test.admin.post("/api/v1/tags", { name: "trixie" }).catch(() => {});
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "trixie", destTag: "trixie" }).catch(() => {});
    const pkg = await writeSourcePackage(test.dir, "hello", "2.10-3");
    await writeFile(pkg.dsc, mangle(await readFile(pkg.dsc, "utf8")));
    const files = [];
    for (const file of pkg.files) files.push(await test.admin.uploadFile(file));
    try {
      const response = await test.admin.raw("POST", "/api/v1/builds", {
        body: JSON.stringify({ target: "t", dsc: "hello_2.10-3.dsc", files }),
        headers: { "content-type": "application/json" },
      });
      return { status: response.status };
    } catch (error) {
      const refused = error as { code: string; message: string; details: { status: number } };
      return { status: refused.details.status, code: refused.code, message: refused.message };
    }
  }

  it("is refused at submit time with 400 SOURCE_INVALID when its Build-Depends does not parse", async () => {
    test = await startTestHub(databases, "sqlite");
    const refused = await submit((dsc) => dsc.replace("Build-Depends: debhelper-compat (= 13)", "Build-Depends: debhelper-compat (= 13"));
    expect(refused).toMatchObject({ status: 400, code: "SOURCE_INVALID", message: expect.stringContaining("Build-Depends") });
    expect(await test.admin.get<unknown[]>("/api/v1/tasks")).toEqual([]);
    // the same package with its Build-Depends intact is accepted
    const accepted = await submit((dsc) => dsc);
    expect(accepted).toEqual({ status: 202 });
  });

  it("is refused when a file it lists differs from the uploaded one", async () => {
    test = await startTestHub(databases, "sqlite");
    const refused = await submit((dsc) =>
      dsc.replace(/ ([0-9a-f]{64}) (\d+) hello_2\.10\.orig/, (_, sha, size) => ` ${sha} ${Number(size) + 1} hello_2.10.orig`),
    );
    expect(refused).toMatchObject({ status: 400, code: "SOURCE_INVALID" });
  });
});
