import { randomBytes } from "node:crypto";
import type { Logger } from "@debian-bootc/core";
import type { Dispatcher } from "./dispatcher.js";

const CHANNEL = "deb_orchestrator_free_tasks";

/**
 * Several hub processes on one PostgreSQL database: a task freed in one process wakes the builders
 * long-polling another one at once (LISTEN/NOTIFY), instead of after their one-second re-check.
 */
export async function relayWakesThroughPostgres(url: string, dispatcher: Dispatcher, logger: Logger): Promise<() => Promise<void>> {
  const pg = (await import("pg")).default;
  const me = randomBytes(8).toString("hex");
  const listener = new pg.Client({ connectionString: url });
  listener.on("error", (err) =>
    logger.warn({ err: err.message }, "task notification connection lost; builders fall back to one-second re-checks"),
  );
  await listener.connect();
  await listener.query(`LISTEN ${CHANNEL}`);
  listener.on("notification", (message) => {
    const [sender, arch] = (message.payload ?? "").split(" ", 2);
    if (sender !== me) dispatcher.wake(arch === "-" || arch === undefined ? null : arch, 1, true);
  });
  dispatcher.relay = (arch) => {
    listener.query("SELECT pg_notify($1, $2)", [CHANNEL, `${me} ${arch ?? "-"}`]).catch(() => {});
  };
  return async () => {
    dispatcher.relay = undefined;
    await listener.end().catch(() => {});
  };
}
