/**
 * System tier: publishing into a channel repository with trixie's ostree and gpg in a runroot. Two
 * commits of a small tree are published in turn: the ref moves, the second gets a static delta from the
 * first, commits and summary are signed. A client repository with gpg-verify and the channel's public
 * key gets the update over HTTP from deb-orchestrator's hub (which serves published repositories at
 * /ostree/NAME/), as a machine does; with another key it is refused, and so is a repository whose commit
 * and summary are not signed. Needs root, bubblewrap and the Debian mirror (the runroot's packages); a minute.
 */
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOutput, runCli } from "@debian-bootc/core";
import { startHub } from "@debian-bootc/deb-orchestrator/local";
import { dearmor, generateOpenPgpKey } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { runCompose } from "../compose/phase-engine.js";
import { parseDefinition } from "../definition.js";
import { parseKeyValues, runrootScript } from "../ostree/runroot.js";
import { handBackToCaller, rangeWritableDirectory } from "../rootfs/chroot.js";
import { tool } from "../tool.js";
import { publishCommit, signCommit } from "./publish.js";
import { createPublishPhase } from "./publish-phase.js";
import type { UpdateSigningKey } from "./signing-key.js";

const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && existsSync("/usr/bin/bwrap"));
const example = new URL("../../../../examples/minimal.yaml", import.meta.url).pathname;
let work: string | undefined;
/** The first test's commits (bound to demo/amd64/minimal) and their repository, for the phase's test. */
let made: Record<string, string> = {};
let src: string | undefined;

// $1 repo: two commits of a tree on the ref "src", the second with one file changed
const COMMITS_SCRIPT = `
repo=$1
ostree init --repo="$repo" --mode=archive >&2
mkdir -p /tmp/tree/usr/share/demo
echo one > /tmp/tree/usr/share/demo/version
head -c 200000 /dev/urandom > /tmp/tree/usr/share/demo/big
echo "first=$(ostree commit --repo="$repo" --branch=src --bind-ref=demo/amd64/minimal --tree=dir=/tmp/tree -s first)"
echo two > /tmp/tree/usr/share/demo/version
echo "unbound=$(ostree commit --repo="$repo" --branch=src --tree=dir=/tmp/tree -s unbound)"
echo three > /tmp/tree/usr/share/demo/version
echo "second=$(ostree commit --repo="$repo" --branch=src --bind-ref=demo/amd64/minimal --tree=dir=/tmp/tree -s second)"
`;

// $1 the channel's URL, $2 public key (binary), $3 ref: pull with the channel's settings into a new repository
const PULL_SCRIPT = `
url=$1; key=$2; ref=$3
ostree init --repo=/tmp/client --mode=bare-user >&2
ostree remote add --repo=/tmp/client --set=gpgkeypath="$key" --set=gpg-verify=true --set=gpg-verify-summary=true channel "$url" "$ref" >&2
if ostree pull --repo=/tmp/client channel "$ref" >/tmp/pull.log 2>&1; then echo "pulled=$(ostree rev-parse --repo=/tmp/client channel:"$ref")"; else echo "refused=$(tr '\\n' ' ' </tmp/pull.log)"; fi
`;

// $1 repo, $2 source repo, $3 commit, $4 ref: what publishing without the key would give (nothing signed)
const UNSIGNED_SCRIPT = `
ostree init --repo="$1" --mode=archive >&2
ostree pull-local --repo="$1" "$2" "$3" >&2
ostree refs --repo="$1" --create="$4" "$3" >&2
ostree summary --repo="$1" --update >&2
`;

// $1 source repo, $2 commit, $3 public key: a copy by pull-local (as a disk image's sysroot gets it) verifies
const VERIFY_COPY_SCRIPT = `
ostree init --repo=/tmp/copy --mode=bare-user >&2
ostree remote add --repo=/tmp/copy --set=gpgkeypath="$3" --set=gpg-verify=true channel file:///nowhere >&2
ostree pull-local --repo=/tmp/copy "$1" "$2" >&2
# an unsigned commit shows without complaint: only a good signature line counts (ostree admin status needs one)
if ostree show --repo=/tmp/copy --gpg-verify-remote=channel "$2" 2>&1 | grep -q "Good signature"; then echo verified=yes; else echo verified=no; fi
`;

// $1 repo, $2 commit, $3 keyring directory: how many signatures the commit carries, and how many are good
const SIGNATURES_SCRIPT = `
out=$(ostree show --repo="$1" --gpg-homedir="$3" "$2")
echo "signatures=$(printf '%s\\n' "$out" | grep -c "Signature made" || true)"
echo "good=$(printf '%s\\n' "$out" | grep -c "Good signature" || true)"
`;

