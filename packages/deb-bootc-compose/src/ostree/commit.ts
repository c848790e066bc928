import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, type Logger, run } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import { imageIds, rangeWritableDirectory } from "../rootfs/chroot.js";
import { ImageRoot } from "../rootfs/image-root.js";
import { parseKeyValues, type RunrootOptions, runrootScript } from "./runroot.js";

// $1 repo, $2 ref, $3 tree, $4 previous repo or "", then ostree commit options (--skip-if-unchanged or --parent=).
const COMMIT_SCRIPT = `
repo=$1; ref=$2; tree=$3; prev=$4; shift 4
[ -f "$repo/config" ] || ostree init --repo="$repo" --mode=archive
if [ -n "$prev" ] && ostree rev-parse --repo="$prev" "$ref" >/dev/null 2>&1; then
  ostree pull-local --repo="$repo" "$prev" "$ref"
fi
before=$(ostree rev-parse --repo="$repo" "$ref" 2>/dev/null || true)
ostree commit --repo="$repo" --branch="$ref" --tree=dir="$tree" "$@" >&2
after=$(ostree rev-parse --repo="$repo" "$ref")
ostree summary --repo="$repo" --update >&2
echo "before=$before"
echo "after=$after"
`;

// $1 repo, $2 ref, $3 previous repo, $4 the commit expected there.
const REUSE_SCRIPT = `
repo=$1; ref=$2; prev=$3; expected=$4; verify=$5
[ -f "$repo/config" ] || ostree init --repo="$repo" --mode=archive
have=$(ostree rev-parse --repo="$prev" "$ref" 2>/dev/null || true)
if [ "$have" = "$expected" ]; then
  ostree pull-local $verify --repo="$repo" "$prev" "$ref" >&2
  ostree summary --repo="$repo" --update >&2
fi
echo "previous=$have"
echo "after=$(ostree rev-parse --repo="$repo" "$ref" 2>/dev/null || true)"
`;

const FSCK_SCRIPT = `ostree fsck --repo="$1" >&2 && echo fsck=ok`;

// $1 repo, $2 commit (which must be there): its parent's checksum as the commit object records it ("" for none)
const PARENT_SCRIPT = `ostree rev-parse --repo="$1" "$2" >/dev/null
echo "parent=$(ostree rev-parse --repo="$1" "$2^" 2>/dev/null || true)"`;

export interface CommitOptions {
  /** The root tree (with /etc; it is moved to /usr/etc for the commit and back afterwards). */
  tree: string;
  /** An archive-mode repository (created when missing). */
  repo: string;
  ref: string;
  /** Another repository holding the previous commit of the ref (the last compose's), pulled first. */
  previousRepo?: string;
  subject: string;
  /** String metadata (version, compose ID, ...). */
  metadata: Record<string, string>;
  /** GVariant-text metadata (ostree.bootable=true). */
  variantMetadata?: Record<string, string>;
  /** Further refs the commit is bound to (ostree.ref-binding) besides `ref`: the update channel's. */
  bindRefs?: readonly string[];
  /**
   * The parent by checksum alone, its objects elsewhere (an image task chains on the client's previous
   * commit): ostree records it without reading it, but cannot compare with it, so every tree is committed.
   */
  parent?: string;
  profile?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}

export interface CommitResult {
  commit: string;
  /** The commit the ref pointed to before (the previous compose's), if any. */
  parent?: string;
  /** false: the tree's content equals the previous commit's, which is reused ("no changes"). */
  changed: boolean;
}

/**
 * Commit a tree with the runroot's ostree. /etc becomes /usr/etc for the commit only (renamed in place
 * and renamed back, also on failure). `--skip-if-unchanged` compares the tree's content checksum with
 * the ref's current commit: equal content keeps the old commit and reports changed: false.
 */
