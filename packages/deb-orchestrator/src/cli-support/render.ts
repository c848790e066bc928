import type { CommandContext } from "@debian-bootc/core";

/** A plain text table: columns padded to their widest cell, a header line, no colours. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map((c) => (c === null || c === undefined ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join("\n");
}

export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

/** Print JSON with --json, else the human rendering. */
export function emit(ctx: CommandContext, value: unknown, human: () => string): void {
  if (ctx.json) ctx.out.json(value);
  else {
    const text = human();
    if (text) ctx.out.line(text);
  }
}
