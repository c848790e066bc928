import type { Logger } from "@debian-bootc/core";
import pino from "pino";

/** Daemons log JSON lines with pino (to stderr, so stdout stays free for the CLI's own output). */
export function daemonLogger(name: string, verbose: boolean): Logger & pino.Logger {
  return pino({ name, level: verbose ? "debug" : "info" }, pino.destination(2));
}
