import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ToolSpec } from "@debian-bootc/core";
import { tool as composeTool } from "@debian-bootc/deb-bootc-compose";
import { tool as mockTool } from "@debian-bootc/deb-mock";
import { tool as orchestratorTool } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, describe, expect, it } from "vitest";

// What a user has after `bash scripts/install` (which builds, then runs scripts/link-commands): the three
// commands on PATH and in node_modules/.bin, so that every example in docs/ runs as written.
const root = join(import.meta.dirname, "..");
const tools: ToolSpec[] = [mockTool, orchestratorTool, composeTool];
const workspaces = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] }).workspaces;
const bins = workspaces.flatMap((ws) => {
  const pkg = JSON.parse(readFileSync(join(root, ws, "package.json"), "utf8")) as { bin?: Record<string, string> };
  return Object.entries(pkg.bin ?? {}).map(([name, file]) => ({ name, file: join(root, ws, file) }));
});
const bindir = mkdtempSync(join(tmpdir(), "link-commands-"));
afterAll(() => rmSync(bindir, { recursive: true, force: true }));

function onPath(command: string, args: string[]) {
  return spawnSync(command, args, { encoding: "utf8", env: { ...process.env, PATH: `${bindir}:${process.env.PATH}` } });
}

/** `tool verb ...` lines of the fenced code blocks in README.md and docs/*.md. */
function documentedCommands(): Array<{ where: string; tool: ToolSpec; words: string[] }> {
  const found: Array<{ where: string; tool: ToolSpec; words: string[] }> = [];
  const pages = [
    "README.md",
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  for (const page of pages) {
    let fenced = false;
    for (const [index, line] of readFileSync(join(root, page), "utf8").split("\n").entries()) {
      if (line.startsWith("```")) fenced = !fenced;
      const words = line
        .replace(/^\s*\$ /, "")
        .trim()
        .split(/\s+/);
      const tool = tools.find((t) => t.name === words[0]);
      if (fenced && tool) found.push({ where: `${page}:${index + 1}`, tool, words: words.slice(1) });
    }
  }
  return found;
}

/** The verb of a command line: the first word that is neither a global option, its value nor a shell variable (`$T` holds options). */
function verbOf(tool: ToolSpec, words: string[]): string | undefined {
  const takesValue = new Set(
    (tool.options ?? []).filter((o) => o.flags.includes("<")).flatMap((o) => o.flags.split(/[ ,]+/).filter((f) => f.startsWith("-"))),
  );
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith("-") && !word.startsWith("$")) return word;
    if (takesValue.has(word)) i++;
  }
  return undefined;
}

describe("the installed commands", () => {
  it("has a built, executable file behind every package's bin, linked by npm into node_modules/.bin", () => {
    expect(bins.map((b) => b.name).sort()).toEqual(tools.map((t) => t.name).sort());
    for (const bin of bins) {
      accessSync(bin.file, constants.X_OK);
      expect(readFileSync(bin.file, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
      expect(realpathSync(join(root, "node_modules", ".bin", bin.name))).toBe(realpathSync(bin.file));
    }
  });

  it("scripts/link-commands puts every command on PATH", () => {
    const linked = spawnSync("bash", [join(root, "scripts", "link-commands"), bindir], { encoding: "utf8" });
    expect(linked.status, linked.stderr).toBe(0);
    for (const tool of tools) {
      const ran = onPath(tool.name, ["--version"]);
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.stdout.trim()).toBe(tool.version);
    }
  });

  it("knows the verb of every command shown in README.md and docs/, and runs its --help from PATH", () => {
    const examples = documentedCommands();
    expect(examples.length).toBeGreaterThan(30);
    const unknown = examples.filter((e) => !e.tool.commands.some((c) => c.name === verbOf(e.tool, e.words)));
    expect(unknown.map((e) => `${e.where}: ${e.tool.name} ${e.words.join(" ")}`)).toEqual([]);
    const verbs = new Set(examples.map((e) => `${e.tool.name} ${verbOf(e.tool, e.words)}`));
    for (const verb of verbs) {
      const [command, name] = verb.split(" ") as [string, string];
      const ran = onPath(command, [name, "--help"]);
      expect(ran.status, `${verb} --help: ${ran.stderr}`).toBe(0);
    }
  });
});
