// The start the root-only benchmarks share: options, --help, --render of a saved report, the root check.
import { readFileSync } from "node:fs";

/**
 * Parse the command line (exit 64 on a bad option), answer --help, re-render a saved report (--render
 * FILE), or refuse to run without root (exit 77; `rootReason` says what needs it).
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
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${name}: must run as root (${rootReason})\n`);
    return { exit: 77 };
  }
  return { opts };
}
