/**
 * An image builder in its own process, running image tasks with the given command (tests that SIGKILL
 * a builder in the middle of one). Arguments: HUB_URL NAME WORK_DIR COMMAND; the token in HUB_TOKEN.
 */
import { NoopBuildRunner } from "../builder/build-runner.js";
import { Builder } from "../builder/builder.js";
import { ComposeCliImageRunner } from "../builder/image-runner.js";
import { HubClient } from "../client/hub-client.js";

const [url, name, workDir, command] = process.argv.slice(2);
const token = process.env.HUB_TOKEN;
if (!url || !token || !name || !workDir || !command)
  throw new Error("usage: HUB_TOKEN=... image-builder-process HUB_URL NAME WORK_DIR COMMAND");
const builder = new Builder({
  client: new HubClient({ url, token }),
  name,
  arches: ["amd64"],
  capabilities: ["image"],
  capacity: 1,
  runner: new NoopBuildRunner(),
  imageRunner: new ComposeCliImageRunner({ command: [command] }),
  workDir,
});
builder.on((event) => process.stdout.write(`${JSON.stringify(event)}\n`));
await builder.start();
process.once("SIGTERM", () => void builder.stop(1000).then(() => process.exit(0)));
