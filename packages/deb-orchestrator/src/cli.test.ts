import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { memoryOutput, runCli } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Builder } from "./builder/builder.js";
import { cliAgainst } from "./testing/cli-run.js";
import { writeSourcePackage } from "./testing/test-builds.js";
import { startNoopBuilder, startTestHub, type TestHub, useDatabases } from "./testing/test-hub.js";
import { tool } from "./tool.js";

const databases = useDatabases();

describe("the client CLI against a hub (SQLite)", () => {
  let test: TestHub;
  let builder: Builder;
  let tokenFile: string;
  beforeAll(async () => {
    test = await startTestHub(databases, "sqlite");
    tokenFile = join(test.dir, "admin.token");
    await writeFile(tokenFile, test.adminToken);
    builder = await startNoopBuilder(test, "b1", { capacity: 2 });
  }, 120_000);
  afterAll(async () => {
    await builder?.stop(100);
    await test?.close();
  });

  const cli = (...args: string[]) => cliAgainst(test.hub.url, tokenFile)(...args);

  it("sets up tags and a target, builds, and shows the results as tables and JSON", async () => {
    expect((await cli("add-tag", "trixie-base")).code).toBe(0);
    expect((await cli("add-tag", "trixie-build", "--parent", "trixie-base", "--arches", "amd64")).code).toBe(0);
    expect((await cli("add-tag", "trixie-dest", "--parent", "trixie-base")).code).toBe(0);
    expect((await cli("add-target", "trixie", "trixie-build", "trixie-dest")).out).toBe(
      "created target trixie: trixie-build -> trixie-dest",
    );
    const tags = await cli("list-tags");
    expect(tags.out.split("\n")[0]).toMatch(/^TAG\s+ARCHES\s+PARENTS/);
    expect(tags.out).toMatch(/trixie-build\s+amd64\s+trixie-base/);

    const pkg = await writeSourcePackage(test.dir, "cowsay", "3.03+dfsg2-8");
    const built = await cli("build", "trixie", pkg.dsc, "--wait");
    expect(built.code).toBe(0);
    expect(built.out).toMatch(/task \d+ \(build\): closed/);
    const info = await cli("--json", "build-info", "cowsay/3.03+dfsg2-8");
    expect(info.json).toMatchObject({ name: "cowsay", state: "complete", tags: ["trixie-dest"] });
    expect((await cli("latest-build", "trixie-dest", "cowsay")).out).toMatch(/cowsay\s+3\.03\+dfsg2-8\s+trixie-dest/);
    const downloads = join(test.dir, "downloads");
    expect((await cli("download-build", "cowsay/3.03+dfsg2-8", "--dir", downloads)).code).toBe(0);
    expect(await readdir(downloads)).toEqual(["cowsay_3.03+dfsg2-8_amd64.deb"]);
    expect((await cli("list-hosts")).out).toMatch(/b1\s+amd64\s+yes/);
    expect((await cli("list-tasks", "--all")).out.split("\n")).toHaveLength(5);
    // the build by its own id and name/version, then its task
    const { id, task } = info.json as { id: number; task: number };
    expect((await cli("why", "cowsay/3.03+dfsg2-8")).out).toBe(`build ${id} (cowsay 3.03+dfsg2-8): task ${task} (build) completed.`);
    expect((await cli("why", String(task))).out).toBe(`task ${task} (build) completed.`);
    // untag: gone from the tag, the repository regenerated without it
    expect((await cli("untag-build", "trixie-dest", "cowsay/3.03+dfsg2-8")).code).toBe(0);
    expect((await cli("--json", "list-tagged", "trixie-dest")).json).toEqual([]);
  });

  it("reports hub errors with the code's exit status and a hint", async () => {
    const missing = await cli("build-info", "nosuch/1.0");
    expect(missing.code).toBe(6);
    expect(missing.err).toContain("build 'nosuch/1.0' does not exist");
    const bad = await cli("add-tag", "bad/name");
    expect(bad.code).toBe(2);
    const user = await cli("add-user", "carol", "--perm", "build");
    expect(user.code).toBe(0);
    const token = await cli("--json", "token", "create", "carol");
    const carolToken = (token.json as { token: string }).token;
    const out = memoryOutput();
    const denied = await runCli(tool, ["--hub", test.hub.url, "--token", carolToken, "add-tag", "x"], out);
    expect(denied).toBe(7);
    expect(out.errors.join("\n")).toContain("hint: an administrator can run: deb-orchestrator grant carol tag");
    expect((await cli("grant", "carol", "tag")).code).toBe(0);
    expect(await runCli(tool, ["--hub", test.hub.url, "--token", carolToken, "add-tag", "x"], memoryOutput())).toBe(0);
  });

  it("lists and revokes tokens, disables and enables users, deletes builds", async () => {
    expect((await cli("add-user", "dave", "--perm", "build")).code).toBe(0);
    const created = (await cli("--json", "token", "create", "dave", "--label", "laptop")).json as { id: number; token: string };
    const listed = await cli("token", "list", "dave");
    expect(listed.out.split("\n")[0]).toMatch(/^ID\s+CREATED\s+EXPIRES\s+REVOKED\s+LABEL$/);
    expect(listed.out).toMatch(new RegExp(`^${created.id}\\s+\\S+ \\S+\\s+never\\s+no\\s+laptop$`, "m"));
    // a token with an expiry shows it
    const expiring = (await cli("--json", "token", "create", "dave", "--label", "month", "--expires", "30d")).json as { id: number };
    expect((await cli("token", "list", "dave")).out).toMatch(
      new RegExp(`^${expiring.id}\\s+\\S+ \\S+\\s+\\d{4}-\\d\\d-\\d\\d \\S+\\s+no\\s+month$`, "m"),
    );
    expect((await cli("token", "create", "dave", "--expires", "yesterday")).code).toBe(2);
    const dave = () => runCli(tool, ["--hub", test.hub.url, "--token", created.token, "list-tags"], memoryOutput());
    expect(await dave()).toBe(0);
    expect((await cli("token", "revoke", String(created.id))).out).toBe(`token ${created.id} of dave revoked`);
    expect(await dave()).toBe(7); // the unauthorized category's exit status
    expect((await cli("token", "revoke", "dave")).code).toBe(2);

    const again = (await cli("--json", "token", "create", "dave")).json as { token: string };
    const daveAgain = () => runCli(tool, ["--hub", test.hub.url, "--token", again.token, "list-tags"], memoryOutput());
    expect((await cli("disable-user", "dave")).out).toBe("user dave disabled");
    expect(await daveAgain()).not.toBe(0);
    expect((await cli("enable-user", "dave")).out).toBe("user dave enabled");
    expect(await daveAgain()).toBe(0);

    const pkg = await writeSourcePackage(test.dir, "sl", "5.02-1");
    expect((await cli("build", "trixie", pkg.dsc, "--wait")).code).toBe(0);
    const deleted = await cli("delete-build", "sl/5.02-1", "--remove-artifacts");
    expect(deleted.code).toBe(0);
    expect(deleted.out).toMatch(
      /^deleted sl\/5\.02-1; untagged from trixie-dest; newRepo tasks \d+; \d+ file\(s\) removed, 0 shared file\(s\) kept$/,
    );
    const sl = (await cli("--json", "build-info", "sl/5.02-1")).json as { id: number; task: number };
    expect(sl).toMatchObject({ state: "deleted", tags: [] });
    // why names the build by its id (not its task's: they differ here) and says it was deleted
    expect(sl.task).not.toBe(sl.id);
    expect((await cli("why", "sl/5.02-1")).out).toBe(`build ${sl.id} (sl 5.02-1, deleted): task ${sl.task} (build) completed.`);
    expect((await cli("why", `build:${sl.id}`)).out).toBe(`build ${sl.id} (sl 5.02-1, deleted): task ${sl.task} (build) completed.`);
  });

  it("cancels a waiting task and explains why one waits", async () => {
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "s390x" });
    expect((await cli("why", String(task))).out).toContain("no builder has ever checked in for architecture s390x");
    expect((await cli("cancel", String(task))).code).toBe(0);
    expect((await cli("--json", "task-info", String(task))).json).toMatchObject({ state: "canceled" });
    expect((await cli("cancel", String(task))).code).toBe(5);
  });
});
