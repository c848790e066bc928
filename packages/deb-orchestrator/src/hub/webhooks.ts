import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Selectable } from "kysely";
import type { WebhooksTable } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import type { HubContext } from "./context.js";
import { eventFromRow, type HubEvent, recordEvent } from "./events.js";
import { checkWebhookTarget, guardedLookup, refusedLiteral } from "./webhook-target.js";

export const SIGNATURE_HEADER = "x-deb-orchestrator-signature";

/** What events and logs show of a webhook URL: scheme, host and path; never credentials or a query token. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** `sha256=<hex HMAC-SHA256 of the body with the webhook's secret>`, what receivers check. */
export function signWebhookBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export async function createWebhook(
  ctx: HubContext,
  actor: Principal,
  spec: { url: string; secret: string; kinds?: string[]; allowLocal?: boolean },
): Promise<number> {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw orchestratorError("REQUEST_INVALID", `url '${spec.url.slice(0, 100)}' is not a URL`, { details: { field: "url" } });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw orchestratorError("REQUEST_INVALID", "webhook URLs are http:// or https://");
  for (const kind of spec.kinds ?? [])
    if (!/^[a-z-]+\.?[a-z-]*$/.test(kind))
      throw orchestratorError("REQUEST_INVALID", `kind '${kind.slice(0, 40)}' is not an event kind or prefix`);
  const allowLocal = spec.allowLocal === true;
  await checkWebhookTarget(url, allowLocal);
  const last = await ctx.db
    .selectFrom("events")
    .select((eb) => eb.fn.max("id").as("m"))
    .executeTakeFirst();
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("webhooks")
      .values({
        url: url.toString(),
        secret: spec.secret,
        kinds: (spec.kinds ?? []).join(" "),
        cursor: Number(last?.m ?? 0),
        enabled: 1,
        failures: 0,
        created_at: ctx.now(),
        allow_local: allowLocal ? 1 : 0,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: "webhook.created",
        objectType: "webhook",
        objectId: row.id,
        data: { url: displayUrl(url), kinds: spec.kinds ?? [], ...(allowLocal ? { allowLocal } : {}) },
      },
      ctx.now(),
    );
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

export async function deleteWebhook(ctx: HubContext, actor: Principal, id: number): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const res = await trx.deleteFrom("webhooks").where("id", "=", id).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw orchestratorError("NOT_FOUND", `webhook ${id} does not exist`);
    await recordEvent(trx, { userId: actor.userId, kind: "webhook.deleted", objectType: "webhook", objectId: id, data: {} }, ctx.now());
  });
}

export async function listWebhooks(ctx: HubContext) {
  const rows = await ctx.db.selectFrom("webhooks").selectAll().orderBy("id").execute();
  return rows.map((w) => ({
    id: w.id,
    url: w.url,
    kinds: w.kinds.split(" ").filter(Boolean),
    cursor: w.cursor,
    failures: w.failures,
    lastError: w.last_error,
    enabled: w.enabled === 1,
    allowLocal: w.allow_local === 1,
  }));
}

function matches(webhook: Selectable<WebhooksTable>, event: HubEvent): boolean {
  const kinds = webhook.kinds.split(" ").filter(Boolean);
  return (
    kinds.length === 0 ||
    kinds.some((k) => event.kind === k || (k.endsWith(".") && event.kind.startsWith(k)) || event.kind.startsWith(`${k}.`))
  );
}

/**
 * Delivers the event log to webhooks: in event order, one POST per matching event, signed with the
 * webhook's secret; the cursor advances only after a 2xx, so a receiver that fails gets the same event
 * again (with exponential backoff, up to 5 minutes) before any later one. At least once, in order.
 */
export class WebhookDeliverer {
  private busy = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly onChange = () => void this.run();

  constructor(
    private readonly ctx: HubContext,
    private readonly options: { timeoutMs?: number; maxBackoffMs?: number; baseBackoffMs?: number } = {},
  ) {}

