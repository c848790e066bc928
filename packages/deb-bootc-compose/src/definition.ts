import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, normalize, relative, resolve, sep } from "node:path";
import { formatFieldPath, loadYamlFile, parseYamlWithSchema } from "@debian-bootc/core";
import { z } from "zod";
import { composeError } from "./errors.js";
import { REGISTRY_SCOPE } from "./rootfs/containers-policy.js";
import { didYouMean } from "./suggest.js";

/**
 * Compose definitions: what to compose (name, version, suite, arches, repositories, variants and their
 * packages, kernel, bootloader, files, units, users, scripts, kernel arguments, image naming, outputs),
 * as YAML validated here. Unknown fields are errors that name the closest known field.
 */

type Shape = Record<string, z.ZodType>;

/**
 * An object schema that rejects unknown keys with a "did you mean" hint. The issue's path ends at the
 * unknown key, so the error points at that key's line (z.strictObject points at the parent mapping).
 */
function record<S extends Shape>(shape: S) {
  const known = Object.keys(shape);
  return z
    .looseObject(shape)
    .superRefine(
      (value, ctx) => {
        if (typeof value !== "object" || value === null || Array.isArray(value)) return;
        for (const key of Object.keys(value)) {
          if (!known.includes(key)) {
            ctx.addIssue({
              code: "custom",
              path: [key],
              message: `unknown field "${key}"${didYouMean(key, known)}; known fields: ${known.join(", ")}`,
            });
          }
        }
      },
      { when: () => true },
    )
    .transform((value) => {
      const known = value as Record<string, unknown>;
      return known as z.output<z.ZodObject<S>>;
    });
}

function choiceMessage(values: readonly string[], input: unknown): string {
  const got = typeof input === "string" ? `"${input}"` : typeof input;
  const hint = typeof input === "string" ? didYouMean(input, values) : "";
  return `expected one of ${values.join(", ")}; got ${got}${hint}`;
}

/** A string enum whose error lists the choices and the closest one. */
function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (issue) => choiceMessage(values, issue.input) });
}

const nameText = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, "expected a name of letters, digits, '.', '_', '+' and '-'");
const versionText = z
  .string({ error: (issue) => (issue.input === undefined ? "required" : 'expected a string; quote numeric versions ("13.1", not 13.1)') })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/, "expected a version of letters, digits and . _ + ~ -");
export const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/, "expected a Debian package name such as systemd");
const suiteName = z.string().regex(/^[a-z][a-z0-9.-]*$/, "expected a suite or codename such as trixie");
export const DEBIAN_ARCHES = ["amd64", "arm64", "armel", "armhf", "i386", "ppc64el", "riscv64", "s390x", "loong64"] as const;
const component = z.string().regex(/^[a-z][a-z0-9/-]*$/, "expected a component such as main");
const uri = z.string().regex(/^(https?|file):\/\/\S+$/, "expected an http(s):// or file:// URI");
const absolutePath = z.string().regex(/^\/\S*$/, "expected an absolute path such as /usr/lib/motd");
/** A path inside the image: absolute, and no . or .. component that could climb out of where it says. */
const imagePath = absolutePath.refine((p) => !p.split("/").some((c) => c === "." || c === ".."), {
  message: "expected an absolute path without . or .. components, such as /usr/lib/motd",
});
const unitName = z
  .string()
  .regex(
    /^[\w@.:\\-]+\.(service|socket|target|timer|path|mount|automount|swap|slice|device|scope)$/,
    "expected a systemd unit name such as sshd.service",
  )
  // it reaches systemctl's command line: "-Hhost.service" would be an option (only the root's -.mount and -.slice start with -)
  .refine((n) => !n.startsWith("-") || /^-\.(mount|slice)$/.test(n), { message: "expected a systemd unit name, not an option" });
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "expected a user or group name such as admin");
const octalMode = z.string().regex(/^0?[0-7]{3,4}$/, 'expected an octal mode as a string, such as "0644"');
const id = z.number().int().min(0).max(4294967294);

/** An ostree ref with the placeholders {name} {version} {arch} {variant}. */
// ostree's own ref syntax: the ref reaches ostree's command line, so it may not start with "-" or hold
// spaces (the placeholders' values are validated names, versions and arches)
const ostreeRefTemplate = z
  .string()
  .regex(
    /^([A-Za-z0-9_]|\{(name|version|arch|variant)\})([A-Za-z0-9_.-]|\{(name|version|arch|variant)\})*(\/([A-Za-z0-9_]|\{(name|version|arch|variant)\})([A-Za-z0-9_.-]|\{(name|version|arch|variant)\})*)*$/,
    "expected an ostree ref such as {name}/{version}/{arch}/{variant}: components of letters, digits, '_', '.' and '-' (not first), and the placeholders",
  );
