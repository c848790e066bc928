import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { CodedError, coreError, type ErrorCategory } from "./errors.js";
import { plainText } from "./terminal-text.js";

/** Exit codes shared by the three CLIs, documented in docs/cli.md. */
export const exitCodes: Readonly<Record<ErrorCategory | "ok", number>> = {
  ok: 0,
  "build-failed": 1,
  usage: 2,
  input: 2,
  config: 2,
  "too-large": 2,
  dependencies: 3,
  environment: 4,
  timeout: 4,
  locked: 5,
  conflict: 5,
  "too-many": 5,
  "not-found": 6,
  unauthorized: 7,
  forbidden: 7,
  internal: 70,
  interrupted: 130,
};

/**
 * Exit status when the reader of standard output went away (`... | head -1`): 128 + SIGPIPE, what a shell
 * reports for a Unix tool that SIGPIPE ended, so `set -o pipefail` scripts see the output was cut short.
 */
export const stdoutClosedExitCode = 141;

export interface OptionSpec {
  /** Commander flags, e.g. `-r, --root <profile>` or `--nocheck`. */
  flags: string;
  description: string;
  default?: string | boolean | string[];
  choices?: readonly string[];
  /** The option may be given several times; values collect into an array. */
  repeatable?: boolean;
  env?: string;
}

export interface ArgSpec {
  name: string;
  description: string;
  optional?: boolean;
  variadic?: boolean;
}

export interface CommandContext {
  args: string[];
  options: Record<string, unknown>;
  /** Global options (--json, --verbose) merged with the command's own. */
  json: boolean;
  verbose: boolean;
  out: Output;
  signal: AbortSignal;
}

export interface CommandSpec {
  name: string;
  summary: string;
  description?: string;
  examples?: readonly string[];
  args?: readonly ArgSpec[];
  options?: readonly OptionSpec[];
  /** Returns the exit code (0 when omitted). */
  run(ctx: CommandContext): Promise<number | undefined>;
}

export interface ToolSpec {
  name: string;
  version: string;
  summary: string;
  description?: string;
  options?: readonly OptionSpec[];
  commands: readonly CommandSpec[];
}

/**
 * Where a CLI writes: human text to stdout, diagnostics to stderr, JSON documents for --json. Human text
 * and diagnostics are written as plain text (plainText): they may carry text from outside (a build log's
 * or a guest console's tail, a package's field), which must not drive the terminal.
 */
export interface Output {
  readonly isTTY: boolean;
  line(text: string): void;
  json(value: unknown): void;
  warn(text: string): void;
  error(text: string): void;
  /** Aborted when standard output's reader has gone (EPIPE): the CLI then stops quietly. */
  readonly closed?: AbortSignal;
}

const closedStreams = new WeakMap<NodeJS.WritableStream, AbortController>();

/**
 * The signal that a stream's reader has gone. Node reports a write to a closed pipe as an 'error' event
 * (EPIPE), which crashes the process with a stack trace when nobody listens: listen once per stream, and
 * after that drop what is still written to it.
 */
function readerGone(stream: NodeJS.WritableStream): AbortController {
  const known = closedStreams.get(stream);
  if (known) return known;
  const controller = new AbortController();
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || controller.signal.aborted) controller.abort();
    else throw error;
  });
  closedStreams.set(stream, controller);
  return controller;
}

export function consoleOutput(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const isTTY = stdout.isTTY === true;
  const stdoutGone = readerGone(stdout).signal;
  const stderrGone = readerGone(stderr).signal;
  const write = (stream: NodeJS.WriteStream, gone: AbortSignal, text: string) => {
    if (!gone.aborted) stream.write(text);
  };
  return {
    isTTY,
    closed: stdoutGone,
    line: (text) => write(stdout, stdoutGone, `${plainText(text)}\n`),
    json: (value) => write(stdout, stdoutGone, `${JSON.stringify(value, null, 2)}\n`),
    warn: (text) => write(stderr, stderrGone, `${plainText(text)}\n`),
    error: (text) => write(stderr, stderrGone, `${plainText(text)}\n`),
  };
}

/**
 * An Output that keeps what a CLI run writes: `text` holds standard output's lines (a JSON value as one
 * line of compact JSON), `values` the JSON values as written, `errors` standard error's lines, as plain
 * as consoleOutput writes them. For running a tool's CLI in-process (tests).
 */
export function memoryOutput(): Output & { text: string[]; values: unknown[]; errors: string[] } {
  const text: string[] = [];
  const values: unknown[] = [];
  const errors: string[] = [];
  return {
    isTTY: false,
    text,
    values,
    errors,
    line: (t) => text.push(plainText(t)),
    json: (v) => {
      values.push(v);
      text.push(JSON.stringify(v));
    },
    warn: (t) => errors.push(plainText(t)),
    error: (t) => errors.push(plainText(t)),
  };
}

function addOption(command: Command, spec: OptionSpec): void {
  const option = new Option(spec.flags, spec.description);
  if (spec.choices) option.choices(spec.choices);
  if (spec.env) option.env(spec.env);
  if (spec.repeatable) {
    option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    option.default(spec.default ?? []);
  } else if (spec.default !== undefined) option.default(spec.default);
  command.addOption(option);
}

function argToken(arg: ArgSpec): string {
  const name = `${arg.name}${arg.variadic ? "..." : ""}`;
  return arg.optional ? `[${name}]` : `<${name}>`;
}

