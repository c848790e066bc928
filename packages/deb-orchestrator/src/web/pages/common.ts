import type { HubContext } from "../../hub/context.js";
import { subjectOf } from "../../hub/tasks/methods/registry.js";
import { html, type SafeHtml } from "../html.js";
import type { TaskRow } from "../read.js";

/** What the pages read from: the hub's context (database, data directory, lease settings, key). */
export type WebEnv = HubContext;

/** A short description of what a task works on, from its request (user-controlled text: escaped by html). */
export function taskSubject(task: Pick<TaskRow, "method" | "request">): SafeHtml {
  const subject = subjectOf(task);
  if (!subject) return html``;
  return html`${subject.text}${subject.detail ? html` <span class="muted">${subject.detail}</span>` : ""}`;
}

export function intParam(value: unknown, fallback: number, max = 100_000): number {
  const n = typeof value === "string" && /^[0-9]{1,9}$/.test(value) ? Number(value) : fallback;
  return Math.min(Math.max(n, 1), max);
}

export function strParam(value: unknown, max = 128): string | undefined {
  if (typeof value !== "string") return undefined;
  const v = value.trim();
  return v && v.length <= max ? v : undefined;
}
