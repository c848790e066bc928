// Test support (not shipped): turns `dpkg-deb -c` output (GNU tar's verbose listing) and our TarEntry
// objects into the same comparable shape.
import type { TarEntry } from "../tar-reader.js";

export interface ListingLine {
  mode: string;
  owner: string;
  size: string;
  date: string;
  path: string;
  link?: string;
}

/** Undo GNU tar's default "escape" quoting of names (backslash escapes and octal bytes). */
function unquote(text: string): string {
  if (!text.includes("\\")) return text;
  const bytes: number[] = [];
  const raw = Buffer.from(text, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x5c) {
      bytes.push(c);
      continue;
    }
    const next = String.fromCharCode(raw[i + 1] ?? 0);
    const simple: Record<string, number> = { "\\": 0x5c, n: 10, t: 9, f: 12, b: 8, r: 13, a: 7, v: 11, "?": 0x7f };
    if (/[0-7]/.test(next)) {
      const oct = raw.toString("latin1", i + 1, i + 4);
      bytes.push(Number.parseInt(oct, 8));
      i += 3;
    } else {
      bytes.push(simple[next] ?? raw[i + 1]!);
      i += 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export function parseListing(text: string): ListingLine[] {
  const out: ListingLine[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = /^(\S{10}) (\S+) +(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d) (.*)$/.exec(line);
    if (!m) throw new Error(`unparsable dpkg-deb -c line: ${line}`);
    let rest = m[5]!;
    let link: string | undefined;
    if (m[1]!.startsWith("l")) {
      const at = rest.indexOf(" -> ");
      link = unquote(rest.slice(at + 4));
      rest = rest.slice(0, at);
    } else if (m[1]!.startsWith("h")) {
      const at = rest.indexOf(" link to ");
      link = unquote(rest.slice(at + 9));
      rest = rest.slice(0, at);
    }
    out.push({ mode: m[1]!, owner: m[2]!, size: m[3]!, date: m[4]!, path: unquote(rest), ...(link === undefined ? {} : { link }) });
  }
  return out;
}

const TYPE_CHAR: Record<TarEntry["type"], string> = {
  file: "-",
  hardlink: "h",
  symlink: "l",
  char: "c",
  block: "b",
  directory: "d",
  fifo: "p",
};

function modeString(entry: TarEntry): string {
  const m = entry.mode;
  const bit = (mask: number, ch: string) => (m & mask ? ch : "-");
  const special = (exec: number, flag: number, on: string, off: string) => (m & flag ? (m & exec ? on : off) : bit(exec, "x"));
  return (
    TYPE_CHAR[entry.type] +
    bit(0o400, "r") +
    bit(0o200, "w") +
    special(0o100, 0o4000, "s", "S") +
    bit(0o40, "r") +
    bit(0o20, "w") +
    special(0o10, 0o2000, "s", "S") +
    bit(0o4, "r") +
    bit(0o2, "w") +
    special(0o1, 0o1000, "t", "T")
  );
}

export function entryToListing(entry: TarEntry): ListingLine {
  const date = new Date(entry.mtime * 1000).toISOString();
  const size = entry.type === "char" || entry.type === "block" ? `${entry.devMajor},${entry.devMinor}` : String(entry.size);
  return {
    mode: modeString(entry),
    owner: `${entry.uname || entry.uid}/${entry.gname || entry.gid}`,
    size,
    date: `${date.slice(0, 10)} ${date.slice(11, 16)}`,
    path: entry.path,
    ...(entry.linkTarget === undefined ? {} : { link: entry.linkTarget }),
  };
}