  start(): void {
    this.ctx.bus.on("changed", this.onChange);
    this.timer = setInterval(() => void this.run(), 1000);
    void this.run();
  }

  async stop(): Promise<void> {
    this.ctx.bus.off("changed", this.onChange);
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  async run(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        const hooks = await this.ctx.db
          .selectFrom("webhooks")
          .selectAll()
          .where("enabled", "=", 1)
          .where((eb) => eb.or([eb("next_attempt", "is", null), eb("next_attempt", "<=", this.ctx.now())]))
          .execute();
        for (const hook of hooks) {
          if (this.ctx.closing.aborted) return;
          await this.deliver(hook);
        }
      } while (this.again && !this.ctx.closing.aborted);
    } catch (error) {
      this.ctx.logger.warn({ err: (error as Error).message }, "webhook delivery pass failed");
    } finally {
      this.busy = false;
    }
  }

  private async deliver(hook: Selectable<WebhooksTable>): Promise<void> {
    let cursor = hook.cursor;
    for (;;) {
      const rows = await this.ctx.db.selectFrom("events").selectAll().where("id", ">", cursor).orderBy("id").limit(200).execute();
      if (rows.length === 0) break;
      for (const row of rows) {
        const event = eventFromRow(row);
        if (matches(hook, event)) {
          const body = JSON.stringify(event);
          let problem: string | undefined;
          try {
            const status = await postOnce(new URL(hook.url), body, {
              headers: {
                "content-type": "application/json",
                "x-deb-orchestrator-event": event.kind,
                "x-deb-orchestrator-delivery": `${hook.id}-${event.id}`,
                [SIGNATURE_HEADER]: signWebhookBody(hook.secret, body),
              },
              timeoutMs: this.options.timeoutMs ?? 10_000,
              allowLocal: hook.allow_local === 1,
            });
            if (status >= 300 && status < 400) problem = `receiver answered ${status}; webhooks never follow redirects`;
            else if (status < 200 || status >= 300) problem = `receiver answered ${status}`;
          } catch (error) {
            problem = (error as Error).message;
          }
          if (problem) {
            const failures = hook.failures + 1;
            const backoff = Math.min((this.options.baseBackoffMs ?? 1000) * 2 ** (failures - 1), this.options.maxBackoffMs ?? 300_000);
            await this.ctx.db
              .updateTable("webhooks")
              .set({ cursor, failures, last_error: problem.slice(0, 500), next_attempt: this.ctx.now() + backoff })
              .where("id", "=", hook.id)
              .execute();
            this.ctx.logger.warn({ webhook: hook.id, event: event.id, problem, retryInMs: backoff }, "webhook delivery failed");
            return;
          }
          hook.failures = 0;
        }
        cursor = event.id;
        if (matches(hook, event))
          await this.ctx.db
            .updateTable("webhooks")
            .set({ cursor, failures: 0, last_error: null, next_attempt: null })
            .where("id", "=", hook.id)
            .execute();
      }
      await this.ctx.db.updateTable("webhooks").set({ cursor }).where("id", "=", hook.id).execute();
    }
  }
}

/**
 * One POST and its status. No redirect is followed (the signed body goes to the URL the admin gave and
 * nowhere else), and the connection's DNS lookup refuses the addresses webhooks may not reach.
 */
function postOnce(
  url: URL,
  body: string,
  options: { headers: Record<string, string>; timeoutMs: number; allowLocal: boolean },
): Promise<number> {
  const literal = refusedLiteral(url, options.allowLocal);
  if (literal) return Promise.reject(new Error(`refused: ${literal}`));
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method: "POST",
      headers: { ...options.headers, "content-length": Buffer.byteLength(body) },
      lookup: guardedLookup(options.allowLocal),
      timeout: options.timeoutMs,
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on("error", reject);
    request.on("response", (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
      response.on("error", reject);
    });
    request.end(body);
  });
}
