import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

describe("HubClient.uploadFileOnce", () => {
  let test: TestHub;
  afterEach(async () => test?.close());

  it("uploads a file the store lacks, and only asks (HEAD) for one it holds", async () => {
    test = await startTestHub(databases, "sqlite");
    const path = join(test.dir, "pool-file.deb");
    await writeFile(path, "a .deb the hub built\n");
    const first = await test.admin.uploadFileOnce(path);
    expect(first).toMatchObject({ name: "pool-file.deb", size: 21, uploaded: true });
    await test.admin.downloadArtifact(first.sha256, join(test.dir, "back"));
    expect(await readFile(join(test.dir, "back"), "utf8")).toBe("a .deb the hub built\n");
    const second = await test.admin.uploadFileOnce(path);
    expect(second).toEqual({ ...first, uploaded: false });
  });
});
