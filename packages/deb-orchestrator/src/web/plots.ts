import { formatDuration, html, join, type SafeHtml } from "./html.js";

/*
 * Inline SVG charts rendered on the server: no script, no library, colours from the stylesheet (classes
 * only, no style attributes, so the page's Content-Security-Policy stays strict and dark mode follows the
 * theme). Every chart has a text alternative.
 */

const W = 720;
const H = 240;
const M = { left: 64, right: 16, top: 14, bottom: 34 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

/** 0 and "round" steps (1, 2, 5 × 10^n) covering max. */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Nice duration ticks in ms (seconds, minutes, hours). */
function durationTicks(max: number): number[] {
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map(
    (s) => s * 1000,
  );
  const step = steps.find((s) => s * 4 >= max) ?? Math.ceil(max / 4 / 86_400_000) * 86_400_000;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(v);
  return ticks.length > 1 ? ticks : [0, step];
}

function fmtClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}
function fmtDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function timeTicks(start: number, end: number): { at: number; label: string }[] {
  const span = Math.max(1, end - start);
  const hour = 3_600_000;
  const day = 24 * hour;
  const steps = [
    1000,
    5000,
    15_000,
    60_000,
    5 * 60_000,
    15 * 60_000,
    hour,
    2 * hour,
    4 * hour,
    6 * hour,
    12 * hour,
    day,
    2 * day,
    7 * day,
    14 * day,
    30 * day,
    91 * day,
  ];
  const step = steps.find((s) => span / s <= 7) ?? Math.ceil(span / 7 / day) * day;
  const ticks = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step)
    ticks.push({
      at: t,
      label:
        step >= day
          ? fmtDate(t)
          : span > day
            ? `${fmtDate(t).slice(5)} ${fmtClock(t)}`
            : step < 60_000
              ? new Date(t).toISOString().slice(11, 19)
              : fmtClock(t),
    });
  return ticks;
}

function frame(
  title: string,
  yTicks: number[],
  yMax: number,
  yLabel: (v: number) => string,
  xTicks: { at: number; label: string }[],
  x: (t: number) => number,
  body: SafeHtml,
  description: string,
): SafeHtml {
  const y = (v: number) => M.top + PH - (v / yMax) * PH;
  const grid = yTicks.map(
    (v) =>
      html`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="tick" x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${yLabel(v)}</text>`,
  );
  const xs = xTicks.map(
    (t) =>
      html`<line class="grid" x1="${x(t.at).toFixed(1)}" x2="${x(t.at).toFixed(1)}" y1="${M.top}" y2="${M.top + PH}"/><text class="tick" x="${x(t.at).toFixed(1)}" y="${H - 12}" text-anchor="middle">${t.label}</text>`,
  );
  return html`<figure class="plot"><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}" preserveAspectRatio="xMidYMid meet"><title>${title}</title><desc>${description}</desc>${grid}${xs}<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + PH}" y2="${M.top + PH}"/>${body}</svg><figcaption>${title}</figcaption></figure>`;
}

export interface DurationPoint {
  /** When the build finished (or started, for a running one). */
  time: number;
  durationMs: number;
  state: string;
  label: string;
  href: string;
}

