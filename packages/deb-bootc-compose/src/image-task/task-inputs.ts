import { readdir, readFile } from "node:fs/promises";
import { basename, isAbsolute, join, relative, sep } from "node:path";
import type { ComposeState } from "../compose/compose-state.js";
import { type LoadedDefinition, referencedFiles } from "../definition.js";
import { composeError } from "../errors.js";
import { imageContainersTrust } from "../oci/sign.js";
import { updateSigningKey } from "../publish/signing-key.js";
import type { ImageTrust } from "../rootfs/rootfs-phase.js";
import { type ImageTaskAsks, type ImageTaskState, imageTaskStateOf } from "./task-state.js";

/** A file a task needs: its path in the request (relative, '/'-separated) and where it is on the client. */
export interface TaskInputFile {
  path: string;
  source: string;
}

/** What the client sends for one variant/arch: the request's fields besides compose, and the files behind its lists. */
export interface ImageTaskInputs {
  definitionFile: string;
  definition: string;
  variant: string;
  arch: string;
  snapshot: TaskInputFile[];
  definitionFiles: TaskInputFile[];
  state: ImageTaskState;
}

/** The definition's fields naming files the image phases read (files' sources, postprocess scripts, APT repositories' public keys). */
const IMAGE_TASK_FIELDS = /^(files|postprocess|repositories)\[/;

/**
 * The files of the definition an image task reads, and only those: the build section's source trees are
 * folders the build phase already sent to the hub, and its token file, the update channel's signing key
 * and the push signing key with its passphrase are secrets that never leave the client (the builder gets
 * the public keys in the task's state).
 */
export function imageTaskFiles(loaded: LoadedDefinition): Array<{ field: string; path: string }> {
  return referencedFiles(loaded).filter((ref) => IMAGE_TASK_FIELDS.test(ref.field));
}

/** Every file under dir (through a symbolic link at dir itself), as '/'-separated paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}

/**
 * The snapshot files of a variant's suite: dists/<suite>/ (a link to its current generation, listed under
 * the suite's own name) and the pool. The keys go in the state instead.
 */
async function snapshotFiles(root: string, suite: string): Promise<TaskInputFile[]> {
  const dists = (await filesUnder(join(root, "dists", suite))).map((p) => `dists/${suite}/${p}`);
  const pool = (await filesUnder(join(root, "pool"))).map((p) => `pool/${p}`);
  return [...dists, ...pool].map((path) => ({ path, source: join(root, path) }));
}

/** The public keys the compose's images trust (the update key's and the push key's public halves). */
export async function imageTrustOf(loaded: LoadedDefinition, outputDir: string): Promise<ImageTrust> {
  const { definition, baseDir } = loaded;
  const update = definition.updates ? await updateSigningKey(definition, baseDir) : undefined;
  const containersTrust = await imageContainersTrust(definition, baseDir, outputDir);
  return {
    ...(update ? { updateKey: { publicKey: update.publicKey, fingerprint: update.fingerprint } } : {}),
    ...(containersTrust ? { containersTrust } : {}),
  };
}

/**
 * The inputs of one variant/arch's image task, from the compose after snapshot-repo: the snapshot's files
 * (its keys go in the state), the definition's files relative to its folder, the state (with the previous
 * compose's commit of the variant/arch, when there is one, to chain on).
 */
export async function imageTaskInputs(
  loaded: LoadedDefinition,
  state: ComposeState,
  variant: string,
  arch: string,
  trust: ImageTrust,
  asks: ImageTaskAsks = {},
): Promise<ImageTaskInputs> {
  const snapshot = state.get("snapshot");
  const suite = snapshot.suites[variant];
  if (suite === undefined) throw composeError("PHASE_PREREQUISITE", `the APT snapshot has no suite for variant ${variant}`);
  const definitionFiles = imageTaskFiles(loaded).map((ref) => {
    const path = relative(loaded.baseDir, ref.path);
    if (isAbsolute(path) || path.split(sep).includes(".."))
      throw composeError(
        "DEFINITION_INVALID",
        `${ref.field}: ${ref.path} is outside the definition's folder; an image task on a hub takes files inside it only`,
        {
          details: { field: ref.field },
        },
      );
    return { path: path.split(sep).join("/"), source: ref.path };
  });
  return {
    definitionFile: basename(loaded.path),
    definition: await readFile(loaded.path, "utf8"),
    variant,
    arch,
    snapshot: await snapshotFiles(snapshot.path, suite),
    definitionFiles: [...new Map(definitionFiles.map((f) => [f.path, f])).values()],
    state: await imageTaskStateOf(state, variant, arch, trust, asks),
  };
}
