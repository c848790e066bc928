import { lstat, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@debian-bootc/core";
import { type DiskImageRequest, diskImageRequest } from "@debian-bootc/deb-orchestrator";
import { z } from "zod";
import type { ComposeDefinition, LoadedDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { ostreeRef } from "../ostree/ostree-phase.js";
import { parseKeyValues, runrootProfile, runrootScript } from "../ostree/runroot.js";
import { channelKeyPath, updateRemoteName } from "../rootfs/customize.js";
import { readRequestJson, taskDefinition } from "./task-request.js";

/**
 * The builder's side of a diskImage task (`disk-image W`): its request read and checked, the commit's
 * detached signature put where ostree keeps it, and the commit checked before any disk image deploys it
 * (the ref's head is the commit the client sent, signed by the key the image itself trusts).
 */

/** The `state` of a diskImage request: what the client asks beyond the definition (nothing else: no path, no key). */
export const diskTaskStateSchema = z.strictObject({
  /** Boot the disk image to its marker after image-build (the client's test phase runs). accel: the client's choice, else the builder's. */
  bootTest: z.strictObject({ marker: z.literal(true), accel: z.enum(["kvm", "tcg"]).optional() }).optional(),
});
export type DiskTaskState = z.infer<typeof diskTaskStateSchema>;

export interface DiskTask {
  request: DiskImageRequest;
  state: DiskTaskState;
  loaded: LoadedDefinition;
  definitionPath: string;
}

function invalid(message: string, field: string): never {
  throw composeError("IMAGE_TASK_REQUEST_INVALID", `request.json: ${message}`, { details: { field } });
}

/**
 * Read and check W/request.json as a diskImage request: its schema (an unknown field refused), its state's,
 * the definition's (as an image task's); a signature is sent exactly when the definition signs its commits.
 */
export async function readDiskTask(workDir: string): Promise<DiskTask> {
  const parsed = diskImageRequest.safeParse(await readRequestJson(workDir));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    invalid(`${issue.path.join(".")}: ${issue.message}`, issue.path.join("."));
  }
  const request = parsed.data;
  const state = diskTaskStateSchema.safeParse(request.state);
  if (!state.success) {
    const issue = state.error.issues[0]!;
    throw composeError("IMAGE_TASK_STATE_INVALID", `request.json: state.${issue.path.join(".")}: ${issue.message}`, {
      details: { field: `state.${issue.path.join(".")}` },
    });
  }
  const { loaded, definitionPath } = taskDefinition(workDir, request);
  if (loaded.definition.updates && request.commit.commitmeta === undefined)
    invalid("commit.commitmeta: the definition has an updates section: its commit is deployed signed only", "commit.commitmeta");
  if (!loaded.definition.updates && request.commit.commitmeta !== undefined)
    invalid("commit.commitmeta: the definition has no updates section: there is no key to verify a signature with", "commit.commitmeta");
  return { request, state: state.data, loaded, definitionPath };
}

/** Where ostree keeps a commit's detached metadata: objects/XX/REST.commitmeta of its 64-hex checksum. */
export function commitmetaPath(repo: string, commit: string): string {
  if (!/^[0-9a-f]{64}$/.test(commit))
    throw composeError("IMAGE_TASK_REQUEST_INVALID", `${JSON.stringify(commit)} is not a commit checksum`);
  return join(repo, "objects", commit.slice(0, 2), `${commit.slice(2)}.commitmeta`);
}

/**
 * The client's detached metadata (its signature) written as the commit's, at the path derived from the
 * checksum alone; what the tar had there is replaced. The commit object must be a regular file of the
 * repository (the tar's members are files and directories only: safe-tar.ts).
 */
export async function addDetachedMetadata(repo: string, commit: string, base64: string): Promise<void> {
  const path = commitmetaPath(repo, commit);
  const commitObject = path.replace(/\.commitmeta$/, ".commit");
  if (!(await lstat(commitObject).catch(() => undefined))?.isFile())
    throw composeError("COMMIT_SIGNATURE_REFUSED", `the repository has no commit ${commit}: it is not the one the task was sent`);
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length === 0) throw composeError("COMMIT_SIGNATURE_REFUSED", `the detached metadata of ${commit} is empty`);
  await mkdir(join(path, ".."), { recursive: true });
  await rm(path, { force: true });
  await writeFile(path, bytes, { flag: "wx", mode: 0o644 });
}

// $1 repo, $2 commit, $3 ref, $4 the channel key's path in the commit ("" when nothing is signed):
// the ref's head (image-build deploys it), then the commit's signature checked in a scratch repository
// holding its metadata only, with the key the image itself carries as its remote's gpgkeypath
export const VERIFY_SCRIPT = `
repo=$1; commit=$2; ref=$3; keypath=$4
echo "head=$(ostree rev-parse --repo="$repo" "$ref" 2>/dev/null || true)"
[ -n "$keypath" ] || exit 0
if ! ostree cat --repo="$repo" "$commit" "/$keypath" >/tmp/channel.gpg 2>/dev/null; then echo "key=none"; exit 0; fi
ostree init --repo=/tmp/verify --mode=bare-user >&2
ostree remote add --repo=/tmp/verify --set=gpgkeypath=/tmp/channel.gpg --set=gpg-verify=true channel file:///nowhere >&2
ostree pull-local --commit-metadata-only --repo=/tmp/verify "$repo" "$commit" >&2
# an unsigned commit shows without complaint: only a good signature by the image's key counts (ostree admin status needs one)
if ostree show --repo=/tmp/verify --gpg-verify-remote=channel "$commit" >/tmp/show.log 2>&1 && grep -q "Good signature" /tmp/show.log; then
  echo verified=yes
else
  echo verified=no
fi
cat /tmp/show.log >&2
`;

/**
 * Why the verification script's answer refuses the commit, or undefined when it may be deployed: the ref's
 * head must be the commit sent (image-build deploys the head), and, when signed is asked, the image must
 * carry the channel's key and a good signature by it must be on the commit.
 */
export function refusalOf(output: Record<string, string>, commit: string, signed: boolean): string | undefined {
  if (output.head !== commit)
    return `the repository's ref is at ${output.head || "nothing"}, not at ${commit}, the commit the task was sent`;
  if (!signed) return undefined;
  if (output.key === "none") return `commit ${commit} carries no channel key to verify its signature with`;
  if (output.verified !== "yes") return `commit ${commit} has no good signature by the key its image trusts`;
  return undefined;
}

/**
 * Refuse (COMMIT_SIGNATURE_REFUSED) to deploy anything but the commit sent, signed by the update channel's
 * key the image trusts when the definition has an updates section: checked with the suite's ostree in a
 * runroot, the repository bound read-only.
 */
export async function verifyCommitToDeploy(options: {
  repo: string;
  commit: string;
  definition: ComposeDefinition;
  variant: string;
  arch: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}): Promise<void> {
  const { definition, commit } = options;
  const signed = definition.updates !== undefined;
  const keyPath = signed ? channelKeyPath(updateRemoteName(definition)) : "";
  const out = await runrootScript(VERIFY_SCRIPT, ["/repo", commit, ostreeRef(definition, options.variant, options.arch), keyPath], {
    profile: runrootProfile(definition.suite, options.arch),
    packages: ["ostree", "gpg", "gpg-agent"],
    binds: [{ source: options.repo, target: "/repo", readOnly: true }],
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
  });
  const why = refusalOf(parseKeyValues(out), commit, signed);
  if (why) throw composeError("COMMIT_SIGNATURE_REFUSED", why, { details: { commit } });
}
