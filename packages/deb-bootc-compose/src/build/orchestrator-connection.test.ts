import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * Which hub a compose uses when one is named: the compose's flags, then the definition, then
 * deb-orchestrator's own client rules (environment, client.yaml). Nothing is contacted: a named hub is
 * only given a client.
 */

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "orchestrator-connection-"));
  await writeFile(join(dir, "definition.token"), "token-of-the-definition\n");
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const definition = (build: string) =>
  parseDefinition(
    [
      "name: remote",
      'version: "1"',
      "repositories: [{ type: orchestrator, tag: t }]",
      "baseline: none",
      "bootloader: none",
      "kernel: { package: linux-image-amd64 }",
      "packages: [systemd]",
      "outputs: [oci]",
      `build: { target: t, sources: [{ path: x }]${build} }`,
      "",
    ].join("\n"),
    join(dir, "remote.yaml"),
  );

describe("OrchestratorConnection with a named hub", () => {
  it("takes the definition's hub and token file before the environment's", async () => {
    const env = { DEB_ORCHESTRATOR_HUB: "http://env.invalid:1", DEB_ORCHESTRATOR_TOKEN: "token-of-the-env", XDG_CONFIG_HOME: dir };
    const connection = new OrchestratorConnection({ env });
    const hub = await connection.open(definition(", hub: http://def.invalid:2, tokenFile: definition.token"), dir);
    expect(hub).toMatchObject({ mode: "remote", url: "http://def.invalid:2" });
    await connection.close();

    const fromEnv = new OrchestratorConnection({ env });
    expect(await fromEnv.open(definition(""), dir)).toMatchObject({ mode: "remote", url: "http://env.invalid:1" });
    const flagged = new OrchestratorConnection({ env, hub: "http://flag.invalid:3" });
    expect(await flagged.open(definition(", hub: http://def.invalid:2"), dir)).toMatchObject({ url: "http://flag.invalid:3" });
  });

  it("answers ORCHESTRATOR_CONFIG, naming the file and the field, for a token file it cannot read", async () => {
    const connection = new OrchestratorConnection({ env: { XDG_CONFIG_HOME: dir } });
    const error = await connection.open(definition(", hub: http://def.invalid:2, tokenFile: nothing.token"), dir).catch((e: unknown) => e);
    expect(isCodedError(error, "ORCHESTRATOR_CONFIG")).toBe(true);
    expect((error as Error).message).toContain(`cannot read the token file ${join(dir, "nothing.token")} (build.tokenFile)`);
  });
});