export const UPDATE_MODES = ["off", "stage", "apply"] as const;

export const REPOSITORY_TYPES = ["debian", "apt", "orchestrator"] as const;
export const BOOTLOADERS = ["grub", "systemd-boot", "none"] as const;
export const OUTPUTS = ["ostree", "oci", "ociarchive", "raw", "qcow2", "sbom"] as const;
/** What may fail without failing the compose (FINISHED_INCOMPLETE instead of DOOMED). */
export const DELIVERABLES = ["ociarchive", "raw", "qcow2", "sbom", "boot-test", "push"] as const;
export const BASELINES = ["none", "essential", "apt", "required", "important"] as const;
export const RELEASE_TYPES = ["ga", "updates", "updates-testing", "snapshot", "nightly"] as const;

export const FIRMWARES = ["uefi", "bios", "hybrid"] as const;
export type Bootloader = (typeof BOOTLOADERS)[number];

const loaderList = z.union([choice(BOOTLOADERS), z.array(choice(BOOTLOADERS)).min(1)], {
  error: (issue) => (Array.isArray(issue.input) ? undefined : choiceMessage(BOOTLOADERS, issue.input)),
});
/** The long form: `bootloader: {loader: grub, secureBoot: true, firmware: hybrid}`. */
const bootloaderSettings = record({
  loader: loaderList.default("grub"),
  /**
   * UEFI boots through Debian's signed chain (shim, GRUB, kernel), so Secure Boot can stay on; false: a
   * GRUB made by grub-mkimage at compose time (unsigned: refused by firmware with Secure Boot on).
   */
  secureBoot: z.boolean().optional(),
  /** What the disk images boot on: UEFI, legacy BIOS, or both from one GPT disk. */
  firmware: choice(FIRMWARES).default("hybrid"),
}).refine((b) => !(b.firmware === "bios" && b.secureBoot === true), {
  path: ["secureBoot"],
  message: "Secure Boot is a UEFI feature: with firmware bios there is nothing to sign; choose firmware uefi or hybrid",
});

/** The bootloader settings every consumer reads, whichever form the definition used. */
export interface BootloaderSettings {
  loaders: Bootloader[];
  /** Signed shim + GRUB for UEFI; never true with firmware bios. */
  secureBoot: boolean;
  firmware: (typeof FIRMWARES)[number];
}

/**
 * `bootloader: grub`, a list, or the long form; read as BootloaderSettings. Not a z.union: a union's
 * error would hide which field of the long form is wrong.
 */
const bootloaderField = z
  .unknown()
  .default("grub")
  .transform((value, ctx): BootloaderSettings => {
    const long = typeof value === "object" && value !== null && !Array.isArray(value);
    const parsed = long ? bootloaderSettings.safeParse(value) : loaderList.safeParse(value ?? "grub");
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return normalizeBootloader(parsed.data);
  });

function normalizeBootloader(
  value: Bootloader | Bootloader[] | { loader: Bootloader | Bootloader[]; secureBoot?: boolean; firmware: BootloaderSettings["firmware"] },
): BootloaderSettings {
  const long = typeof value === "object" && !Array.isArray(value) ? value : undefined;
  const loader = long ? long.loader : (value as Bootloader | Bootloader[]);
  const firmware = long?.firmware ?? "hybrid";
  const uefi = firmware !== "bios";
  return {
    loaders: Array.isArray(loader) ? [...loader] : [loader],
    secureBoot: uefi && (long?.secureBoot ?? true),
    firmware,
  };
}

