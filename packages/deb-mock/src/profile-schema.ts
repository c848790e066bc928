import { z } from "zod";

/** `30s`, `15m`, `12h`, `7d` (a number with one unit). */
export const durationPattern = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number {
  const match = durationPattern.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

const duration = z.string().regex(durationPattern, "expected a duration such as 30m, 12h or 7d");
// overlayfs option strings and bubblewrap arguments cannot carry these characters safely
const cachePath = z
  .string()
  .regex(/^\/[^\s,:\\]*$/, "expected an absolute path without spaces, commas, colons or backslashes")
  .refine((p) => p.length > 1, "expected a directory below /, not / itself");
const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/, "expected a Debian package name");
const suite = z.string().regex(/^[a-z][a-z0-9.-]*$/, "expected a suite or codename such as trixie");
const architecture = z.string().regex(/^[a-z0-9-]+$/, "expected a Debian architecture such as amd64");
const component = z.string().regex(/^[a-z][a-z0-9/-]*$/, "expected a component such as main");
const mirror = z
  .string()
  .regex(/^(https?|file):\/\/\S+$/, "expected an http(s):// or file:// URI")
  .nullable();
const sourceLine = z
  .string()
  .regex(/^deb(-src)?\s+(\[[^\]]*\]\s+)?\S+\s+\S+(\s+\S+)*$/, "expected a one-line APT source: deb [options] URI SUITE [COMPONENT...]");
const absoluteFile = z.string().regex(/^\/\S+$/, "expected an absolute path");
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,30}$/, "expected a user name such as builder");

const cacheShape = {
  root: cachePath,
  baseMaxAge: duration,
  indexMaxAge: duration,
  lockTimeout: duration,
  buildDepsLayers: z.number().int().min(0, "expected a count: 0 turns build-dependency layers off").max(1000, "expected at most 1000"),
};

const profileShape = {
  description: z.string(),
  suite,
  architecture,
  components: z.array(component).min(1, "expected at least one component"),
  mirror,
  extraSources: z.array(sourceLine),
  extraKeys: z.array(absoluteFile),
  variant: z.enum(["buildd", "minbase", "essential", "apt", "required", "important", "standard"]),
  basePackages: z.array(packageName),
  buildUser: userName,
  buildUid: z.number().int().min(1000, "expected a uid from 1000 to 59999").max(59999, "expected a uid from 1000 to 59999"),
  network: z.boolean(),
  parallel: z.union([z.literal("auto"), z.number().int().min(1, "expected a positive integer or auto")]),
  debBuildOptions: z.array(z.string().regex(/^[a-z0-9_=.,+-]+$/, "expected a DEB_BUILD_OPTIONS word such as nocheck")),
};

/** One layer (a YAML file or the --config-opt set): every field optional, unknown fields rejected. */
export const profileLayerSchema = z.strictObject({
  ...Object.fromEntries(Object.entries(profileShape).map(([k, v]) => [k, v.optional()])),
  cache: z.strictObject(Object.fromEntries(Object.entries(cacheShape).map(([k, v]) => [k, v.optional()]))).optional(),
}) as unknown as z.ZodType<ProfileLayer>;

/** The profile after layering: every field present. */
export const profileSchema = z.strictObject({
  name: z.string(),
  ...profileShape,
  cache: z.strictObject(cacheShape),
});

export type Profile = z.output<typeof profileSchema>;
export type ProfileLayer = { [K in Exclude<keyof Profile, "name" | "cache">]?: Profile[K] } & { cache?: Partial<Profile["cache"]> };
