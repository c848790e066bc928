import { debianError } from "./errors.js";

/**
 * deb822: the control-file format of Debian (debian/control, .dsc, .changes, Packages, Sources, Release,
 * .sources). A file is a list of paragraphs separated by blank lines; a paragraph is an ordered list of
 * `Name: value` fields whose values may continue on lines that start with a space or tab.
 *
 * Values are exposed the way dpkg reads them: the first line without its leading white space, each
 * continuation line without its first white-space character, joined with "\n". Fields that were not
 * changed keep their exact source text, so parse + format round-trips a real file byte for byte.
 */

export interface ParseOptions {
  /** Name shown in errors (a file path or URL). */
  source?: string;
  /** Allow `#` comment lines (debian/control, .sources); they are kept for round-trip. */
  comments?: boolean;
  /** Lines longer than this are rejected rather than buffered without end. Default 16 MiB. */
  maxLineLength?: number;
}

interface Field {
  name: string;
  value: string;
  /** The exact source lines of the field (and any comments just before it), or undefined once changed. */
  raw: string | undefined;
}

const DEFAULT_MAX_LINE = 16 * 1024 * 1024;

export class Paragraph {
  readonly #fields: Field[] = [];
  readonly #index = new Map<string, Field>();
  /** 1-based line of the paragraph's first field in its source, when parsed. */
  line: number | undefined;
  /** Comments after the last field (kept for round-trip). */
  trailer = "";

  constructor(fields?: Iterable<readonly [string, string]> | Readonly<Record<string, string | undefined>>) {
    if (fields === undefined) return;
    const entries = Symbol.iterator in Object(fields) ? (fields as Iterable<readonly [string, string]>) : Object.entries(fields);
    for (const [name, value] of entries) if (value !== undefined) this.set(name, value);
  }

  get(name: string): string | undefined {
    return this.#index.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.#index.has(name.toLowerCase());
  }

  /** The value, or a DEB822_MISSING_FIELD error naming the paragraph's line. */
  require(name: string, source?: string): string {
    const value = this.get(name);
    if (value === undefined) {
      const where = `${source ?? "input"}${this.line === undefined ? "" : `:${this.line}`}`;
      throw debianError("DEB822_MISSING_FIELD", `${where}: paragraph has no ${name} field`, {
        details: { source, line: this.line, field: name },
      });
    }
    return value;
  }

  /** Set a field; an existing field keeps its position and its original spelling of the name. */
  set(name: string, value: string): this {
    validateFieldName(name);
    const existing = this.#index.get(name.toLowerCase());
    if (existing) {
      if (existing.value !== value) {
        existing.value = value;
        existing.raw = undefined;
      }
    } else {
      const field: Field = { name, value, raw: undefined };
      this.#fields.push(field);
      this.#index.set(name.toLowerCase(), field);
    }
    return this;
  }

  delete(name: string): boolean {
    const field = this.#index.get(name.toLowerCase());
    if (!field) return false;
    this.#index.delete(name.toLowerCase());
    this.#fields.splice(this.#fields.indexOf(field), 1);
    return true;
  }

  names(): string[] {
    return this.#fields.map((f) => f.name);
  }

  entries(): Array<[string, string]> {
    return this.#fields.map((f) => [f.name, f.value]);
  }

  get size(): number {
    return this.#fields.length;
  }

  /** Non-empty lines of a multi-line field such as Files or Checksums-Sha256 (the first line is usually empty). */
  lines(name: string): string[] {
    const value = this.get(name);
    if (value === undefined) return [];
    return value
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
  }