async function signingKey(name: string): Promise<UpdateSigningKey & { binaryPublic: Uint8Array }> {
  const key = await generateOpenPgpKey({ name, email: "test@deb-bootc-compose.invalid" });
  return { path: "(memory)", ...key, binaryPublic: await dearmor(key.publicKey) };
}

describe.skipIf(!ready)("publish: a channel repository with history, deltas and signatures", () => {
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("moves the ref, signs, makes a delta; a client pulls with the key and refuses another", { timeout: 600_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "publish-"));
    await chmod(work, 0o755);
    src = join(work, "src");
    // the hub's directory of published repositories, and a channel in it
    const ostreeDir = join(work, "ostree");
    const pub = join(ostreeDir, "demo");
    const keys = join(work, "keys");
    await rangeWritableDirectory(src);
    made = parseKeyValues(await runrootScript(COMMITS_SCRIPT, ["/src"], { binds: [{ source: src, target: "/src" }] }));
    await handBackToCaller(src);
    expect(made.first).toMatch(/^[0-9a-f]{64}$/);
    expect(made.second).toMatch(/^[0-9a-f]{64}$/);
    const key = await signingKey("channel key");
    const other = await signingKey("another key");
    const ref = "demo/amd64/minimal";

    // the ostree phase signs where it commits: a copy pulled from there (a disk image's sysroot) verifies
    await signCommit({ repo: src, commit: made.first!, key });
    await signCommit({ repo: src, commit: made.first!, key }); // signed already: kept as it is
    await rangeWritableDirectory(keys);
    await writeFile(join(keys, "right.gpg"), key.binaryPublic);
    await writeFile(join(keys, "wrong.gpg"), other.binaryPublic);
    await rangeWritableDirectory(keys);
    const verified = parseKeyValues(
      await runrootScript(VERIFY_COPY_SCRIPT, ["/src", made.first!, "/keys/right.gpg"], {
        binds: [
          { source: src, target: "/src", readOnly: true },
          { source: keys, target: "/keys", readOnly: true },
        ],
      }),
    );
    expect(verified.verified).toBe("yes");
    const unsigned = parseKeyValues(
      await runrootScript(VERIFY_COPY_SCRIPT, ["/src", made.second!, "/keys/right.gpg"], {
        binds: [
          { source: src, target: "/src", readOnly: true },
          { source: keys, target: "/keys", readOnly: true },
        ],
      }),
    );
    expect(unsigned.verified).toBe("no");

    const first = await publishCommit({ repo: pub, sourceRepo: src, commit: made.first!, ref, key });
    expect(first).toMatchObject({ ref, commit: made.first, changed: true });
    expect(first.previous).toBeUndefined();
    expect(first.delta).toBeUndefined();
    // signed where it was made, twice over, and published: still one signature (machines list each one)
    const signatures = async (repo: string) =>
      parseKeyValues(
        await runrootScript(SIGNATURES_SCRIPT, ["/repo", made.first!, "/keys"], {
          binds: [
            { source: repo, target: "/repo", readOnly: true },
            { source: keys, target: "/keys", readOnly: true },
          ],
        }),
      );
    expect(await signatures(src)).toEqual({ signatures: "1", good: "1" });
    expect(await signatures(pub)).toEqual({ signatures: "1", good: "1" });
    const second = await publishCommit({ repo: pub, sourceRepo: src, commit: made.second!, ref, key });
    expect(second).toMatchObject({ commit: made.second, previous: made.first, delta: `${made.first}-${made.second}`, changed: true });
    const again = await publishCommit({ repo: pub, sourceRepo: src, commit: made.second!, ref, key });
    expect(again).toMatchObject({ commit: made.second, changed: false });
    expect(existsSync(join(pub, "summary.sig"))).toBe(true);
    expect(existsSync(join(pub, "deltas"))).toBe(true);

    // a machine's pull: over HTTP from the hub, on this machine's loopback
    const hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub"), ostreeDir });
    try {
      const pull = async (channel: string, keyFile: string) =>
        parseKeyValues(
          await runrootScript(PULL_SCRIPT, [`${hub.url}/ostree/${channel}/`, `/keys/${keyFile}`, ref], {
            network: true,
            binds: [{ source: keys, target: "/keys", readOnly: true }],
          }),
        );
      expect(await pull("demo", "right.gpg")).toEqual({ pulled: made.second });
      const refused = await pull("demo", "wrong.gpg");
      expect(refused.pulled).toBeUndefined();
      expect(refused.refused).toMatch(/signature|GPG|gpg/);
      // the same tree published with no signature at all is refused with the right key
      const unsigned = join(ostreeDir, "unsigned");
      await rangeWritableDirectory(unsigned);
      await runrootScript(UNSIGNED_SCRIPT, ["/unsigned", "/src", made.second!, ref], {
        binds: [
          { source: unsigned, target: "/unsigned" },
          { source: src, target: "/src", readOnly: true },
        ],
      });
      await handBackToCaller(unsigned);
      const notSigned = await pull("unsigned", "right.gpg");
      expect(notSigned.pulled).toBeUndefined();
      expect(notSigned.refused).toMatch(/signature|GPG|gpg/);
    } finally {
      await hub.close();
    }

    // a commit not bound to the channel's ref (made without an updates section) is refused before it is published
    await expect(publishCommit({ repo: pub, sourceRepo: src, commit: made.unbound!, ref, key })).rejects.toMatchObject({
      code: "CHANNEL_PUBLISH_FAILED",
      message: expect.stringContaining("not bound to demo/amd64/minimal"),
    });
  });

  it("the publish phase (updates.publishTo) publishes a compose's commits at its end", { timeout: 300_000 }, async () => {
    expect(made.second).toMatch(/^[0-9a-f]{64}$/);
    const dir = join(work!, "phase");
    await mkdir(dir, { recursive: true });
    const key = await generateOpenPgpKey({ name: "phase key", email: "test@deb-bootc-compose.invalid" });
    await writeFile(join(dir, "channel.asc"), key.privateKey);
    const to = join(dir, "published");
    const text = (await readFile(example, "utf8")).replace(/^name: .*$/m, "name: demo");
    const path = join(dir, "demo.yaml");
    await writeFile(path, `${text}\nupdates:\n  url: http://127.0.0.1/\n  key: channel.asc\n  publishTo: ${to}\n`);
    // what the ostree phase leaves: the compose's repository and the variant's commit record
    const ostree = {
      name: "ostree" as const,
      async run(ctx: { composeDir: string }) {
        await cp(src!, join(ctx.composeDir, "compose", "ostree", "repo"), { recursive: true });
        const record = join(ctx.composeDir, "compose", "minimal", "amd64");
        await mkdir(record, { recursive: true });
        await writeFile(join(record, "ostree-commit.json"), JSON.stringify({ commit: made.second }));
      },
    };
    const result = await runCompose({
      definition: parseDefinition(await readFile(path, "utf8"), path),
      definitionPath: path,
      outputDir: join(dir, "out"),
      phases: [ostree, createPublishPhase({ baseDir: dir })],
    });
    expect(result.status).toBe("FINISHED");
    expect(result.phases.find((p) => p.name === "publish")).toMatchObject({
      outcome: "done",
      notes: [`minimal/amd64: demo/amd64/minimal -> ${made.second!.slice(0, 12)}`],
    });
    expect(existsSync(join(to, "refs", "heads", "demo", "amd64", "minimal"))).toBe(true);
    expect((await readFile(join(to, "refs", "heads", "demo", "amd64", "minimal"), "utf8")).trim()).toBe(made.second);
    expect(existsSync(join(to, "summary.sig"))).toBe(true);
    // where it was published, for the hub: the channel's public URL, never the local directory
    const published = await readFile(join(result.composeDir, "compose", "metadata", "published.json"), "utf8");
    expect(JSON.parse(published)).toEqual({
      url: "http://127.0.0.1/",
      commits: [{ variant: "minimal", arch: "amd64", ref: "demo/amd64/minimal", commit: made.second, delta: false, changed: true }],
    });
    expect(published).not.toContain(to);

    // the standalone command (into another repository) records the publication in the compose just the same
    // (--definition: its key is relative to the definition's own folder)
    await rm(join(result.composeDir, "compose", "metadata", "published.json"));
    const other = join(dir, "another");
    const out = memoryOutput();
    expect(await runCli(tool, ["publish", result.composeDir, "--to", other, "--definition", path], out)).toBe(0);
    expect(out.text.join("\n")).toContain(`minimal/amd64: demo/amd64/minimal -> ${made.second}`);
    const again = await readFile(join(result.composeDir, "compose", "metadata", "published.json"), "utf8");
    expect(JSON.parse(again)).toEqual(JSON.parse(published));
    expect(again).not.toContain(other);
  });
});