const debianRepository = record({
  type: z.literal("debian"),
  name: nameText.default("debian"),
  /** Default: the host's mirror (from its APT sources), read when the compose runs. */
  mirror: uri.optional(),
  /** Default: the compose's suite and its -updates suite. */
  suites: z.array(suiteName).min(1).optional(),
  components: z.array(component).min(1).default(["main"]),
});
const aptRepository = record({
  type: z.literal("apt"),
  name: nameText,
  uri,
  suites: z.array(suiteName).min(1),
  components: z.array(component).default(["main"]),
  /** An OpenPGP public key file (armored or binary), relative to the definition's directory. */
  key: z.string().min(1, "expected the path of the repository's OpenPGP key"),
});
const orchestratorRepository = record({
  type: z.literal("orchestrator"),
  name: nameText.optional(),
  /** A deb-orchestrator tag whose signed repository the compose uses. */
  tag: nameText,
  /** The hub; default: the build section's hub, else the compose's orchestrator (flags, client configuration, embedded). */
  hub: uri.optional(),
  /** The hub's repository key (relative to the definition); default: the key the hub publishes at /repos/key.asc. */
  key: z.string().min(1).optional(),
});
const repository = z.discriminatedUnion("type", [debianRepository, aptRepository, orchestratorRepository], {
  error: (issue) => {
    const input = issue.input as { type?: unknown } | undefined;
    const type = input && typeof input === "object" ? input.type : undefined;
    if (typeof type === "string")
      return `unknown repository type "${type}"${didYouMean(type, REPOSITORY_TYPES)}; expected one of ${REPOSITORY_TYPES.join(", ")}`;
    return `expected a repository with a type field (${REPOSITORY_TYPES.join(", ")})`;
  },
});

const variant = record({
  description: z.string().optional(),
  /** Another variant whose packages (and excludes) this one starts from. */
  inherits: nameText.optional(),
  packages: z.array(packageName).default([]),
  exclude: z.array(packageName).default([]),
});

const fileToAdd = record({
  dest: imagePath,
  /** A file relative to the definition's directory ... */
  src: z.string().min(1).optional(),
  /** ... or the content inline. */
  content: z.string().optional(),
  mode: octalMode.default("0644"),
  owner: userName.default("root"),
  group: userName.default("root"),
}).refine((f) => (f.src === undefined) !== (f.content === undefined), { message: "give exactly one of src and content" });

const user = record({
  name: userName,
  uid: id.optional(),
  gid: id.optional(),
  groups: z.array(userName).default([]),
  home: imagePath.optional(),
  shell: absolutePath.default("/bin/bash"),
  system: z.boolean().default(false),
  /** A crypt(3) hash (mkpasswd); never a clear-text password. */
  password: z
    .string()
    .regex(/^(\$[a-z0-9]+\$\S+|!|\*)$/, "expected a crypt(3) hash such as $y$..., or ! for a locked account")
    .optional(),
  sshKeys: z.array(z.string().regex(/^(ssh|ecdsa|sk)-\S+ \S+/, "expected an OpenSSH public key line")).default([]),
});
const group = record({ name: userName, gid: id.optional(), system: z.boolean().default(false) });

const postprocess = record({
  name: nameText,
  /** A script file relative to the definition's directory ... */
  script: z.string().min(1).optional(),
  /** ... or an inline shell script; run in the image root, logged under logs/. */
  run: z.string().min(1).optional(),
}).refine((p) => (p.script === undefined) !== (p.run === undefined), { message: "give exactly one of script and run" });

const failable = z.union(
  [
    choice(DELIVERABLES),
    record({
      deliverable: choice(DELIVERABLES),
      variants: z.array(nameText).optional(),
      arches: z.array(choice(DEBIAN_ARCHES)).optional(),
    }),
  ],
  { error: (issue) => (typeof issue.input === "string" ? choiceMessage(DELIVERABLES, issue.input) : undefined) },
);

const sourceToBuild = record({
  /** A source tree with a debian/ folder, relative to the definition's directory (packed with dpkg-source -b) ... */
  path: z.string().min(1).optional(),
  /** ... or a .dsc: a path relative to the definition, or an http(s):// URL (its files beside it) ... */
  dsc: z.string().min(1).optional(),
  /**
   * ... or, alone, a source package from the archive's deb-src (the compose's suite on the definition's
   * Debian mirror). With path or dsc: the source name they must have.
   */
  name: packageName.optional(),
  /** With name alone: this version instead of the suite's highest. */
  version: versionText.optional(),
})
  .refine(
    (s) =>
      [s.path, s.dsc].filter((x) => x !== undefined).length +
        (s.path === undefined && s.dsc === undefined && s.name !== undefined ? 1 : 0) ===
      1,
    {
      message: "give exactly one of path (a source tree), dsc (a .dsc path or URL) or name (a source package of the archive)",
    },
  )
  .refine((s) => s.version === undefined || (s.path === undefined && s.dsc === undefined), {
    message: "version goes with name alone (a source package of the archive); a tree's or .dsc's version is its own",
  });