  /** @internal used by the parser to keep the exact text; false when the field is a duplicate. */
  addParsed(name: string, value: string, raw: string): boolean {
    const key = name.toLowerCase();
    if (this.#index.has(key)) return false;
    const field: Field = { name, value, raw };
    this.#fields.push(field);
    this.#index.set(key, field);
    return true;
  }

  toString(): string {
    let out = "";
    for (const field of this.#fields) out += field.raw ?? formatField(field.name, field.value);
    return out + this.trailer;
  }

  toObject(): Record<string, string> {
    return Object.fromEntries(this.entries());
  }
}

function validateFieldName(name: string): void {
  // Policy 5.1: US-ASCII, no control characters, no space, no colon, not starting with # or -.
  if (!/^[!-9;-~]+$/.test(name) || name.startsWith("#") || name.startsWith("-")) {
    throw debianError("DEB822_SYNTAX", `invalid field name ${JSON.stringify(name)}`);
  }
}

/** Render one field: multi-line values get a leading space per continuation line, empty lines become " .". */
export function formatField(name: string, value: string): string {
  const [first = "", ...rest] = value.split("\n");
  let out = first === "" ? `${name}:` : `${name}: ${first}`;
  for (const line of rest) out += `\n ${line === "" ? "." : line}`;
  return `${out}\n`;
}

/** Parse a whole deb822 text into paragraphs. */
export function parseDeb822(text: string, options: ParseOptions = {}): Paragraph[] {
  return [...iterateDeb822(text, options)];
}

/** Parse exactly one paragraph (debian/control's source stanza, a .dsc, a .changes). */
export function parseDeb822Single(text: string, options: ParseOptions = {}): Paragraph {
  const paragraphs = parseDeb822(text, options);
  if (paragraphs.length !== 1) {
    throw debianError("DEB822_SYNTAX", `${options.source ?? "input"}: expected one paragraph, found ${paragraphs.length}`);
  }
  return paragraphs[0]!;
}

/**
 * Parse paragraph by paragraph; a Packages index of 60k stanzas is read without building a list.
 * Separators between paragraphs (blank or white-space-only lines) are normalised on output to one
 * empty line; everything inside a paragraph round-trips exactly.
 */
export function* iterateDeb822(text: string, options: ParseOptions = {}): Generator<Paragraph> {
  const source = options.source ?? "input";
  const maxLine = options.maxLineLength ?? DEFAULT_MAX_LINE;
  const fail = (line: number, why: string): never => {
    throw debianError("DEB822_SYNTAX", `${source}:${line}: ${why}`, { details: { source, line } });
  };
  let paragraph: Paragraph | undefined;
  let name = "";
  let value = "";
  let raw = "";
  let pendingComments = "";
  let lineNo = 0;
  let pos = 0;
  let fieldLine = 0;
  const flushField = () => {
    if (name !== "" && !paragraph!.addParsed(name, value, raw)) fail(fieldLine, `duplicate field ${name}`);
    name = "";
    value = "";
    raw = "";
  };
  const length = text.length;
  while (pos < length) {
    let end = text.indexOf("\n", pos);
    if (end === -1) end = length;
    lineNo++;
    if (end - pos > maxLine) {
      throw debianError("DEB822_TOO_LARGE", `${source}:${lineNo}: line longer than ${maxLine} characters`, {
        details: { source, line: lineNo },
      });
    }
    let line = text.slice(pos, end);
    const rawLine = `${line}\n`;
    pos = end + 1;
    if (line.endsWith("\r")) line = line.slice(0, -1);

    const first = line.charCodeAt(0);
    const isSpace = first === 32 || first === 9;
    if (line.length === 0 || (isSpace && line.trim() === "")) {
      // paragraph separator
      if (paragraph) {
        flushField();
        paragraph.trailer = pendingComments;
        pendingComments = "";
        yield paragraph;
        paragraph = undefined;
      }
      continue;
    }
    if (first === 35 /* # */) {
      if (!options.comments) fail(lineNo, "comment lines are not allowed in this file");
      if (name !== "") {
        // a comment inside a multi-line value belongs to the field's raw text but not to its value
        raw += rawLine;
      } else pendingComments += rawLine;
      continue;
    }
    if (isSpace) {
      if (name === "") fail(lineNo, "continuation line outside a field (does a field line before it lack its name?)");
      const content = line.slice(1);
      value += `\n${content === "." ? "" : content}`;
      raw += rawLine;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) fail(lineNo, `expected "Field: value", got ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line)}`);
    if (paragraph === undefined) {
      paragraph = new Paragraph();
      paragraph.line = lineNo;
    } else flushField();
    name = line.slice(0, colon);
    fieldLine = lineNo;
    if (name.charCodeAt(0) === 45 /* - */ || name.includes(" ") || name.includes("\t"))
      fail(lineNo, `invalid field name ${JSON.stringify(name)}`);
    value = line.slice(colon + 1).trim();
    raw = pendingComments + rawLine;
    pendingComments = "";
  }
  if (paragraph) {
    flushField();
    paragraph.trailer = pendingComments;
    yield paragraph;
  }
}

/** Render paragraphs as a deb822 file, separated by one blank line. */
export function formatDeb822(paragraphs: Iterable<Paragraph>): string {
  const parts: string[] = [];
  for (const p of paragraphs) parts.push(p.toString());
  return parts.join("\n");
}
