import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { ComposeState } from "../compose/compose-state.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { parseDefinition } from "../definition.js";
import { lintKey, lintPhase } from "./lint-phase.js";

const definition = parseDefinition('name: lint\nversion: "1.0"\n', "def.yaml");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * A previous compose (latest-lint) whose checks of tree "tree-A" all passed, and a new compose whose
 * tree (an empty directory, which fails the error checks) has the tree ID `treeId`.
 */
async function recompose(treeId: string): Promise<PhaseContext> {
  const root = await mkdtemp(join(tmpdir(), "lint-reuse-"));
  dirs.push(root);
  const previous = join(root, "lint-1.0-20261201.0");
  await mkdir(join(previous, "work", "amd64", "minimal"), { recursive: true });
  const results = [{ check: "kernel", severity: "error", ok: true, message: "one kernel in /usr/lib/modules" }];
  await writeFile(join(previous, "work", "amd64", "minimal", "lint.json"), JSON.stringify({ key: await lintKey("tree-A"), results }));
  await symlink("lint-1.0-20261201.0", join(root, "latest-lint"));
  const dir = join(root, "lint-1.0-20261202.0");
  const tree = join(dir, "work", "amd64", "minimal", "rootfs");
  await mkdir(tree, { recursive: true });
  const state = new ComposeState();
  state.set("rootfs", [{ variant: "minimal", arch: "amd64", path: tree }]);
  state.set("rootfs-details", [
    { variant: "minimal", arch: "amd64", path: tree, kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "reused", treeId },
  ]);
  return {
    composeId: "lint-1.0-20261202.0",
    composeDir: dir,
    definition,
    logger: silentLogger,
    signal: new AbortController().signal,
    state,
    emit: () => {},
  };
}

describe("lint phase reuse", () => {
  it("takes over the previous compose's results for the same tree", async () => {
    const ctx = await recompose("tree-A");
    await lintPhase.run(ctx);
    const recorded = JSON.parse(await readFile(join(ctx.composeDir, "work", "amd64", "minimal", "lint.json"), "utf8"));
    expect(recorded).toMatchObject({ key: await lintKey("tree-A"), reusedFrom: "lint-1.0-20261201.0" });
  });

  it("checks another tree itself, and fails on what it finds", async () => {
    const ctx = await recompose("tree-B");
    await expect(lintPhase.run(ctx)).rejects.toMatchObject({ code: "LINT_FAILED" });
    const recorded = JSON.parse(await readFile(join(ctx.composeDir, "work", "amd64", "minimal", "lint.json"), "utf8"));
    expect(recorded.key).toBe(await lintKey("tree-B"));
    expect(recorded.reusedFrom).toBeUndefined();
  });
});
