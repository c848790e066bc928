import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "@debian-bootc/core";
import { moduleDirHash } from "../code-hash.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { type ComposeDefinition, hostInputPath, resolveVariant } from "../definition.js";
import { type PublicUpdateKey, updateSigningKey } from "../publish/signing-key.js";
import type { InstallPlan } from "./apt-sources.js";
import type { ContainersTrust } from "./containers-policy.js";
import { updateRemoteName } from "./customize.js";
import type { IdShift } from "./image-root.js";
import { DPKG_PATH_FILTERS } from "./rootfs.js";

/**
 * The code that makes a root tree (mmdebstrap's arguments, customize, the kernel and initramfs steps,
 * the ostree layout, the sources.list the image keeps) is this folder: its hash is part of the key, so a
 * tree cached by other code never matches.
 */
export function rootfsCodeHash(): Promise<string> {
  return moduleDirHash(dirname(fileURLToPath(import.meta.url)));
}

/** One .deb of the set, exactly as the gather phase verified it. */
export interface KeyedPackage {
  name: string;
  version: string;
  architecture: string;
  sha256: string;
}

/**
 * Everything that determines a root tree, and nothing else. The compose's name, version, kargs, image,
 * ostree ref, disk, outputs and the repositories the set was resolved from are left out: they do not
 * change the tree (the package set is pinned by SHA256 instead of by where it came from).
 */
export interface TreeKeyInputs {
  /** rootfsCodeHash() */
  code: string;
  /** `mmdebstrap --version` of the host, which installs the set. */
  mmdebstrap: string;
  suite: string;
  arch: string;
  /** mmdebstrap's --variant (the baseline). */
  mmdebstrapVariant: string;
  /** --include, in the order given to mmdebstrap. */
  include: string[];
  /** The resolved set, sorted by name and architecture. */
  packages: KeyedPackage[];
  /** The variant's request (packages and excludes after inheritance). */
  request: { packages: string[]; exclude: string[] };
  recommends: boolean;
  dpkgFilters: string[];
  kernel: ComposeDefinition["kernel"];
  bootloader: string[];
  groups: ComposeDefinition["groups"];
  users: ComposeDefinition["users"];
  /** Files with their content's SHA256 (inline or read from src). */
  files: Array<Omit<ComposeDefinition["files"][number], "content" | "src"> & { sha256: string }>;
  units: ComposeDefinition["units"];
  /** Postprocess steps with their script's SHA256 (inline or read from the file). */
  postprocess: Array<{ name: string; sha256: string }>;
  /** The update channel the image carries (remote, URL, key, timer). */
  updates?: { remote: string; url: string; automatic: string; fingerprint: string };
  /** An explicit SOURCE_DATE_EPOCH (timestamps in the tree); absent when the build uses the current time. */
  sourceDateEpoch?: string;
  /** The subordinate range the tree's owners are shifted by on disk (a tree of another range has other owners). */
  ids?: IdShift;
  /** The registry scope and public key of the image's containers policy (push.registry). */
  containersTrust?: ContainersTrust;
}

export interface TreeKey {
  /** SHA256 of the canonical JSON of the inputs. */
  key: string;
  inputs: TreeKeyInputs;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** JSON with object keys sorted at every level, so the key does not depend on property order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function treeKeyOf(inputs: TreeKeyInputs): TreeKey {
  return { key: sha256(canonicalJson(inputs)), inputs };
}

export interface TreeKeySources {
  definition: ComposeDefinition;
  baseDir: string;
  variant: string;
  arch: string;
  plan: InstallPlan;
  /** The exact set (with SHA256s) the pkgset and gather phases resolved and verified. */
  packages: readonly KeyedPackage[];
  mmdebstrap: string;
  ids?: IdShift;
  env?: NodeJS.ProcessEnv;
  /** The registry and key the image's containers policy names. */
  containersTrust?: ContainersTrust;
  /** The update channel's key the image trusts (default: the definition's update key). */
  updateKey?: PublicUpdateKey;
}

/** The key inputs of a tree: referenced files (files' src, postprocess scripts) are read and hashed. */
export async function treeKeyInputs(s: TreeKeySources): Promise<TreeKeyInputs> {
  const { definition } = s;
  const request = resolveVariant(definition, s.variant, s.arch as ComposeDefinition["arches"][number]);
  const files = [];
  for (const [i, { content, src, ...rest }] of definition.files.entries()) {
    const data =
      content !== undefined ? Buffer.from(content) : await readFile(await hostInputPath(definition, s.baseDir, `files[${i}].src`, src!));
    files.push({ ...rest, sha256: sha256(data) });
  }
  const postprocess = [];
  for (const [i, step] of definition.postprocess.entries()) {
    const script =
      step.run ?? (await readFile(await hostInputPath(definition, s.baseDir, `postprocess[${i}].script`, step.script!), "utf8"));
    postprocess.push({ name: step.name, sha256: sha256(script) });
  }
  const packages = [...s.packages]
    .map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 }))
    .sort((a, b) => (a.name === b.name ? (a.architecture < b.architecture ? -1 : 1) : a.name < b.name ? -1 : 1));
  const epoch = (s.env ?? process.env).SOURCE_DATE_EPOCH;
  return {
    code: await rootfsCodeHash(),
    mmdebstrap: s.mmdebstrap,
    suite: definition.suite,
    arch: s.arch,
    mmdebstrapVariant: s.plan.variant,
    include: [...s.plan.packages],
    packages,
    request: { packages: request.packages, exclude: request.exclude },
    recommends: definition.recommends,
    dpkgFilters: [...DPKG_PATH_FILTERS],
    kernel: definition.kernel,
    bootloader: [...definition.bootloader.loaders],
    groups: definition.groups,
    users: definition.users,
    files,
    units: definition.units,
    postprocess,
    ...(definition.updates
      ? {
          updates: {
            remote: updateRemoteName(definition),
            url: definition.updates.url,
            automatic: definition.updates.automatic,
            fingerprint: (s.updateKey ?? (await updateSigningKey(definition, s.baseDir, s.env))).fingerprint,
          },
        }
      : {}),
    ...(epoch ? { sourceDateEpoch: epoch } : {}),
    ...(s.ids ? { ids: s.ids } : {}),
    ...(s.containersTrust ? { containersTrust: s.containersTrust } : {}),
  };
}

/** The resolved set of a variant/arch from the pkgset phase's state, or undefined when it did not run. */
export function resolvedPackages(ctx: Pick<PhaseContext, "state">, variant: string, arch: string): KeyedPackage[] | undefined {
  const set = ctx.state.find("pkgset")?.sets[variant]?.[arch] ?? ctx.state.find("snapshot")?.packages[variant]?.[arch];
  // a snapshot's set carries its SHA256s only when it came from elsewhere (an image task's state)
  if (!set?.every((p) => p.sha256 !== undefined)) return undefined;
  return set.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256! }));
}

/** The host's mmdebstrap version line (part of the key: it is the tool that installs the set). */
export async function mmdebstrapVersion(signal?: AbortSignal): Promise<string> {
  const result = await run("mmdebstrap", ["--version"], { signal, debianPackage: "mmdebstrap" });
  return result.stdout.trim();
}