export const ON_INTERRUPT = ["cancel", "leave"] as const;

export const definitionSchema = record({
  name: nameText,
  version: versionText,
  release: record({ type: choice(RELEASE_TYPES).default("ga"), short: nameText.optional() }).default({ type: "ga" }),
  description: z.string().optional(),
  suite: suiteName.default("trixie"),
  arches: z.array(choice(DEBIAN_ARCHES)).min(1).default(["amd64"]),
  repositories: z
    .array(repository)
    .min(1)
    .default([{ type: "debian", name: "debian", components: ["main"] }]),
  /** Install Recommends of the listed packages (default: no, as images should be minimal). */
  recommends: z.boolean().default(false),
  /**
   * What every image gets besides its packages, as mmdebstrap's variant of the same name installs it:
   * essential (Essential: yes), apt (+ apt), required (+ Priority: required), important (+ Priority:
   * important), none.
   */
  baseline: choice(BASELINES).default("required"),
  packages: z.array(packageName).default([]),
  exclude: z.array(packageName).default([]),
  variants: z.record(nameText, variant).default({ minimal: { packages: [], exclude: [] } }),
  kernel: record({
    /** Default: linux-image-<arch>. */
    package: packageName.optional(),
    initramfs: choice(["dracut"] as const).default("dracut"),
  }).default({ initramfs: "dracut" }),
  bootloader: bootloaderField,
  files: z.array(fileToAdd).default([]),
  units: record({
    enable: z.array(unitName).default([]),
    disable: z.array(unitName).default([]),
    mask: z.array(unitName).default([]),
  }).default({ enable: [], disable: [], mask: [] }),
  users: z.array(user).default([]),
  groups: z.array(group).default([]),
  postprocess: z.array(postprocess).default([]),
  kargs: z.array(z.string().regex(/^\S+$/, "expected one kernel argument without spaces")).default([]),
  image: record({
    /** Image name, e.g. debian-bootc; the tag defaults to the version. */
    name: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, "expected an image name such as debian/bootc"),
    tag: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "expected an image tag")
      .optional(),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
    maxLayers: z.number().int().min(1).max(127).default(64),
    compression: choice(["gzip", "none"] as const).default("gzip"),
  }).optional(),
  ostree: record({
    /** Placeholders {name} {version} {arch} {variant}. */
    ref: ostreeRefTemplate.default("{name}/{version}/{arch}/{variant}"),
  }).default({ ref: "{name}/{version}/{arch}/{variant}" }),
  /**
   * The update channel machines follow: the image carries the remote (url, gpg-verify=true, the key's
   * public half) and its deployments' origin names the ref; `publish` puts the commits there.
   */
  updates: record({
    /** Where the published repository is served (the machines' remote URL). */
    url: uri,
    /** The stable ref machines follow; placeholders {name} {version} {arch} {variant}. */
    ref: ostreeRefTemplate.default("{name}/{arch}/{variant}"),
    /** The remote's name on the machines; default the definition's name. */
    remote: nameText.optional(),
    /** ASCII-armoured OpenPGP secret key that signs commits and summaries; default a key made on first use in the data directory. */
    key: z.string().min(1).optional(),
    /** An update timer in the image: off, stage (pull and deploy for the next boot) or apply (and reboot into it). */
    automatic: choice(UPDATE_MODES).default("off"),
    /** A directory: publish the commits there at the end of every compose (the publish phase). */
    publishTo: absolutePath.optional(),
  }).optional(),
  disk: record({
    size: z
      .string()
      .regex(/^\d+[MGT]$/, "expected a size such as 4G")
      .default("4G"),
    filesystem: choice(["ext4", "xfs"] as const).default("ext4"),
  }).optional(),
  outputs: z.array(choice(OUTPUTS)).min(1).default(["ostree", "oci", "ociarchive"]),
  /** Pushes to registries (--push docker://...) are signed with a sigstore key; see "Signed images" in the docs. */
  push: record({
    /**
     * The registry scope the images come from, host[:port][/namespace]: the images' containers policy
     * requires the signing key for everything under it.
     */
    registry: z
      .string()
      .regex(REGISTRY_SCOPE, "expected a registry scope host[:port][/namespace], such as registry.example/debian")
      .optional(),
    /** An encrypted sigstore private key and its passphrase file (relative to the definition); default: one made on first use beside the composes. */
    signing: record({ key: z.string().min(1), passphraseFile: z.string().min(1) }).optional(),
  }).optional(),
  /**
   * Files on the compose host the definition names (files[].src, postprocess[].script, repository keys,
   * build sources, build.tokenFile) are relative to the definition's folder and stay inside it; true lets
   * them be absolute or lead out of it.
   */
  allowAbsolutePaths: z.boolean().default(false),
  failable: z.array(failable).default([]),
  build: record({
    /** deb-orchestrator hub; default: --hub, DEB_ORCHESTRATOR_HUB, the client configuration, else an embedded hub. */
    hub: uri.optional(),
    /** File holding the API token (relative to the definition); default: --token-file, DEB_ORCHESTRATOR_TOKEN, the client configuration. */
    tokenFile: z.string().min(1).optional(),
    /** The orchestrator target (build tag -> destination tag) to build into; created when missing. */
    target: nameText,
    /** When the target is created: its build tag (default <target>-build) and destination tag (default <target>). */
    buildTag: nameText.optional(),
    destTag: nameText.optional(),
    /** On Ctrl-C: cancel the builds still running (default) or leave them running on the hub. */
    onInterrupt: choice(ON_INTERRUPT).default("cancel"),
    sources: z.array(sourceToBuild).min(1),
  }).optional(),
}).superRefine((def, ctx) => {
  const variants = def.variants as Record<string, { inherits?: string; packages: string[] }>;
  const names = Object.keys(variants);
  for (const [name, v] of Object.entries(variants)) {
    if (v.inherits === undefined) continue;
    if (!(v.inherits in variants)) {
      ctx.addIssue({
        code: "custom",
        path: ["variants", name, "inherits"],
        message: `no variant "${v.inherits}"${didYouMean(v.inherits, names)}; variants: ${names.join(", ")}`,
      });
      continue;
    }
    const seen = [name];
    for (let at: string | undefined = v.inherits; at !== undefined; at = variants[at]?.inherits) {
      if (seen.includes(at)) {
        ctx.addIssue({ code: "custom", path: ["variants", name, "inherits"], message: `inheritance cycle: ${[...seen, at].join(" -> ")}` });
        break;
      }
      seen.push(at);
    }
  }
  def.failable.forEach((f, i) => {
    if (typeof f === "string") return;
    for (const v of f.variants ?? []) {
      if (!(v in variants))
        ctx.addIssue({ code: "custom", path: ["failable", i, "variants"], message: `no variant "${v}"${didYouMean(v, names)}` });
    }
  });
  const outputs = new Set(def.outputs);
  if (def.updates && !outputs.has("ostree"))
    ctx.addIssue({ code: "custom", path: ["updates"], message: "an update channel needs ostree in outputs" });
  if (outputs.has("ociarchive") && !outputs.has("oci"))
    ctx.addIssue({ code: "custom", path: ["outputs"], message: "ociarchive needs oci in outputs too" });
  for (const disk of ["raw", "qcow2"] as const) {
    if (outputs.has(disk) && !outputs.has("ostree"))
      ctx.addIssue({ code: "custom", path: ["outputs"], message: `${disk} needs ostree in outputs too` });
  }
  bootloaderIssues(def.bootloader, def.disk, [...outputs]).forEach(({ path, message }) => {
    ctx.addIssue({ code: "custom", path, message });
  });
  if (!def.allowAbsolutePaths) {
    for (const field of hostPathFields(def)) {
      const problem = hostPathProblem(field.value);
      if (problem) ctx.addIssue({ code: "custom", path: field.path, message: problem });
    }
  }
  const excluded = new Set(def.exclude);
  def.packages.forEach((p, i) => {
    if (excluded.has(p)) ctx.addIssue({ code: "custom", path: ["packages", i], message: `${p} is both in packages and in exclude` });
  });
  const groupNames = new Set([...def.groups.map((g) => g.name)]);
  def.users.forEach((u, i) => {
    u.groups.forEach((g, j) => {
      if (!groupNames.has(g) && !["sudo", "adm", "users", "wheel", "systemd-journal", "video", "audio", "plugdev", "netdev"].includes(g)) {
        ctx.addIssue({
          code: "custom",
          path: ["users", i, "groups", j],
          message: `group "${g}" is neither defined under groups nor a standard Debian group`,
        });
      }
    });
  });
});

