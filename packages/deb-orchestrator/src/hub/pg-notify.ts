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
    // a hub of an older version sends no capability: any builder of the architecture is woken
    const [sender, arch, count, capability] = (message.payload ?? "").split(" ", 4);
    const orAny = (value: string | undefined) => (value === "-" || value === undefined ? null : value);
    if (sender !== me) dispatcher.wake(orAny(arch), orAny(capability), Math.max(1, Number(count) || 1), true);
  });
  // wakes are counted per architecture and capability and sent once per event-loop turn, one statement at a time: a
  // burst of submissions costs one NOTIFY, not one each
  const pending = new Map<string, number>();
  let sending: Promise<unknown> = Promise.resolve();
  let scheduled = false;
  dispatcher.relay = (arch, capability) => {
    const key = `${arch ?? "-"} ${capability ?? "-"}`;
    pending.set(key, (pending.get(key) ?? 0) + 1);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const payloads = [...pending].map(([key, n]) => {
        const [arch, capability] = key.split(" ");
        return `${me} ${arch} ${n} ${capability}`;
      });
      pending.clear();
      sending = sending
        .then(() => listener.query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload", [CHANNEL, payloads]))
        .catch(() => {});
    });
  };
  return async () => {
    dispatcher.relay = undefined;
    await sending;
    await listener.end().catch(() => {});
  };
}
