// The start the benchmarks share: options, --help, --render of a saved report, the root check.
import { readFileSync } from "node:fs";

/**
 * Parse the command line (exit 64 on a bad option), answer --help, re-render a saved report (--render
 * FILE), or refuse to run without root (exit 77; `rootReason` says what needs it; a benchmark that
 * runs as any user gives none).
 * Returns `{ opts }` to run with, or `{ exit }` with the code to stop with.
 */
export function startBench({ name, help, parseOptions, renderReport, rootReason }) {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${name}: ${error.message}\n\n${help}`);
    return { exit: 64 };
  }
  if (opts.help) {
    process.stdout.write(help);
    return { exit: 0 };
  }
  if (opts.render) {
    process.stdout.write(renderReport(JSON.parse(readFileSync(opts.render, "utf8"))));
    return { exit: 0 };
  }
  if (rootReason && process.getuid?.() !== 0) {
    process.stderr.write(`${name}: must run as root (${rootReason})\n`);
    return { exit: 77 };
  }
  return { opts };
}

/** The options every such benchmark has: the report as JSON, re-rendering a saved one, and help. */
export const REPORT_OPTIONS = {
  json: { type: "boolean", default: false },
  render: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
};

/** The value of option `name` (a parseArgs string) as a whole number >= 1. */
export function wholeNumberOption(values, name) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a whole number >= 1, got '${values[name]}'`);
  return n;
}

/** The value of option `name`, given in minutes > 0, in milliseconds. */
export function minutesOptionMs(values, name) {
  const minutes = Number(values[name]);
  if (!(minutes > 0)) throw new Error(`--${name}: expected minutes > 0, got '${values[name]}'`);
  return minutes * 60_000;
}
