import type { FastifyRequest } from "fastify";
import { orchestratorError } from "../errors.js";

/** What one client or the hub as a whole may hold; every limit has a default and a `deb-orchestrator hub` flag. */
export interface HubLimits {
  /** Event and log streams (SSE, follow=true) open at once in this hub process. */
  maxStreams: number;
  /** ... of which one client (a user, or an address for anonymous readers) may hold. */
  maxStreamsPerClient: number;
  /** Bytes of a user's uploads that no build or task refers to yet. */
  uploadQuotaBytes: number;
  /** Uploads nothing refers to are removed this long after they arrived. */
  uploadGraceMs: number;
  /** A task's logs together, in bytes. */
  maxTaskLogBytes: number;
}

export const defaultLimits: HubLimits = {
  maxStreams: 500,
  maxStreamsPerClient: 20,
  uploadQuotaBytes: 20 * 1024 ** 3,
  uploadGraceMs: 24 * 3600 * 1000,
  maxTaskLogBytes: 512 * 1024 ** 2,
};

/** Counts the open streams of this hub process, per client and in total. */
export class StreamGate {
  private total = 0;
  private readonly perClient = new Map<string, number>();
  constructor(private readonly limits: Pick<HubLimits, "maxStreams" | "maxStreamsPerClient">) {}

  /** Take a slot or throw TOO_MANY_STREAMS; the returned function gives it back (once, however often called). */
  acquire(client: string): () => void {
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.limits.maxStreamsPerClient)
      throw orchestratorError("TOO_MANY_STREAMS", `this client has ${mine} streams open, the most this hub allows`, {
        hint: "close a stream (a browser tab following a log or events) and try again",
      });
    if (this.total >= this.limits.maxStreams)
      throw orchestratorError("TOO_MANY_STREAMS", `this hub has ${this.total} streams open, the most it allows; try again later`);
    this.total++;
    this.perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
  }
}

/** Whom a stream counts against: its user, or its address when anonymous. */
export function streamClient(request: FastifyRequest): string {
  return request.principal ? `user:${request.principal.userId}` : `address:${request.ip}`;
}
