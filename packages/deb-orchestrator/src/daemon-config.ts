import { access } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { coreError, formatFieldPath, loadYamlFile, type OptionSpec, type Output } from "@debian-bootc/core";
import { z } from "zod";
import { builderCapabilities } from "./api/tasks.js";
import type { HubOptions } from "./hub/hub.js";
import { defaultLimits } from "./hub/limits.js";

/**
 * The hub's and the builder's configuration files (hub.yaml, builder.yaml): one key per command-line flag,
 * with the flag's name, so that a flag, a key and its documentation say the same thing. A flag wins over
 * the file, the file over the defaults below. The commented files shipped in etc/ list every key.
 */
export type DaemonName = "hub" | "builder";

const hostPort = z
  .string()
  .regex(/^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/, "expected HOST:PORT, e.g. 127.0.0.1:8470")
  .refine((value) => Number(value.slice(value.lastIndexOf(":") + 1)) <= 65535, "expected a port up to 65535");
// flags arrive as strings, YAML gives numbers: accept both, as whole numbers
const count = (min: number) => z.coerce.number().int().min(min);
const positive = () => z.coerce.number().positive();

export const hubConfigSchema = z
  .object({
    db: z.string().min(1).optional().describe("sqlite:PATH or postgres://USER@HOST/DB (default sqlite:DATA/hub.db)"),
    data: z.string().min(1).optional().describe("artifacts, logs, repositories, keys"),
    listen: hostPort.optional().describe("where to listen, HOST:PORT"),
    "public-url": z.url().optional().describe("the URL builders and clients use to reach this hub"),
    lease: count(1).optional().describe("seconds a builder holds a task without a heartbeat"),
    sign: z.boolean().optional().describe("sign the tag repositories with the hub's OpenPGP key"),
    "private-read": z.boolean().optional().describe("require a token for reading the API and the web UI too"),
    "web-private": z.boolean().optional().describe("require a login for the web UI's pages"),
    "max-streams": count(1).optional().describe("event and log streams open at once"),
    "max-streams-per-client": count(1).optional().describe("of which one user (or one address, anonymous) may hold"),
    "upload-quota": positive().optional().describe("MiB of a user's uploads no build uses yet"),
    "upload-grace": positive().optional().describe("hours after which uploads no build uses are removed"),
    "max-task-log": positive().optional().describe("MiB of a task's logs together"),
    "index-cache": z
      .string()
      .min(1)
      .optional()
      .describe("cache of external repositories' package indexes for the dep-wait check (default DATA/index-cache)"),
    ostree: z
      .string()
      .min(1)
      .optional()
      .describe("serve the OSTree repositories published into this directory (deb-bootc-compose publish --to DIR/NAME) at /ostree/NAME/"),
  })
  .strict();

export const builderConfigSchema = z
  .object({
    hub: z.url().optional().describe("the hub's URL"),
    "token-file": z.string().min(1).optional().describe("file holding the builder's API token ('host' permission)"),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected a host name")
      .optional()
      .describe("this builder's name at the hub"),
    arch: z
      .array(z.string().regex(/^[a-z0-9-]+$/, "expected a Debian architecture"))
      .min(1)
      .optional(),
    capability: z.array(z.enum(builderCapabilities)).min(1).optional().describe("what this builder runs: build, image"),
    capacity: count(1).optional().describe("how many tasks run at once"),
    "work-dir": z.string().min(1).optional().describe("scratch space for sources and results"),
    runner: z.enum(["deb-mock", "noop"]).optional(),
    "noop-delay-ms": count(0).optional(),
    "profile-map": z.record(z.string().min(1), z.string().min(1)).optional().describe("deb-mock profile per build tag or architecture"),
    "config-opt": z
      .array(z.string().regex(/^[^=]+=/, "expected KEY=VALUE"))
      .optional()
      .describe("deb-mock profile overrides"),
    grace: count(0).optional().describe("seconds running tasks may finish after SIGTERM"),
    "compose-command": z
      .string()
      .min(1)
      .optional()
      .describe("the program that runs image tasks (`PROGRAM image-task W --json`), a name on PATH or a path"),
    "image-cache-dir": z
      .string()
      .min(1)
      .optional()
      .describe("the compose cache image tasks share (rootfs trees, runroot); default deb-bootc-compose's own"),
  })
  .strict();

export type HubConfig = z.output<typeof hubConfigSchema>;
export type BuilderConfig = z.output<typeof builderConfigSchema>;

export const hubDefaults: Required<Omit<HubConfig, "db" | "public-url" | "index-cache" | "ostree">> = {
  data: "/var/lib/deb-orchestrator",
  listen: "127.0.0.1:8470",
  lease: 60,
  sign: true,
  "private-read": false,
  "web-private": false,
  "max-streams": defaultLimits.maxStreams,
  "max-streams-per-client": defaultLimits.maxStreamsPerClient,
  "upload-quota": defaultLimits.uploadQuotaBytes / 1024 ** 2,
  "upload-grace": defaultLimits.uploadGraceMs / 3_600_000,
  "max-task-log": defaultLimits.maxTaskLogBytes / 1024 ** 2,
};

export const builderDefaults: Required<Omit<BuilderConfig, "hub" | "token-file" | "name" | "image-cache-dir">> = {
  arch: ["amd64"],
  capability: ["build"],
  capacity: 1,
  "work-dir": "/var/tmp/deb-orchestrator-builder",
  runner: "deb-mock",
  "noop-delay-ms": 0,
  "profile-map": {},
  "config-opt": [],
  grace: 300,
  "compose-command": "deb-bootc-compose",
};

