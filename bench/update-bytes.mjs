#!/usr/bin/env node
// What a machine downloads for an update from a published channel, and how long from the start of
// publishing until the update is on the machine. Two finished composes of the same definition (the
// second with, say, one package changed) are published into a fresh channel repository with a fresh
// key (deb-bootc-compose's publishCommit: pull-local, gpg-sign, static delta, signed summary), served on
// 127.0.0.1 by the boot test's static server, which counts the bytes it sends. A client repository in a
// runroot (trixie's ostree, gpg-verify with the channel's key) that already holds the old commit pulls
// the new one over HTTP (the static delta): those bytes are set against the old compose's disk image and
// against a full pull of the new commit into an empty repository (--disable-static-deltas, the object
// by object download a machine without the old commit would make). The time is publish + pull into the
// client repository; the deployment itself is not timed here (the boot test's upgrade boot does it in a
// VM: its step durations and served bytes are printed by compose-boot.system.test.ts).
//
//   npx tsc -b packages/deb-bootc-compose
//   node bench/update-bytes.mjs --old COMPOSE_DIR --new COMPOSE_DIR [--variant minimal] [--arch amd64]
//
// Goal: the one-package update under 5% of the image.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { fmt, renderTable } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GOAL = 0.05;
const { values: opts } = parseArgs({
  options: {
    old: { type: "string" },
    new: { type: "string" },
    variant: { type: "string", default: "minimal" },
    arch: { type: "string", default: "amd64" },
    help: { type: "boolean", default: false },
  },
});
if (opts.help || !opts.old || !opts.new) {
  process.stdout.write("Usage: node bench/update-bytes.mjs --old COMPOSE_DIR --new COMPOSE_DIR [--variant minimal] [--arch amd64]\n");
  process.exit(opts.help ? 0 : 2);
}
// the package's internals (publishing, the boot test's counting server, runroots), from its built modules
const distModule = (path) => import(pathToFileURL(join(REPO, "packages", "deb-bootc-compose", "dist", path)).href);
const compose = {
  ...(await distModule("publish/publish.js")),
  ...(await distModule("boot/static-server.js")),
  ...(await distModule("ostree/runroot.js")),
  ...(await distModule("rootfs/chroot.js")),
};
const debian = await import(pathToFileURL(join(REPO, "packages", "debian", "dist", "index.js")).href);

function record(dir) {
  const file = join(resolve(dir), "compose", opts.variant, opts.arch, "ostree-commit.json");
  return { ...JSON.parse(readFileSync(file, "utf8")), repo: join(resolve(dir), "compose", "ostree", "repo") };
}
function du(path) {
  let total = 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  for (const entry of readdirSync(path)) total += du(join(path, entry));
  return total;
}
const oldCommit = record(opts.old);
const newCommit = record(opts.new);
// a commit is bound to its compose ref (and the channel's, when the definition had one): publish on the compose ref
const ref = newCommit.ref;
if (oldCommit.ref !== ref) throw new Error(`the composes' refs differ (${oldCommit.ref}, ${ref}): compose the same definition twice`);
const images = join(resolve(opts.old), "compose", opts.variant, opts.arch, "images");
const image = existsSync(images) ? readdirSync(images).find((f) => f.endsWith(".qcow2") || f.endsWith(".raw")) : undefined;

const work = mkdtempSync("/var/tmp/update-bytes-");
chmodSync(work, 0o755);
const published = join(work, "published");
const keys = join(work, "keys");
const generated = await debian.generateOpenPgpKey({ name: "bench channel", email: "bench@deb-bootc-compose.invalid" });
const key = { path: "(bench)", ...generated };
let server;
try {
  await compose.publishCommit({ repo: published, sourceRepo: oldCommit.repo, commit: oldCommit.commit, ref, key });
  const publishStarted = Date.now();
  const result = await compose.publishCommit({ repo: published, sourceRepo: newCommit.repo, commit: newCommit.commit, ref, key });
  const publishMs = Date.now() - publishStarted;
  await compose.rangeWritableDirectory(keys);
  writeFileSync(join(keys, "channel.gpg"), await debian.dearmor(generated.publicKey));
  await compose.rangeWritableDirectory(keys);
  server = await compose.serveDirectory(published);
  const url = `http://127.0.0.1:${server.port}/`;
  // $1 url, $2 ref, $3 old commit, $4 "delta" or "full": pull the new commit into /client/<mode>
  const PULL = `
url=$1; ref=$2; old=$3; mode=$4; repo=/client/$mode
ostree init --repo="$repo" --mode=bare-user >&2
ostree remote add --repo="$repo" --set=gpgkeypath=/keys/channel.gpg --set=gpg-verify=true --set=gpg-verify-summary=true channel "$url" >&2
if [ "$mode" = delta ]; then ostree pull-local --repo="$repo" --untrusted /published "$old" >&2; ostree refs --repo="$repo" --create=channel:"$ref" "$old" >&2; fi
start=$(date +%s%N)
if [ "$mode" = delta ]; then ostree pull --repo="$repo" channel "$ref" >&2; else ostree pull --repo="$repo" --disable-static-deltas channel "$ref" >&2; fi
echo "ms=$(( ($(date +%s%N) - start) / 1000000 ))"
echo "commit=$(ostree rev-parse --repo="$repo" channel:"$ref")"
`;
  const pull = async (mode) => {
    const before = server.stats().bytes;
    const client = join(work, "client");
    await compose.rangeWritableDirectory(client);
    const out = compose.parseKeyValues(
      await compose.runrootScript(PULL, [url, ref, oldCommit.commit, mode], {
        network: true,
        binds: [
          { source: published, target: "/published", readOnly: true },
          { source: keys, target: "/keys", readOnly: true },
          { source: client, target: "/client" },
        ],
      }),
    );
    if (out.commit !== newCommit.commit) throw new Error(`the ${mode} pull got ${out.commit}, not ${newCommit.commit}`);
    return { bytes: server.stats().bytes - before, ms: Number(out.ms) };
  };
  const delta = await pull("delta");
  const full = await pull("full");
  const imageBytes = image ? statSync(join(images, image)).size : undefined;
  const rows = [
    [
      "update (static delta over HTTP)",
      fmt(delta.bytes / 1e6, 2),
      imageBytes ? `${fmt((100 * delta.bytes) / imageBytes, 2)} %` : "-",
      `${fmt((100 * delta.bytes) / full.bytes, 2)} %`,
    ],
    ["full pull of the new commit", fmt(full.bytes / 1e6, 1), imageBytes ? `${fmt((100 * full.bytes) / imageBytes, 1)} %` : "-", "100 %"],
    ...(imageBytes ? [["disk image of the old compose", fmt(imageBytes / 1e6, 1), "100 %", "-"]] : []),
    ["published repository", fmt(du(published) / 1e6, 1), "-", "-"],
  ];
  process.stdout.write(`${renderTable(["what", "MB", "of the image", "of a full pull"], rows)}\n`);
  process.stdout.write(
    `time: publish ${fmt(publishMs / 1000)} s (delta ${result.delta ? "generated" : "none"}) + pull ${fmt(delta.ms / 1000)} s = ${fmt((publishMs + delta.ms) / 1000)} s from publish start to the update in the client repository (full pull: ${fmt(full.ms / 1000)} s)\n`,
  );
  if (imageBytes)
    process.stdout.write(`goal: update under ${GOAL * 100} % of the image: ${delta.bytes / imageBytes < GOAL ? "met" : "NOT met"}\n`);
} finally {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
}