/**
 * What the disk images cannot do (yet), refused when the definition is read rather than half-way through a
 * compose, each with its reason.
 */
function bootloaderIssues(
  boot: BootloaderSettings,
  disk: { filesystem: string } | undefined,
  outputs: string[],
): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (!outputs.includes("raw") && !outputs.includes("qcow2")) return issues;
  if (!boot.loaders.includes("grub")) {
    issues.push({
      path: ["bootloader"],
      message:
        "disk images (raw, qcow2) need grub: systemd-boot reads only the FAT EFI partition, while ostree writes its boot entries and kernels " +
        "to /boot on the root filesystem (with symlinks FAT cannot hold) and has no hook to copy them after a deployment; " +
        "list grub (bootloader: [grub, systemd-boot] installs both packages)",
    });
  }
  if (disk?.filesystem === "xfs") {
    issues.push({
      path: ["disk", "filesystem"],
      message:
        "xfs is not supported for disk images: the root filesystem is written from a directory without mounting it (mkfs.ext4 -d), " +
        "while trixie's mkfs.xfs fills a filesystem only from a protofile, which has no hard links (ostree's deployments are hard links into its repository); use ext4",
    });
  }
  return issues;
}

export type ComposeDefinition = z.output<typeof definitionSchema>;
export type RepositoryDefinition = ComposeDefinition["repositories"][number];

