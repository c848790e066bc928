import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, type Logger } from "@debian-bootc/core";
import type { ComposeDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { channelRef, type OstreeCommitRecord } from "../ostree/ostree-phase.js";
import { parseKeyValues, runrootProfile, runrootScript } from "../ostree/runroot.js";
import { handBackToCaller, rangeWritableDirectory } from "../rootfs/chroot.js";
import { writePublishedMetadata } from "./published-metadata.js";
import type { UpdateSigningKey } from "./signing-key.js";

/**
 * Publishing: a compose's commits go into a long-lived archive repository outside the compose (Pungi's
 * model), plain files any web server serves. The commit itself is taken (pull-local), so the published
 * checksum is the one the compose's disk images deploy; its parent is the previous compose's commit,
 * which the ostree phase made it from. The channel's ref moves to it, it is GPG-signed (a detached
 * signature: the checksum stays), a static delta from the ref's previous commit is generated, and the
 * summary is regenerated and signed. All with the suite's own ostree and gpg in a runroot; the secret
 * key reaches it as a file in a private directory and lives in a throwaway GNUPGHOME there.
 */

/**
 * Sign a commit once: `ostree gpg-sign` adds a second signature by the same key when the signer's public
 * key is not in the repository's keyrings (its own "already signed" check finds no key to match), so
 * machines would show every signature twice. The commit is checked against a keyring with only the
 * channel's public key first: a good signature there is ours, and the commit stays as it is.
 * Needs $GNUPGHOME with the key imported and $fpr; $1 repo, $2 commit.
 */
const SIGN_ONCE = `
sign_once() {
  mkdir -p "$GNUPGHOME/public"
  [ -s "$GNUPGHOME/public/channel.gpg" ] || gpg --batch --export "$fpr" > "$GNUPGHOME/public/channel.gpg"
  if ostree show --repo="$1" --gpg-homedir="$GNUPGHOME/public" "$2" 2>/dev/null | grep -q "Good signature"; then return 0; fi
  ostree gpg-sign --repo="$1" --gpg-homedir="$GNUPGHOME" "$2" "$fpr" >&2
}
`;

const WITH_KEY = `
GNUPGHOME=$(mktemp -d); export GNUPGHOME
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
gpg --batch --quiet --import "$key" >&2 2>&1
${SIGN_ONCE}`;

// $1 published repo, $2 source repo, $3 commit, $4 ref, $5 secret key file, $6 fingerprint.
const PUBLISH_SCRIPT = `
pub=$1; src=$2; commit=$3; ref=$4; key=$5; fpr=$6
[ -f "$pub/config" ] || ostree init --repo="$pub" --mode=archive >&2
${WITH_KEY}
binding=$(ostree show --repo="$src" --print-metadata-key=ostree.ref-binding "$commit" 2>/dev/null || true)
case "$binding" in *"'$ref'"*) ;; *) echo "unbound=$binding"; exit 0 ;; esac
prev=$(ostree rev-parse --repo="$pub" "$ref" 2>/dev/null || true)
if [ "$prev" != "$commit" ]; then
  ostree pull-local --repo="$pub" "$src" "$commit" >&2
  # a commit the ostree phase signed already keeps that one signature
  sign_once "$pub" "$commit"
  if [ -n "$prev" ]; then
    ostree static-delta generate --repo="$pub" --from="$prev" --to="$commit" >&2
    echo "delta=$prev-$commit"
  fi
  ostree refs --repo="$pub" --force --create="$ref" "$commit" >&2
fi
ostree summary --repo="$pub" --update --gpg-sign="$fpr" --gpg-homedir="$GNUPGHOME" >&2
echo "previous=$prev"
echo "commit=$(ostree rev-parse --repo="$pub" "$ref")"
`;

// $1 repo, $2 commit, $3 secret key file, $4 fingerprint: sign a commit where it was made.
const SIGN_SCRIPT = `
repo=$1; commit=$2; key=$3; fpr=$4
${WITH_KEY}
sign_once "$repo" "$commit"
echo signed=yes
`;

/** The secret key as a file the runroot's root may read, in a private directory removed afterwards. */
async function withKeyFile<T>(key: UpdateSigningKey, fn: (keyDir: string) => Promise<T>): Promise<T> {
  const keyDir = await mkdtemp(join(tmpdir(), "deb-bootc-compose-key-"));
  try {
    await writeFile(join(keyDir, "secret.asc"), key.privateKey, { mode: 0o600 });
    // the runroot's root (the range's first id) must read it: the private directory and the file become its own
    await rangeWritableDirectory(keyDir);
    return await fn(keyDir);
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
}

export interface SignCommitOptions {
  /** An archive repository the caller owns (a compose's), and a commit in it. */
  repo: string;
  commit: string;
  key: UpdateSigningKey;
  profile?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}

/**
 * GPG-sign a commit in the repository it was made in (a detached signature: the checksum stays), so that
 * every copy of it (the disk image's sysroot, the published repository) carries the signature that
 * machines verify; `ostree admin status` refuses an unsigned deployment of a gpg-verify remote.
 */
export async function signCommit(options: SignCommitOptions): Promise<void> {
  await withKeyFile(options.key, async (keyDir) => {
    await rangeWritableDirectory(options.repo);
    try {
      const out = await runrootScript(SIGN_SCRIPT, ["/repo", options.commit, "/key/secret.asc", options.key.fingerprint], {
        profile: options.profile,
        packages: ["ostree", "gpg", "gpg-agent"],
        binds: [
          { source: options.repo, target: "/repo" },
          { source: keyDir, target: "/key", readOnly: true },
        ],
        logger: options.logger,
        signal: options.signal,
        onOutput: options.onOutput,
      });
      if (parseKeyValues(out).signed !== "yes") throw new Error(out.slice(0, 500));
    } catch (error) {
      if (isCodedError(error, "INTERRUPTED")) throw error;
      throw composeError("CHANNEL_PUBLISH_FAILED", `signing ${options.commit} in ${options.repo} failed: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      await handBackToCaller(options.repo, { logger: options.logger, signal: options.signal });
    }
  });
}

export interface PublishCommitOptions {
  /** The published repository (created when missing). */
  repo: string;
  /** The repository holding the commit (a compose's compose/ostree/repo). */
  sourceRepo: string;
  commit: string;
  /** The channel's ref. */
  ref: string;
  key: UpdateSigningKey;
  profile?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}

export interface PublishedCommit {
  ref: string;
  commit: string;
  /** The commit the ref pointed to before, if any (and different). */
  previous?: string;
  /** The static delta generated from `previous`. */
  delta?: string;
  /** false: the ref already pointed to the commit; only the summary was signed again. */
  changed: boolean;
  fingerprint: string;
}

export async function publishCommit(options: PublishCommitOptions): Promise<PublishedCommit> {
  return withKeyFile(options.key, async (keyDir) => {
    await rangeWritableDirectory(options.repo);
    let out: string;
    try {
      out = await runrootScript(PUBLISH_SCRIPT, ["/pub", "/src", options.commit, options.ref, "/key/secret.asc", options.key.fingerprint], {
        profile: options.profile,
        packages: ["ostree", "gpg", "gpg-agent"],
        binds: [
          { source: options.repo, target: "/pub" },
          { source: options.sourceRepo, target: "/src", readOnly: true },
          { source: keyDir, target: "/key", readOnly: true },
        ],
        logger: options.logger,
        signal: options.signal,
        onOutput: options.onOutput,
      });
    } catch (error) {
      if (isCodedError(error, "INTERRUPTED")) throw error;
      throw composeError(
        "CHANNEL_PUBLISH_FAILED",
        `publishing ${options.commit} as ${options.ref} in ${options.repo} failed: ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      await handBackToCaller(options.repo, { logger: options.logger, signal: options.signal });
    }
    const kv = parseKeyValues(out);
    // a client refuses a commit on a ref it is not bound to (ostree.ref-binding): say so here, not on the machines
    if (kv.unbound !== undefined)
      throw composeError(
        "CHANNEL_PUBLISH_FAILED",
        `commit ${options.commit} is not bound to ${options.ref} (its ref binding: ${kv.unbound || "none"})`,
        { hint: "compose with the definition's updates section: the ostree phase binds each commit to the channel's ref too" },
      );
    if (kv.commit !== options.commit)
      throw composeError("CHANNEL_PUBLISH_FAILED", `${options.ref} in ${options.repo} is ${kv.commit}, not ${options.commit}`);
    const previous = kv.previous && kv.previous !== options.commit ? kv.previous : undefined;
    return {
      ref: options.ref,
      commit: options.commit,
      ...(previous ? { previous } : {}),
      ...(kv.delta ? { delta: kv.delta } : {}),
      changed: kv.previous !== options.commit,
      fingerprint: options.key.fingerprint,
    };
  });
}

export interface PublishComposeOptions {
  composeDir: string;
  definition: ComposeDefinition;
  /** The published repository. */
  to: string;
  key: UpdateSigningKey;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}

export interface PublishedRecord extends PublishedCommit {
  variant: string;
  arch: string;
  repo: string;
}

/**
 * Every variant/arch commit a compose made (its ostree-commit.json files), published on the channel's refs
 * and recorded in the compose's metadata (published.json), whether the publish phase or the command asked.
 */
export async function publishCompose(options: PublishComposeOptions): Promise<PublishedRecord[]> {
  const { definition } = options;
  if (!definition.updates)
    throw composeError("CHANNEL_PUBLISH_FAILED", `${definition.name}: the definition has no updates section (url, ref) to publish on`, {
      hint: "add updates: {url: https://..., ref: '{name}/{arch}/{variant}'} to the definition",
    });
  const records: PublishedRecord[] = [];
  for (const variant of Object.keys(definition.variants)) {
    for (const arch of definition.arches) {
      const file = join(options.composeDir, "compose", variant, arch, "ostree-commit.json");
      const text = await readFile(file, "utf8").catch(() => undefined);
      if (text === undefined) continue;
      const made = JSON.parse(text) as OstreeCommitRecord;
      if (!/^[0-9a-f]{64}$/.test(made.commit ?? "")) throw composeError("CHANNEL_PUBLISH_FAILED", `${file}: no commit checksum`);
      const result = await publishCommit({
        repo: options.to,
        sourceRepo: join(options.composeDir, "compose", "ostree", "repo"),
        commit: made.commit,
        ref: channelRef(definition, variant, arch)!,
        key: options.key,
        profile: runrootProfile(definition.suite, arch),
        logger: options.logger,
        signal: options.signal,
        onOutput: options.onOutput,
      });
      records.push({ variant, arch, repo: options.to, ...result });
      options.logger?.info({ variant, arch, ...result }, result.changed ? "published" : "already published");
    }
  }
  if (records.length === 0)
    throw composeError("CHANNEL_PUBLISH_FAILED", `${options.composeDir}: no ostree commits (compose/<variant>/<arch>/ostree-commit.json)`);
  await writePublishedMetadata(options.composeDir, definition, records);
  return records;
}