export type HubSettings = HubConfig & typeof hubDefaults;
export type BuilderSettings = BuilderConfig & typeof builderDefaults;

const schemas = { hub: hubConfigSchema, builder: builderConfigSchema } as const;

/** Where a daemon's configuration is looked for, first match wins: the XDG user config, then /etc. */
export function daemonConfigPaths(name: DaemonName, env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return [join(xdg, "deb-orchestrator", `${name}.yaml`), `/etc/deb-orchestrator/${name}.yaml`];
}

/** The options of a daemon's verb that are not settings (they choose or check the file). */
export const configFileOptions = (name: DaemonName): OptionSpec[] => [
  {
    flags: "--config-file <file>",
    description: `the ${name}'s configuration (default: the first of ${daemonConfigPaths(name, { XDG_CONFIG_HOME: "~/.config" }).join(", ")} that exists)`,
  },
  { flags: "--check-config", description: "validate the configuration file and the flags, print the settings, and exit", default: false },
];

function camelCase(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The settings given as flags: each key of the schema whose flag was given (commander's camelCase name). */
function flagValues(name: DaemonName, options: Record<string, unknown>): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const key of Object.keys(schemas[name].shape)) {
    const value = options[camelCase(key)];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    given[key] = key === "profile-map" ? profileMapFlags(value as string[]) : value;
  }
  return given;
}

function profileMapFlags(entries: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of entries) {
    const [key, value] = entry.split("=", 2);
    if (!key || !value) throw coreError("USAGE", `--profile-map '${entry}': expected TAG=PROFILE or ARCH=PROFILE`);
    map[key] = value;
  }
  return map;
}

export interface LoadedDaemonConfig<S> {
  /** The configuration file that was read, if any. */
  path?: string;
  settings: S;
}

/**
 * A daemon's settings: the defaults, then the configuration file (the explicit one, else the first of
 * daemonConfigPaths() that exists), then the flags. File errors name the file, line, field and what was
 * expected (core's loader); flag errors name the flag.
 */
export async function loadDaemonConfig<N extends DaemonName>(
  name: N,
  options: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedDaemonConfig<N extends "hub" ? HubSettings : BuilderSettings>> {
  const schema = schemas[name] as z.ZodType<Record<string, unknown>>;
  const explicit = options.configFile as string | undefined;
  let path = explicit;
  if (!path) {
    for (const candidate of daemonConfigPaths(name, env)) {
      if (
        await access(candidate).then(
          () => true,
          () => false,
        )
      ) {
        path = candidate;
        break;
      }
    }
  }
  const fromFile = path ? ((await loadYamlFile(path, schema)) ?? {}) : {};
  const settings = { ...defaultsOf(name), ...fromFile, ...parseFlags(name, options) };
  return { ...(path ? { path } : {}), settings: settings as N extends "hub" ? HubSettings : BuilderSettings };
}

/** The defaults overridden by the flags alone (no file): what `up` runs its builder with. */
export function settingsFromFlags<N extends DaemonName>(
  name: N,
  options: Record<string, unknown>,
): N extends "hub" ? HubSettings : BuilderSettings {
  return { ...defaultsOf(name), ...parseFlags(name, options) } as N extends "hub" ? HubSettings : BuilderSettings;
}

const defaultsOf = (name: DaemonName): Record<string, unknown> => (name === "hub" ? hubDefaults : builderDefaults);

function parseFlags(name: DaemonName, options: Record<string, unknown>): Record<string, unknown> {
  const parsed = (schemas[name] as z.ZodType<Record<string, unknown>>).safeParse(flagValues(name, options));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw coreError("USAGE", `--${formatFieldPath(issue.path)}: ${issue.message}`);
}

/** What --check-config prints: the file read and the effective settings; returns the exit code. */
export function printCheckedConfig(out: Output, json: boolean, path: string | undefined, settings: object): number {
  if (json) out.json({ ok: true, file: path ?? null, settings });
  else {
    out.line(`${path ?? "no configuration file"}: valid`);
    for (const [key, value] of Object.entries(settings)) out.line(`${key}: ${JSON.stringify(value)}`);
  }
  return 0;
}

/** HOST:PORT as the hub listens. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(value);
  if (!match?.[1] || !match[2] || Number(match[2]) > 65535) throw coreError("USAGE", `--listen '${value}': expected HOST:PORT`);
  return { host: match[1].replace(/^\[|\]$/g, ""), port: Number(match[2]) };
}

/** startHub's options from the hub's settings: one line per setting (a new hub option adds one key and one line). */
export function hubOptionsFrom(s: HubSettings): Omit<HubOptions, "publisher" | "logger"> {
  return {
    db: s.db ?? `sqlite:${join(s.data, "hub.db")}`,
    dataDir: s.data,
    ...parseListen(s.listen),
    ...(s["public-url"] ? { publicUrl: s["public-url"] } : {}),
    ...(s["index-cache"] ? { indexCacheDir: s["index-cache"] } : {}),
    ...(s.ostree ? { ostreeDir: resolve(s.ostree) } : {}),
    leaseMs: s.lease * 1000,
    publicRead: !s["private-read"],
    webPublicRead: !s["web-private"],
    limits: {
      maxStreams: s["max-streams"],
      maxStreamsPerClient: s["max-streams-per-client"],
      uploadQuotaBytes: Math.round(s["upload-quota"] * 1024 ** 2),
      uploadGraceMs: Math.round(s["upload-grace"] * 3_600_000),
      maxTaskLogBytes: Math.round(s["max-task-log"] * 1024 ** 2),
    },
  };
}