export interface LoadedDefinition {
  definition: ComposeDefinition;
  /** The file it came from, and its directory (relative paths in the definition resolve against it). */
  path: string;
  baseDir: string;
}

export function parseDefinition(text: string, path: string): ComposeDefinition {
  return parseYamlWithSchema(text, definitionSchema, path);
}

export async function loadDefinition(path: string): Promise<LoadedDefinition> {
  const definition = await loadYamlFile(path, definitionSchema);
  return { definition, path, baseDir: dirname(resolve(path)) };
}

export interface ResolvedVariant {
  name: string;
  /** Inheritance chain, root first, ending with this variant. */
  chain: string[];
  packages: string[];
  exclude: string[];
}

/**
 * A variant's package request: the definition's common packages, then each ancestor's, then its own,
 * minus every exclude along the way; sorted and unique. The kernel package and the bootloaders' packages
 * (bootPackages) are added.
 */
export function resolveVariant(definition: ComposeDefinition, name: string, arch = definition.arches[0] ?? "amd64"): ResolvedVariant {
  const chain: string[] = [];
  for (let at: string | undefined = name; at !== undefined; at = definition.variants[at]?.inherits) {
    if (chain.includes(at) || definition.variants[at] === undefined) break;
    chain.unshift(at);
  }
  const packages = new Set([...definition.packages, kernelPackage(definition, arch), ...bootPackages(definition, arch)]);
  const exclude = new Set(definition.exclude);
  for (const v of chain) {
    for (const p of definition.variants[v]!.packages) packages.add(p);
    for (const p of definition.variants[v]!.exclude) exclude.add(p);
  }
  for (const p of exclude) packages.delete(p);
  return { name, chain, packages: [...packages].sort(), exclude: [...exclude].sort() };
}

/**
 * Packages the chosen bootloaders need inside the image: GRUB's EFI modules and grub-mkconfig (ostree's
 * grub2 backend calls it), or systemd-boot's EFI binaries.
 */
export function bootPackages(definition: ComposeDefinition, arch: string): string[] {
  const { loaders, secureBoot, firmware } = definition.bootloader;
  const packages: string[] = [];
  if (loaders.includes("grub")) {
    if (firmware !== "bios" && (arch === "amd64" || arch === "arm64")) {
      packages.push(`grub-efi-${arch}-bin`, "grub-common", "grub2-common");
      // Microsoft-signed shim, Debian-signed GRUB (the kernel of linux-image-<arch> is signed already); mokutil comes with shim
      if (secureBoot) packages.push("shim-signed", `grub-efi-${arch}-signed`);
    }
    if (firmware !== "uefi" && (arch === "amd64" || arch === "i386")) packages.push("grub-pc-bin", "grub-common", "grub2-common");
  }
  if (loaders.includes("systemd-boot")) packages.push("systemd-boot-efi");
  // a disk image's root partition grows to the disk it was written to on first boot; every bootable image
  // has it, so that a commit from a compose without disk outputs keeps it for machines installed earlier
  if (loaders.some((l) => l !== "none")) packages.push("systemd-repart");
  return [...new Set(packages)];
}

