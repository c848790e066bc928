import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { consoleOutput, memoryOutput, renderCliDocs, runCli, stdoutClosedExitCode, type ToolSpec } from "./cli.js";
import { coreError } from "./errors.js";

const tool: ToolSpec = {
  name: "demo",
  version: "1.2.3",
  summary: "A demo tool.",
  commands: [
    {
      name: "greet",
      summary: "Say hello.",
      args: [{ name: "who", description: "whom to greet" }],
      options: [{ flags: "--repo <line>", description: "an extra repository", repeatable: true }],
      async run({ args, options, out, json }) {
        if (json) out.json({ greeted: args[0], repos: options.repo });
        else out.line(`hello ${args[0]}`);
        return 0;
      },
    },
    {
      name: "fail",
      summary: "Fail with a coded error.",
      async run() {
        throw coreError("CONFIG_INVALID", "x.yaml:3: bad", { hint: "fix it" });
      },
    },
  ],
};

describe("runCli", () => {
  it("runs a verb with repeatable options and --json", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["greet", "world", "--repo", "a", "--repo", "b", "--json"], out)).toBe(0);
    expect(JSON.parse(out.text[0]!)).toEqual({ greeted: "world", repos: ["a", "b"] });
  });

  it("maps a coded error to its category's exit code, message and hint", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["fail"], out)).toBe(2);
    expect(out.errors).toEqual(["demo: error: x.yaml:3: bad", "hint: fix it"]);
  });

  it("prints a message's outside text without the escapes and control characters that would drive the terminal", async () => {
    const hostile: ToolSpec = {
      ...tool,
      commands: [
        {
          name: "fail",
          summary: "fails",
          async run() {
            throw coreError("CONFIG_INVALID", "console:\n\x1b]52;c;ZXZpbA==\x07tail\rline\x1b[2J", { hint: "see\x1b[31m log" });
          },
        },
      ],
    };
    const out = memoryOutput();
    expect(await runCli(hostile, ["fail"], out)).toBe(2);
    expect(out.errors).toEqual(["demo: error: console:\ntailline", "hint: see log"]);
  });

  it("reports errors as JSON with --json", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["fail", "--json"], out)).toBe(2);
    expect(JSON.parse(out.text[0]!)).toEqual({ ok: false, error: { code: "CONFIG_INVALID", message: "x.yaml:3: bad", hint: "fix it" } });
  });

  it("treats unknown verbs and missing arguments as usage errors", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["nope"], out)).toBe(2);
    expect(out.errors[0]).toMatch(/^demo: error: unknown command 'nope'/);
    expect(await runCli(tool, ["greet"], memoryOutput())).toBe(2);
  });

  it("stops a running command as Ctrl-C does when standard output's reader goes, and says nothing", async () => {
    const closedPipe = new Writable({
      write: (_chunk, _encoding, done) => done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })),
    }) as unknown as NodeJS.WriteStream;
    const errors: string[] = [];
    const stderr = new Writable({
      write: (chunk, _encoding, done) => done(void errors.push(String(chunk))),
    }) as unknown as NodeJS.WriteStream;
    let sawAbort = false;
    const waiting: ToolSpec = {
      ...tool,
      commands: [
        {
          name: "stream",
          summary: "Print until stopped.",
          async run({ out, signal }) {
            out.line("first");
            await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
            sawAbort = true;
            throw signal.reason;
          },
        },
      ],
    };
    expect(await runCli(waiting, ["stream"], consoleOutput(closedPipe, stderr))).toBe(stdoutClosedExitCode);
    expect(sawAbort).toBe(true);
    expect(errors).toEqual([]);
  });

  it("writes human lines and diagnostics to the terminal as plain text, and JSON as JSON", () => {
    const written: Record<"stdout" | "stderr", string[]> = { stdout: [], stderr: [] };
    const stream = (name: "stdout" | "stderr") =>
      new Writable({ write: (chunk, _encoding, done) => done(void written[name].push(String(chunk))) }) as unknown as NodeJS.WriteStream;
    const out = consoleOutput(stream("stdout"), stream("stderr"));
    // a phase's error with a guest console's tail, as `deb-bootc-compose status` prints it
    out.line("  test  failed: \x1b]52;c;ZXZpbA==\x07boot\rlogin:\x1b[2J\tok");
    out.warn("warning: \x1bcreset");
    out.json({ message: "\x1b[2J" });
    expect(written.stdout).toEqual(["  test  failed: bootlogin:\tok\n", '{\n  "message": "\\u001b[2J"\n}\n']);
    expect(written.stderr).toEqual(["warning: reset\n"]);
  });

  it("renders reference docs from the same data", () => {
    const doc = renderCliDocs(tool);
    expect(doc).toContain("demo greet <who>");
    expect(doc).toContain("`--repo <line>`: an extra repository (repeatable)");
  });
});
