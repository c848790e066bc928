// Small statistics and plain-text table printing for the benchmarks.

/** { n, median, min, max } of an array of numbers (null fields when it is empty). */
export function summarize(values) {
  if (values.length === 0) return { n: 0, median: null, min: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { n: sorted.length, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Number with a fixed count of decimals, or "-" for null/undefined. */
export function fmt(value, decimals = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? "-" : value.toFixed(decimals);
}

/** A table as text: `header` is an array of column titles, `rows` arrays of cells (strings). */
export function renderTable(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(all[0]), rule, ...all.slice(1).map(line)].join("\n");
}

/** A number from a report field, or null when it is missing or not a number. */
export function numberOrNull(v) {
  const n = Number(v);
  return v === undefined || Number.isNaN(n) ? null : n;
}
