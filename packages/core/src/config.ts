import { readFile } from "node:fs/promises";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { coreError } from "./errors.js";

export interface LoadedYaml<T> {
  value: T;
  path: string;
}

/**
 * Parse YAML text and validate it against a zod schema. Errors name the file, the field path, the
 * line and column of the offending value, and what was expected.
 */
export function parseYamlWithSchema<S extends z.ZodType>(text: string, schema: S, path: string): z.output<S> {
  const lineCounter = new LineCounter();
  // the yaml parser recurses once per nesting level: a hostile file nested thousands deep overflows the
  // stack (or worse, makes V8 run out of memory compiling a regular expression), so it is refused first
  const deep = tooDeepLine(text);
  if (deep !== undefined)
    throw coreError("CONFIG_SYNTAX", `${path}:${deep}:1: the document nests more than ${MAX_NESTING} levels deep`, {
      details: { file: path, line: deep, column: 1 },
    });
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = syntax.linePos?.[0] ?? lineCounter.linePos(Math.min(syntax.pos[0], text.length));
    throw coreError("CONFIG_SYNTAX", `${path}:${pos.line}:${pos.col}: ${syntax.message.split("\n")[0]}`, {
      details: { file: path, line: pos.line, column: pos.col },
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // the yaml library resolves aliases only here, and says what is wrong with a plain Error
    // (an alias to an anchor not set yet, too many aliases: a "billion laughs" document)
    throw coreError("CONFIG_SYNTAX", `${path}: ${(error as Error).message.split("\n")[0]}`, { details: { file: path } });
  }
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const fieldPath = issue.path.map(String);
    // the deepest node that exists, so "missing field" points at its parent mapping
    let node: unknown;
    for (let n = fieldPath.length; n >= 0 && !isNode(node); n--) node = doc.getIn(fieldPath.slice(0, n), true);
    const offset = isNode(node) && node.range ? node.range[0] : undefined;
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    const where = `${path}${pos ? `:${pos.line}:${pos.col}` : ""}`;
    const field = fieldPath.length > 0 ? formatFieldPath(issue.path) : "(top level)";
    return { where, field, message: issue.message, line: pos?.line };
  });
  const first = issues[0];
  const text0 = issues.map((i) => `${i.where}: ${i.field}: ${i.message}`).join("\n");
  throw coreError("CONFIG_INVALID", text0, {
    details: { file: path, field: first?.field, line: first?.line, issues },
  });
}

export async function loadYamlFile<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw coreError("CONFIG_NOT_FOUND", `${path}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  return parseYamlWithSchema(text, schema, path);
}

const MAX_NESTING = 256;

/**
 * The first (1-based) line nested more than MAX_NESTING levels deep, or undefined. An upper bound of the
 * depth: every block level takes at least one column of indentation or a `- `/`? ` indicator, every flow
 * level a bracket (brackets in quoted strings count too: no real configuration comes near the limit).
 */
function tooDeepLine(text: string): number | undefined {
  let flow = 0;
  let line = 1;
  let lineStart = true;
  let block = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = true;
      block = 0;
      continue;
    }
    // space, tab, '-', '?' at the start of a line
    if (lineStart && (c === 32 || c === 9 || c === 45 || c === 63)) block++;
    else lineStart = false;
    if (c === 91 || c === 123) flow++;
    else if (c === 93 || c === 125) flow--;
    if (block + flow > MAX_NESTING) return line;
  }
  return undefined;
}

/** `a.b[2].c`: how a field path reads in an error message. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}