export function kernelPackage(definition: ComposeDefinition, arch: string): string {
  if (definition.kernel.package) return definition.kernel.package;
  return `linux-image-${arch === "armhf" ? "armmp" : arch === "i386" ? "686-pae" : arch === "ppc64el" ? "powerpc64le" : arch}`;
}

/** The image tag for a definition (image.tag, else the version). */
export function imageReference(definition: ComposeDefinition): { name: string; tag: string } {
  return { name: definition.image?.name ?? definition.name.toLowerCase(), tag: definition.image?.tag ?? definition.version };
}

type HostPathShape = Pick<ComposeDefinition, "files" | "postprocess" | "repositories" | "build" | "push" | "updates">;

/** The fields naming files on the compose host, with their field paths (URLs of .dscs left out). */
function hostPathFields(definition: HostPathShape): Array<{ path: Array<string | number>; value: string }> {
  const fields: Array<{ path: Array<string | number>; value: string }> = [];
  definition.files.forEach((f, i) => {
    if (f.src !== undefined) fields.push({ path: ["files", i, "src"], value: f.src });
  });
  definition.postprocess.forEach((p, i) => {
    if (p.script !== undefined) fields.push({ path: ["postprocess", i, "script"], value: p.script });
  });
  definition.repositories.forEach((r, i) => {
    if ((r.type === "apt" || r.type === "orchestrator") && r.key !== undefined)
      fields.push({ path: ["repositories", i, "key"], value: r.key });
  });
  definition.build?.sources.forEach((s, i) => {
    if (s.dsc !== undefined && !/^[a-z+]+:\/\//.test(s.dsc)) fields.push({ path: ["build", "sources", i, "dsc"], value: s.dsc });
    if (s.path !== undefined) fields.push({ path: ["build", "sources", i, "path"], value: s.path });
  });
  if (definition.build?.tokenFile !== undefined) fields.push({ path: ["build", "tokenFile"], value: definition.build.tokenFile });
  if (definition.push?.signing) {
    fields.push({ path: ["push", "signing", "key"], value: definition.push.signing.key });
    fields.push({ path: ["push", "signing", "passphraseFile"], value: definition.push.signing.passphraseFile });
  }
  if (definition.updates?.key !== undefined) fields.push({ path: ["updates", "key"], value: definition.updates.key });
  return fields;
}

const ALLOW_HINT = "set allowAbsolutePaths: true in the definition to name files elsewhere on this host";

/** Why a host path is not one of the definition's folder (undefined: it is). */
function hostPathProblem(value: string): string | undefined {
  if (isAbsolute(value)) return `expected a path relative to the definition's folder, got the absolute path ${value} (${ALLOW_HINT})`;
  if (normalize(value).split("/")[0] === "..")
    return `expected a path inside the definition's folder, got ${value}, which leads out of it (${ALLOW_HINT})`;
  return undefined;
}

function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

/**
 * The host file a definition's field names, for reading: resolved against the definition's folder and,
 * unless allowAbsolutePaths, checked to stay inside it also after symlinks (a link in the folder that
 * points elsewhere is refused). A file that does not exist is returned as it is (reading it fails).
 */
export async function hostInputPath(
  definition: Pick<ComposeDefinition, "allowAbsolutePaths">,
  baseDir: string,
  field: string,
  value: string,
): Promise<string> {
  const path = resolve(baseDir, value);
  if (definition.allowAbsolutePaths) return path;
  const problem = hostPathProblem(value);
  if (problem) throw composeError("DEFINITION_INVALID", `${field}: ${problem}`, { details: { field } });
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return path;
  }
  const folder = await realpath(baseDir);
  if (!isInside(folder, real)) {
    throw composeError(
      "DEFINITION_INVALID",
      `${field}: ${value} is a symlink to ${real}, outside the definition's folder ${folder}; expected a file inside it`,
      { details: { field }, hint: ALLOW_HINT },
    );
  }
  return real;
}

/** Files a definition refers to (file sources, scripts, repository keys, sources, the token file), resolved against its directory. */
export function referencedFiles(loaded: LoadedDefinition): Array<{ field: string; path: string }> {
  return hostPathFields(loaded.definition).map((f) => ({ field: formatFieldPath(f.path), path: resolve(loaded.baseDir, f.value) }));
}
