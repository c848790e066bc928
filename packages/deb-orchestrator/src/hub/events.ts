import { EventEmitter } from "node:events";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../db/schema.js";

export interface EventInput {
  userId: number | null;
  kind: string;
  objectType: string;
  objectId: number | null;
  data?: Record<string, unknown>;
  /** The build the event concerns when its object is not the build (tagging): the build's history shows it. */
  buildId?: number;
}

export interface HubEvent {
  id: number;
  time: number;
  userId: number | null;
  kind: string;
  objectType: string;
  objectId: number | null;
  data: Record<string, unknown>;
}

/** Append one row to the event log (never updated or deleted) inside the caller's transaction. */
export async function recordEvent(db: Kysely<Database> | Transaction<Database>, event: EventInput, time = Date.now()): Promise<void> {
  await recordEvents(db, [event], time);
}

/** Append several rows in one statement (one round trip), in order. */
export async function recordEvents(
  db: Kysely<Database> | Transaction<Database>,
  events: readonly EventInput[],
  time = Date.now(),
): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto("events")
    .values(
      events.map((event) => ({
        time,
        user_id: event.userId,
        kind: event.kind,
        object_type: event.objectType,
        object_id: event.objectId,
        data: JSON.stringify(event.data ?? {}),
        build_id: event.buildId ?? null,
      })),
    )
    .execute();
}

/** Events after an id, oldest first, of one object type or object if asked. */
export async function listEvents(
  db: Kysely<Database>,
  filter: { after: number; limit: number; type?: string; object?: number },
): Promise<HubEvent[]> {
  let query = db.selectFrom("events").selectAll().where("id", ">", filter.after);
  if (filter.type) query = query.where("object_type", "=", filter.type);
  if (filter.object) query = query.where("object_id", "=", filter.object);
  return (await query.orderBy("id").limit(filter.limit).execute()).map(eventFromRow);
}

/** The id of the newest event (0 when there is none). */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  return Number(
    (
      await db
        .selectFrom("events")
        .select((eb) => eb.fn.max("id").as("m"))
        .executeTakeFirst()
    )?.m ?? 0,
  );
}

export function eventFromRow(row: Database["events"] extends infer T ? { [K in keyof T]: unknown } : never): HubEvent {
  return {
    id: Number(row.id),
    time: Number(row.time),
    userId: row.user_id === null ? null : Number(row.user_id),
    kind: String(row.kind),
    objectType: String(row.object_type),
    objectId: row.object_id === null ? null : Number(row.object_id),
    data: JSON.parse(String(row.data)) as Record<string, unknown>,
  };
}

/**
 * In-process notification that the event log grew; listeners (SSE streams, watch-task) read the new rows
 * from the database, which stays the one source of truth. Coalesced to one ping per tick.
 */
export class EventBus extends EventEmitter {
  private pending = false;
  constructor() {
    super();
    this.setMaxListeners(0);
  }
  ping(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      this.emit("changed");
    });
  }
}
