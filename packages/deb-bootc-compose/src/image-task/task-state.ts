import { createPublicKey } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { dearmor } from "@debian-bootc/debian";
import { z } from "zod";
import { ComposeState, type SnapshotState } from "../compose/compose-state.js";
import { composeError } from "../errors.js";
import { REGISTRY_SCOPE } from "../rootfs/containers-policy.js";
import type { ImageTrust } from "../rootfs/rootfs-phase.js";

/**
 * The `state` of a composeImage request: what the image phases of one variant/arch need from the client's
 * compose (its APT snapshot's suite, key and package set, the public keys the image trusts). It comes
 * through the hub as opaque JSON, so every value is checked here before it becomes an APT source line, an
 * mmdebstrap argument or a file: names by Debian's own rules, no paths at all (the snapshot's place on the
 * builder is the work directory's, never the request's), no field this schema does not know.
 */

/** A suite, codename or component: letters, digits and . _ + - , starting with a letter or digit. */
const aptName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/, "expected a suite or component name");
const armoredPublicKey = z
  .string()
  .max(256 * 1024)
  .refine((k) => k.trimStart().startsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----"), "expected an ASCII-armoured OpenPGP public key");
const fingerprint = z.string().regex(/^[0-9A-Fa-f]{40}(?:[0-9A-Fa-f]{24})?$/, "expected an OpenPGP fingerprint");

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "expected a SHA256 checksum");

const snapshotPackage = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9+.-]{0,99}$/, "expected a Debian package name"),
  version: z.string().regex(/^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]{0,99}$/, "expected a Debian version"),
  architecture: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "expected a Debian architecture"),
  sha256,
});

/** A PEM public key Node can read (the push key's public half, written into the image's container policy). */
function isPemPublicKey(text: string): boolean {
  if (!text.trimStart().startsWith("-----BEGIN PUBLIC KEY-----")) return false;
  try {
    return createPublicKey(text).type === "public";
  } catch {
    return false;
  }
}

export const imageTaskStateSchema = z.strictObject({
  snapshot: z.strictObject({
    /** The variant's suite in the snapshot (dists/<suite>). */
    suite: aptName,
    components: z.array(aptName).min(1).max(32),
    codename: aptName,
    armoredKey: armoredPublicKey,
    fingerprint,
    mmdebstrapVariant: z.enum(["extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "standard"]),
    /** The variant/arch's resolved set, with the .debs' SHA256s (the tree key of the rootfs cache). */
    packages: z.array(snapshotPackage).min(1).max(20_000),
  }),
  /** The update channel's public key, when the definition has an updates section. */
  updateKey: z.strictObject({ publicKey: armoredPublicKey, fingerprint }).optional(),
  /** push.registry and the public half of the push signing key, when the definition names a registry. */
  containersTrust: z
    .strictObject({
      scope: z.string().max(255).regex(REGISTRY_SCOPE, "expected a registry scope"),
      publicKey: z
        .string()
        .max(64 * 1024)
        .refine(isPemPublicKey, "expected a PEM public key"),
    })
    .optional(),
  /** The previous compose's commit on this variant/arch's ref: the builder's commit records it as its parent. */
  previousCommit: sha256.optional(),
});
export type ImageTaskState = z.infer<typeof imageTaskStateSchema>;

/** The request's state checked against the schema; IMAGE_TASK_STATE_INVALID naming the first bad field. */
export function parseImageTaskState(value: unknown): ImageTaskState {
  const parsed = imageTaskStateSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw composeError("IMAGE_TASK_STATE_INVALID", `request.json: state.${issue.path.join(".")}: ${issue.message}`, {
      details: { field: `state.${issue.path.join(".")}` },
    });
  }
  return parsed.data;
}

/** What the client asks of this run's image task beyond the compose's inputs. */
export type ImageTaskAsks = Pick<ImageTaskState, "previousCommit">;

/**
 * The request's state of one variant/arch, made from the client's compose state after snapshot-repo
 * (the snapshot, the package set's SHA256s from pkgset), the public keys its images trust, and this run's
 * asks: the previous compose's commit to chain on.
 */
export async function imageTaskStateOf(
  state: ComposeState,
  variant: string,
  arch: string,
  trust: ImageTrust,
  asks: ImageTaskAsks = {},
): Promise<ImageTaskState> {
  const snapshot = state.get("snapshot");
  const set = state.get("pkgset").sets[variant]?.[arch];
  const suite = snapshot.suites[variant];
  if (!set || suite === undefined) throw composeError("PHASE_PREREQUISITE", `the compose has no package set for ${variant}/${arch}`);
  return parseImageTaskState({
    snapshot: {
      suite,
      components: snapshot.components,
      codename: snapshot.codename,
      armoredKey: await readFile(snapshot.armoredKey, "utf8"),
      fingerprint: snapshot.fingerprint,
      mmdebstrapVariant: snapshot.mmdebstrapVariant,
      packages: set.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 })),
    },
    ...(trust.updateKey ? { updateKey: { publicKey: trust.updateKey.publicKey, fingerprint: trust.updateKey.fingerprint } } : {}),
    ...(trust.containersTrust ? { containersTrust: trust.containersTrust } : {}),
    ...(asks.previousCommit ? { previousCommit: asks.previousCommit } : {}),
  });
}

/**
 * The compose state the image phases read, seeded from a checked request state: the snapshot at
 * <snapshotDir> (the work directory's copy), its keys written beside it in <keyDir>.
 */
export async function seedImageTaskState(
  taskState: ImageTaskState,
  at: { variant: string; arch: string; snapshotDir: string; keyDir: string },
): Promise<ComposeState> {
  const { snapshot } = taskState;
  const armoredKey = join(at.keyDir, "snapshot-key.asc");
  const keyring = join(at.keyDir, "snapshot-keyring.gpg");
  await writeFile(armoredKey, snapshot.armoredKey);
  const binary = await dearmor(snapshot.armoredKey, "state.snapshot.armoredKey").catch((error: Error) => {
    throw composeError("IMAGE_TASK_STATE_INVALID", `request.json: state.snapshot.armoredKey: ${error.message}`, { cause: error });
  });
  await writeFile(keyring, binary);
  const seeded: SnapshotState = {
    url: pathToFileURL(at.snapshotDir).href,
    path: at.snapshotDir,
    suites: { [at.variant]: snapshot.suite },
    components: snapshot.components,
    codename: snapshot.codename,
    keyring,
    armoredKey,
    fingerprint: snapshot.fingerprint,
    mmdebstrapVariant: snapshot.mmdebstrapVariant,
    packages: { [at.variant]: { [at.arch]: snapshot.packages } },
    lockfile: "",
  };
  const state = new ComposeState();
  state.set("snapshot", seeded);
  return state;
}