export async function commitTree(options: CommitOptions): Promise<CommitResult> {
  const { tree, parent } = options;
  if (parent !== undefined && !/^[0-9a-f]{64}$/.test(parent))
    throw composeError("OSTREE_FAILED", `parent ${JSON.stringify(parent)}: not a commit checksum`);
  const root = new ImageRoot(tree, { ids: await imageIds() });
  if ((await root.kind("usr/etc")) === "directory") {
    throw composeError("OSTREE_FAILED", `${tree}: has both etc and usr/etc; expected a tree with /etc only`);
  }
  if ((await root.kind("etc")) !== "directory") throw composeError("OSTREE_FAILED", `${tree}: no /etc in the tree`);
  await rangeWritableDirectory(options.repo);
  const args = [
    "/repo",
    options.ref,
    "/tree",
    options.previousRepo ? "/previous" : "",
    `--subject=${options.subject}`,
    ...Object.entries(options.metadata).map(([k, v]) => `--add-metadata-string=${k}=${v}`),
    ...Object.entries(options.variantMetadata ?? {}).map(([k, v]) => `--add-metadata=${k}=${v}`),
    ...(options.bindRefs ?? []).map((r) => `--bind-ref=${r}`),
    parent ? `--parent=${parent}` : "--skip-if-unchanged",
  ];
  await root.rename("etc", "usr/etc");
  let out: string;
  try {
    out = await ostreeScript(COMMIT_SCRIPT, args, `ostree commit of ${tree} to ${options.repo} (${options.ref})`, {
      profile: options.profile,
      binds: [
        { source: tree, target: "/tree", readOnly: true },
        { source: options.repo, target: "/repo" },
        ...(options.previousRepo ? [{ source: options.previousRepo, target: "/previous", readOnly: true }] : []),
      ],
      logger: options.logger,
      signal: options.signal,
      onOutput: options.onOutput,
    });
  } finally {
    await root.rename("usr/etc", "etc");
  }
  const kv = parseKeyValues(out);
  const commit = kv.after;
  if (!commit || !/^[0-9a-f]{64}$/.test(commit))
    throw composeError("OSTREE_FAILED", `ostree commit printed no checksum: ${out.slice(0, 500)}`);
  const before = kv.before || undefined;
  return { commit, parent: parent ?? before, changed: before !== commit };
}

export interface ReuseCommitOptions {
  repo: string;
  ref: string;
  /** The previous compose's repository, where `commit` must be the ref's head. */
  previousRepo: string;
  commit: string;
  profile?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  /**
   * The repository came from another host (a builder's upload): never hard-linked, and pull-local checks
   * every object's checksum (--untrusted), so a crafted object cannot land under another's name.
   */
  untrusted?: boolean;
}

/**
 * Take the previous compose's commit of a ref into the repository without committing anything (the
 * tree is the very one that commit was made from): the previous repository linked when it holds just
 * that ref (linkPreviousRepository), else `ostree pull-local` of the ref in a runroot, when its head
 * there is still `commit`. Returns false when it is not (the ref moved or is gone): the caller commits.
 */
export async function reuseCommit(options: ReuseCommitOptions): Promise<boolean> {
  if (!options.untrusted && (await linkPreviousRepository(options))) {
    options.logger?.info({ ref: options.ref, commit: options.commit }, "the previous repository's objects hard-linked: no runroot");
    return true;
  }
  await rangeWritableDirectory(options.repo);
  const out = await ostreeScript(
    REUSE_SCRIPT,
    ["/repo", options.ref, "/previous", options.commit, options.untrusted ? "--untrusted" : ""],
    `ostree pull-local of ${options.ref} from ${options.previousRepo}`,
    {
      profile: options.profile,
      binds: [
        { source: options.repo, target: "/repo" },
        { source: options.previousRepo, target: "/previous", readOnly: true },
      ],
      logger: options.logger,
      signal: options.signal,
      onOutput: options.onOutput,
    },
  );
  return parseKeyValues(out).after === options.commit;
}