export function buildProgram(
  tool: ToolSpec,
  run: (spec: CommandSpec, ctx: Omit<CommandContext, "out" | "signal">) => Promise<void>,
): Command {
  const program = new Command(tool.name)
    .description(tool.description ? `${tool.summary}\n\n${tool.description}` : tool.summary)
    .version(tool.version, "-V, --version")
    .option("--json", "print machine-readable JSON instead of text", false)
    .option("-v, --verbose", "print more detail, including the commands run", false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  for (const spec of tool.options ?? []) addOption(program, spec);
  for (const spec of tool.commands) {
    const command = program
      .command(spec.name)
      .summary(spec.summary)
      .description(spec.description ?? spec.summary);
    for (const arg of spec.args ?? []) command.argument(argToken(arg), arg.description);
    for (const option of spec.options ?? []) addOption(command, option);
    if (spec.examples?.length) command.addHelpText("after", `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join("\n")}\n`);
    command.exitOverride();
    command.action(async (...params: unknown[]) => {
      const cmd = params[params.length - 1] as Command;
      const options = cmd.optsWithGlobals() as Record<string, unknown>;
      const args = cmd.args;
      await run(spec, { args, options, json: options.json === true, verbose: options.verbose === true });
    });
  }
  return program;
}

/**
 * Run a CLI: parse argv, run the command with an AbortSignal wired to SIGINT/SIGTERM, and turn every
 * error into one line (plus hint) on stderr and a documented exit code. This is the one error boundary.
 */
export async function runCli(tool: ToolSpec, argv: readonly string[], out: Output = consoleOutput()): Promise<number> {
  const controller = new AbortController();
  let exitCode = 0;
  // a closed standard output stops the command as Ctrl-C does (it cleans up), without a word
  const onStdoutClosed = () => controller.abort(coreError("INTERRUPTED", "standard output was closed"));
  out.closed?.addEventListener("abort", onStdoutClosed, { once: true });
  let json = argv.includes("--json");
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCodes.interrupted); // a second Ctrl-C means now
    out.warn(`${tool.name}: ${signal} received, stopping and cleaning up (again to force)`);
    controller.abort(coreError("INTERRUPTED", `interrupted by ${signal}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const program = buildProgram(tool, async (spec, ctx) => {
    json = ctx.json;
    const code = await spec.run({ ...ctx, out, signal: controller.signal });
    exitCode = code ?? 0;
  });
  // help and version text end in a newline, which line() adds back
  const chomp = (s: string) => s.replace(/\n$/, "");
  program.configureOutput({ writeOut: (s) => out.line(chomp(s)), writeErr: (s) => out.warn(chomp(s)), outputError: () => {} });
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return out.closed?.aborted ? stdoutClosedExitCode : exitCode;
  } catch (error) {
    if (out.closed?.aborted) return stdoutClosedExitCode;
    return reportError(tool.name, error, json, out);
  } finally {
    out.closed?.removeEventListener("abort", onStdoutClosed);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function reportError(toolName: string, error: unknown, json: boolean, out: Output): number {
  if (error instanceof CommanderError) {
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
    if (error.exitCode === 0) return 0;
    const coded = coreError("USAGE", error.message.replace(/^error: /, ""), { hint: `see '${toolName} --help'` });
    return reportError(toolName, coded, json, out);
  }
  const coded = error instanceof CodedError ? error : coreError("INTERNAL", String((error as Error)?.stack ?? error));
  if (json) out.json({ ok: false, error: coded.toJSON() });
  else {
    out.error(`${toolName}: error: ${coded.message}`);
    if (coded.hint) out.error(`hint: ${coded.hint}`);
  }
  return exitCodes[coded.category];
}

/** docs/cli.md content for a tool, rendered from the same data that drives --help. */
export function renderCliDocs(tool: ToolSpec): string {
  const lines: string[] = [`## ${tool.name}`, "", tool.summary, ""];
  if (tool.description) lines.push(tool.description, "");
  lines.push("Global options: `--json`, `-v, --verbose`, `-V, --version`, `-h, --help`.");
  for (const option of tool.options ?? []) lines.push(`- \`${option.flags}\`: ${option.description}`);
  lines.push("");
  for (const command of tool.commands) {
    const usage = [tool.name, command.name, ...(command.args ?? []).map(argToken)].join(" ");
    lines.push(`### ${tool.name} ${command.name}`, "", "```", usage, "```", "", command.description ?? command.summary, "");
    for (const arg of command.args ?? []) lines.push(`- \`${argToken(arg)}\`: ${arg.description}`);
    for (const option of command.options ?? []) {
      const extra =
        option.default !== undefined && option.default !== false && !(Array.isArray(option.default) && option.default.length === 0)
          ? ` (default: \`${String(option.default)}\`)`
          : "";
      const choices = option.choices ? ` One of: ${option.choices.map((c) => `\`${c}\``).join(", ")}.` : "";
      lines.push(`- \`${option.flags}\`: ${option.description}${choices}${extra}${option.repeatable ? " (repeatable)" : ""}`);
    }
    if (command.examples?.length) lines.push("", "Examples:", "", "```", ...command.examples.map((e) => `$ ${e}`), "```");
    lines.push("");
  }
  return lines.join("\n");
}

/** The version in the package.json next to a module's src/ or dist/ folder. */
export function packageVersion(moduleUrl: string): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", moduleUrl), "utf8")) as { version: string };
  return pkg.version;
}

/** Entry-point helper: run the tool and exit with its code once output is flushed. */
export function main(tool: ToolSpec): void {
  const out = consoleOutput();
  runCli(tool, process.argv.slice(2), out).then(
    (code) => {
      process.exitCode = code;
      // a write that found the pipe closed reports it a moment later, after the command has returned
      setImmediate(() => {
        if (out.closed?.aborted) process.exitCode = stdoutClosedExitCode;
      });
    },
    (error: unknown) => {
      process.stderr.write(`${tool.name}: internal error: ${String(error)}\n`);
      process.exitCode = exitCodes.internal;
    },
  );
}
