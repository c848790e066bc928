import { readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatFieldPath, isCodedError, parseYamlWithSchema } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { parse as parseYaml } from "yaml";
import { debMockError } from "./errors.js";
import { type Profile, type ProfileLayer, profileLayerSchema, profileSchema } from "./profile-schema.js";

export const DEFAULT_PROFILE = "debian-trixie-amd64";
const SITE_DEFAULTS = "site-defaults";

/** The profiles shipped with deb-mock (packages/deb-mock/profiles/), found from src/ or dist/. */
export const shippedProfileDir = fileURLToPath(new URL("../profiles/", import.meta.url));

export interface ProfileOptions {
  /** Configuration directories, lowest precedence first. Default: shipped, /etc/deb-mock, XDG user config. */
  configDirs?: readonly string[];
  /** `KEY=VALUE` overrides (dotted keys, YAML values), applied last. */
  configOpts?: readonly string[];
}

/** shipped, then /etc/deb-mock, then $XDG_CONFIG_HOME/deb-mock (default ~/.config/deb-mock). */
export function defaultConfigDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME?.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), ".config");
  return [shippedProfileDir, "/etc/deb-mock", join(xdg, "deb-mock")];
}

interface Layer {
  file: string;
  value: ProfileLayer;
}

async function readLayer(file: string): Promise<Layer | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  // validated for its error messages (file, field path, line); merged raw so defaults do not leak between layers
  parseYamlWithSchema(text, profileLayerSchema, file);
  return { file, value: (parseYaml(text) ?? {}) as ProfileLayer };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
export function mergeLayers(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeLayers(prev, value) : value;
  }
  return out;
}

/**
 * `--config-opt KEY=VALUE` to a layer: KEY is a dotted field path (`cache.indexMaxAge`), VALUE is read as
 * YAML (`true`, `4`, `[a, b]`, `null`, or a plain string).
 */
export function parseConfigOpts(opts: readonly string[]): ProfileLayer {
  let layer: Record<string, unknown> = {};
  for (const opt of opts) {
    const eq = opt.indexOf("=");
    if (eq <= 0) throw debMockError("CONFIG_OPT_INVALID", `--config-opt ${opt}: expected KEY=VALUE, for example network=true`);
    const key = opt.slice(0, eq);
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(key)) {
      throw debMockError("CONFIG_OPT_INVALID", `--config-opt ${opt}: '${key}' is not a field path such as cache.root`);
    }
    let value: unknown;
    try {
      value = parseYaml(opt.slice(eq + 1));
    } catch {
      value = opt.slice(eq + 1);
    }
    const nested = key
      .split(".")
      .reverse()
      .reduce<unknown>((acc, part) => ({ [part]: acc }), value) as Record<string, unknown>;
    layer = mergeLayers(layer, nested);
  }
  const result = profileLayerSchema.safeParse(layer);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = formatFieldPath(issue.path);
    throw debMockError("CONFIG_OPT_INVALID", `--config-opt ${field || "(top level)"}: ${issue.message}`, {
      details: { field, issues: result.error.issues.map((i) => ({ field: formatFieldPath(i.path), message: i.message })) },
    });
  }
  return layer as ProfileLayer;
}

export interface LoadedProfile {
  profile: Profile;
  /** The files that contributed, lowest precedence first (plus "--config-opt" when given). */
  sources: string[];
}

/** The shipped cache root: root's. */
const SYSTEM_CACHE_ROOT = "/var/cache/deb-mock";

/**
 * An ordinary user's cache lives in $XDG_CACHE_HOME/deb-mock (default ~/.cache/deb-mock) unless a layer
 * names another root than the shipped one: its bases belong to its own id range.
 */
function userCacheRoot(merged: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const cache = merged.cache as Record<string, unknown> | undefined;
  if (process.getuid?.() === 0 || cache?.root !== SYSTEM_CACHE_ROOT) return merged;
  const xdg = env.XDG_CACHE_HOME?.startsWith("/") ? env.XDG_CACHE_HOME : join(env.HOME ?? homedir(), ".cache");
  return { ...merged, cache: { ...cache, root: join(xdg, "deb-mock") } };
}

/** Load a profile: each configuration directory's site-defaults.yaml then NAME.yaml, then --config-opt. */
export async function loadProfile(name: string = DEFAULT_PROFILE, options: ProfileOptions = {}): Promise<LoadedProfile> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name === SITE_DEFAULTS) {
    throw debMockError("PROFILE_NOT_FOUND", `'${name}' is not a profile name`, { hint: "see 'deb-mock list-profiles'" });
  }
  const dirs = options.configDirs ?? defaultConfigDirs();
  let merged: Record<string, unknown> = {};
  const sources: string[] = [];
  let found = false;
  for (const dir of dirs) {
    for (const base of [SITE_DEFAULTS, name]) {
      const layer = await readLayer(join(dir, `${base}.yaml`));
      if (!layer) continue;
      if (base === name) found = true;
      merged = mergeLayers(merged, layer.value as Record<string, unknown>);
      sources.push(layer.file);
    }
  }
  if (!found) {
    throw debMockError("PROFILE_NOT_FOUND", `no profile '${name}' in ${dirs.join(", ")}`, { hint: "see 'deb-mock list-profiles'" });
  }
  if (options.configOpts?.length) {
    merged = mergeLayers(merged, parseConfigOpts(options.configOpts) as Record<string, unknown>);
    sources.push("--config-opt");
  }
  const result = profileSchema.safeParse({ ...userCacheRoot(merged), name });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = formatFieldPath(issue.path);
    throw debMockError("PROFILE_INVALID", `profile ${name} (from ${sources.join(", ")}): ${field || "(top level)"}: ${issue.message}`, {
      details: { profile: name, field, sources },
    });
  }
  return { profile: result.data, sources };
}

export interface ProfileSummary {
  name: string;
  description: string;
  suite: string;
  architecture: string;
  sources: string[];
}

/** Every profile defined in any configuration directory, sorted by name. */
export async function listProfiles(options: Omit<ProfileOptions, "configOpts"> = {}): Promise<ProfileSummary[]> {
  const dirs = options.configDirs ?? defaultConfigDirs();
  const names = new Set<string>();
  for (const dir of dirs) {
    try {
      for (const entry of await readdir(dir)) {
        if (entry.endsWith(".yaml") && entry !== `${SITE_DEFAULTS}.yaml`) names.add(entry.slice(0, -".yaml".length));
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const out: ProfileSummary[] = [];
  for (const name of [...names].sort()) {
    const { profile, sources } = await loadProfile(name, { configDirs: dirs });
    out.push({ name, description: profile.description, suite: profile.suite, architecture: profile.architecture, sources });
  }
  return out;
}

/** The profile's mirror, or the host's Debian mirror when the profile leaves it unset. */
export async function resolveMirror(profile: Profile): Promise<string> {
  if (profile.mirror) return profile.mirror.replace(/\/+$/, "");
  try {
    return await defaultMirror();
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw debMockError("PROFILE_INVALID", `profile ${profile.name}: no mirror set and the host's APT sources could not be read`, {
      cause: error,
    });
  }
}