/** Build durations over time: one dot per build (a link to it), coloured by state, the complete ones joined. */
export function durationPlot(title: string, points: readonly DurationPoint[]): SafeHtml {
  if (points.length === 0) return html`<p class="muted">No finished builds to plot yet.</p>`;
  const sorted = [...points].sort((a, b) => a.time - b.time);
  const first = sorted[0]!.time;
  const last = sorted[sorted.length - 1]!.time;
  const pad = last === first ? 3_600_000 : (last - first) * 0.03;
  const start = first - pad;
  const end = last + pad;
  const x = (t: number) => M.left + ((t - start) / (end - start)) * PW;
  const yTicks = durationTicks(Math.max(...sorted.map((p) => p.durationMs), 1000));
  const yMax = yTicks[yTicks.length - 1]!;
  const y = (v: number) => M.top + PH - (v / yMax) * PH;
  const complete = sorted.filter((p) => p.state === "complete");
  const line = complete.map((p, i) => `${i ? "L" : "M"}${x(p.time).toFixed(1)} ${y(p.durationMs).toFixed(1)}`).join(" ");
  const dots = sorted.map(
    (p) =>
      html`<a href="${p.href}"><circle class="dot state-${p.state}" cx="${x(p.time).toFixed(1)}" cy="${y(p.durationMs).toFixed(1)}" r="4"><title>${p.label}: ${formatDuration(p.durationMs)} (${p.state})</title></circle></a>`,
  );
  const durations = complete.map((p) => p.durationMs).sort((a, b) => a - b);
  const median = durations.length ? durations[Math.floor(durations.length / 2)]! : undefined;
  const body = join([complete.length > 1 ? html`<path class="line" d="${line}"/>` : "", dots]);
  return frame(
    title,
    yTicks,
    yMax,
    (v) => formatDuration(v).replace(/ 0 (s|min)$/, ""),
    timeTicks(start, end),
    x,
    body,
    `${sorted.length} builds from ${fmtDate(first)} to ${fmtDate(last)}${median === undefined ? "" : `; median duration of complete builds ${formatDuration(median)}`}.`,
  );
}

export interface Series {
  label: string;
  /** CSS class of the line (series-queue, series-util ...). */
  cls: string;
  values: readonly number[];
}

/**
 * Values sampled at regular times (start, start+step, ...) as lines on one scale, with a legend. `percent`
 * formats the axis as 0-100 %.
 */
export function timelinePlot(
  title: string,
  start: number,
  step: number,
  series: readonly Series[],
  options: { percent?: boolean; unit?: string } = {},
): SafeHtml {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  if (n === 0) return html`<p class="muted">No data.</p>`;
  const end = start + step * Math.max(1, n - 1);
  const x = (t: number) => M.left + ((t - start) / (end - start)) * PW;
  const max = options.percent ? 100 : Math.max(1, ...series.flatMap((s) => s.values));
  const yTicks = options.percent ? [0, 25, 50, 75, 100] : niceTicks(max);
  const yMax = yTicks[yTicks.length - 1]!;
  const y = (v: number) => M.top + PH - (Math.min(v, yMax) / yMax) * PH;
  const lines = series.map((s) => {
    const d = s.values.map((v, i) => `${i ? "L" : "M"}${x(start + i * step).toFixed(1)} ${y(v).toFixed(1)}`).join(" ");
    const area = `${d} L${x(start + (s.values.length - 1) * step).toFixed(1)} ${y(0).toFixed(1)} L${x(start).toFixed(1)} ${y(0).toFixed(1)} Z`;
    return html`<path class="area ${s.cls}" d="${area}"/><path class="line ${s.cls}" d="${d}"><title>${s.label}</title></path>`;
  });
  const legend = series.map(
    (s, i) =>
      html`<g transform="translate(${M.left + 8 + i * 190} ${M.top + 4})"><rect class="swatch ${s.cls}" width="12" height="12"/><text class="legend" x="18" y="10">${s.label}</text></g>`,
  );
  const summary = series
    .map((s) => {
      const peak = Math.max(0, ...s.values);
      const now = s.values[s.values.length - 1] ?? 0;
      const fmt = (v: number) =>
        options.percent ? `${Math.round(v)} %` : `${Number(v.toFixed(1))}${options.unit ? ` ${options.unit}` : ""}`;
      return `${s.label}: now ${fmt(now)}, peak ${fmt(peak)}`;
    })
    .join("; ");
  return frame(
    title,
    yTicks,
    yMax,
    (v) => (options.percent ? `${v} %` : String(v)),
    timeTicks(start, end),
    x,
    join([lines, legend]),
    `${summary}.`,
  );
}
