// What the compose benchmarks read from a compose directory (its JSON logs and metadata), and the
// mmdebstrap reference they run: the same package set from the compose's own APT snapshot.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./proc.mjs";
import { fmt } from "./stats.mjs";

/** A file's text, or null when it cannot be read. */
export function readText(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** A JSON file, or null when it is missing or not JSON. */
export function readJson(file) {
  const text = readText(file);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The JSON lines of a log (pino), skipping anything else. */
export function jsonLines(file) {
  const text = readText(file);
  if (text === null) return [];
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line cut short
    }
  }
  return out;
}

/**
 * mmdebstrap of the cold compose's package set, from its own APT snapshot, into a directory: plain,
 * then with the rootfs phase's dpkg path filters (read from its command line in logs/rootfs.log), which
 * tells the cost of the filters from the rest of the phase's mmdebstrap step. `cold` is a compose run
 * ({ composeDir }); `say` prints progress.
 */
export async function mmdebstrapReference(cold, runDir, suite, arch, opts, logs, i, say) {
  const log = join(logs, `run-${i}-mmdebstrap.log`);
  const out = { ok: false, why: null, seconds: null, packages: 0, variant: null, log, filtered: null };
  const dir = cold?.composeDir;
  const lines = dir ? jsonLines(join(dir, "logs", "rootfs.log")) : [];
  const rootfsLog = lines.find((l) => l.msg === "mmdebstrap" && Array.isArray(l.sources));
  const packages = dir ? readJson(join(dir, "compose", "metadata", "packages.json"))?.payload?.packages : null;
  const variant = rootfsLog?.variant ?? Object.keys(packages ?? {})[0];
  const set = packages?.[variant]?.[rootfsLog?.arch ?? arch];
  if (!rootfsLog || !set) {
    out.why = "the cold compose recorded no rootfs mmdebstrap line (logs/rootfs.log) or no package set (packages.json)";
    return out;
  }
  out.variant = rootfsLog.mmdebstrapVariant;
  out.packages = set.length;
  if (rootfsLog.packages !== undefined && rootfsLog.packages !== set.length)
    say(`note: the rootfs phase installed ${rootfsLog.packages} packages, packages.json lists ${set.length}`);
  const keyrings = [...new Set(rootfsLog.sources.flatMap((s) => [...s.matchAll(/signed-by=([^\s\]]+)/g)].map((m) => m[1])))];
  const command = lines.find((l) => typeof l.cmd === "string" && l.cmd.startsWith("mmdebstrap "))?.cmd ?? "";
  const dpkgOpts = [...command.matchAll(/'?--dpkgopt=([^'\s]+)'?/g)].map((m) => m[1]);
  const target = join(runDir, "mmdebstrap-rootfs");
  const once = async (extra, logFile, what) => {
    rmSync(target, { recursive: true, force: true });
    rmSync(logFile, { force: true });
    const argv = [
      "mmdebstrap",
      `--variant=${rootfsLog.mmdebstrapVariant}`,
      "--mode=unshare",
      "--format=directory",
      `--architectures=${arch}`,
      ...keyrings.map((k) => `--keyring=${k}`),
      ...extra,
      `--include=${set.map((p) => `${p.name}=${p.version}`).join(",")}`,
      suite,
      target,
      ...rootfsLog.sources,
    ];
    say(
      `run ${i} reference: mmdebstrap --variant=${out.variant}${what} of the same ${set.length} packages from the compose's snapshot (log ${logFile}) ...`,
    );
    const r = await runCommand(argv, {
      env: { ...process.env, INITRD: "No", DEBIAN_FRONTEND: "noninteractive" },
      logFile,
      timeoutMs: opts.timeoutMs,
    });
    rmSync(target, { recursive: true, force: true });
    const ok = r.code === 0;
    const why = ok ? null : r.timedOut ? "timed out" : `exit ${r.code}`;
    say(`  mmdebstrap${what}: ${fmt(r.seconds)} s, ${ok ? "ok" : `FAILED (${why})`}`);
    return { ok, why, seconds: r.seconds, log: logFile };
  };
  Object.assign(out, await once([], log, ""));
  if (dpkgOpts.length > 0) {
    out.filtered = {
      dpkgOpts,
      ...(await once(
        dpkgOpts.map((o) => `--dpkgopt=${o}`),
        join(logs, `run-${i}-mmdebstrap-filtered.log`),
        ` + the rootfs phase's ${dpkgOpts.length} dpkg path filters`,
      )),
    };
  } else say("note: no --dpkgopt found in the rootfs phase's mmdebstrap command line (logs/rootfs.log); the filtered reference is skipped");
  return out;
}