/** Every ref file under a repository's refs/ (heads, remotes, mirrors), as paths relative to refs/. */
async function refFiles(repo: string, dir = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(repo, "refs", dir), { withFileTypes: true })) {
    const rel = dir === "" ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...(await refFiles(repo, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * The reuse without a runroot, for the common case: this compose's repository is still empty and the
 * previous one holds the one ref, at the expected commit, and nothing else (no other ref, remote or
 * mirror). Its objects are hard-linked (content-addressed, and ostree never writes one in place), the
 * rest (config, refs, summary) copied; its lock and tmp/ are not taken. The result holds the commit as
 * `pull-local` would make it, plus at most the other objects of the previous repository (the parent commit
 * it had pulled). False, with nothing left behind, when the case does not apply: the caller pulls.
 */
export async function linkPreviousRepository(
  options: Pick<ReuseCommitOptions, "repo" | "ref" | "previousRepo" | "commit" | "signal" | "logger">,
): Promise<boolean> {
  const { repo, ref, previousRepo, commit } = options;
  if (!/^[0-9a-f]{64}$/.test(commit)) return false;
  if ((await readdir(repo).catch(() => [])).length > 0) return false;
  const refs = await refFiles(previousRepo).catch(() => undefined);
  if (refs?.length !== 1 || refs[0] !== `heads/${ref}`) return false;
  const head = await readFile(join(previousRepo, "refs", "heads", ref), "utf8").catch(() => "");
  if (head.trim() !== commit) return false;
  try {
    await mkdir(join(repo, "tmp"), { recursive: true });
    for (const entry of await readdir(previousRepo)) {
      if (entry === ".lock" || entry === "tmp") continue;
      const args = entry === "objects" ? ["-a", "--link"] : ["-a"];
      await run("cp", [...args, "--", join(previousRepo, entry), join(repo, entry)], { signal: options.signal, logger: options.logger });
    }
    return (await readFile(join(repo, "refs", "heads", ref), "utf8")).trim() === commit;
  } catch (error) {
    if (isCodedError(error, "INTERRUPTED")) throw error;
    options.logger?.info({ error: (error as Error).message }, "the previous repository cannot be linked: pulling");
    for (const entry of await readdir(repo).catch(() => [])) await rm(join(repo, entry), { recursive: true, force: true });
    return false;
  }
}

/** An ostree script in a runroot; a failure becomes OSTREE_FAILED naming `what` (an interruption stays one). */
async function ostreeScript(script: string, args: readonly string[], what: string, options: RunrootOptions): Promise<string> {
  try {
    return await runrootScript(script, args, options);
  } catch (error) {
    if (isCodedError(error, "INTERRUPTED")) throw error;
    throw composeError("OSTREE_FAILED", `${what} failed: ${(error as Error).message}`, { cause: error });
  }
}

/** The parent a commit in a repository records (its object need not be there), or undefined for none. */
export async function commitParent(
  repo: string,
  commit: string,
  options: { profile?: string; logger?: Logger; signal?: AbortSignal } = {},
): Promise<string | undefined> {
  const out = await ostreeScript(PARENT_SCRIPT, ["/repo", commit], `ostree rev-parse ${commit}^ in ${repo}`, {
    ...options,
    binds: [{ source: repo, target: "/repo", readOnly: true }],
  });
  return parseKeyValues(out).parent || undefined;
}

/** `ostree fsck` of a repository with the runroot's ostree; throws OSTREE_FAILED on corruption. */
export async function fsckRepo(repo: string, options: { profile?: string; logger?: Logger; signal?: AbortSignal } = {}): Promise<void> {
  try {
    const out = await runrootScript(FSCK_SCRIPT, ["/repo"], { ...options, binds: [{ source: repo, target: "/repo", readOnly: true }] });
    if (parseKeyValues(out).fsck !== "ok") throw new Error(out);
  } catch (error) {
    throw composeError("OSTREE_FAILED", `ostree fsck ${repo} failed: ${(error as Error).message}`, { cause: error });
  }
}
