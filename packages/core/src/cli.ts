import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { CodedError, coreError, type ErrorCategory } from "./errors.js";

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

/** Where a CLI writes: human text to stdout, diagnostics to stderr, JSON documents for --json. */
export interface Output {
  readonly isTTY: boolean;
  line(text: string): void;
  json(value: unknown): void;
  warn(text: string): void;
  error(text: string): void;
}

export function consoleOutput(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const isTTY = stdout.isTTY === true;
  return {
    isTTY,
    line: (text) => stdout.write(`${text}\n`),
    json: (value) => stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    warn: (text) => stderr.write(`${text}\n`),
    error: (text) => stderr.write(`${text}\n`),
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
  program.configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s), outputError: () => {} });
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return exitCode;
  } catch (error) {
    return reportError(tool.name, error, json, out);
  } finally {
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
  runCli(tool, process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${tool.name}: internal error: ${String(error)}\n`);
      process.exitCode = exitCodes.internal;
    },
  );
}
