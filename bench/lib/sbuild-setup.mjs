// Idempotent set-up of sbuild in unshare mode, as described in the project's reference note: the
// Debian packages, an unprivileged build user with subordinate id ranges, ~/.sbuildrc, and an
// mmdebstrap base tarball of the suite made from the host's mirror. Each step says what it does
// through `say` and does nothing when it is already done.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runChecked, runCommand } from "./proc.mjs";

export const SBUILD_PACKAGES = ["sbuild", "mmdebstrap", "uidmap"];

export const SBUILDRC = [
  "# Written by deb-mock's benchmark (bench/deb-mock-vs-sbuild.mjs): sbuild in unshare mode, no extra checks.",
  "$chroot_mode = 'unshare';",
  "$run_lintian = 0;",
  "$run_autopkgtest = 0;",
  "$run_piuparts = 0;",
  "1;",
  "",
].join("\n");

/** Installs the Debian packages that are missing (apt-get install -y), or says they are there. */
export async function ensureDebianPackages(packages, say) {
  const missing = [];
  for (const pkg of packages) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const q = await runCommand(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg]);
    if (q.code !== 0 || !q.stdout.startsWith("ii")) missing.push(pkg);
  }
  if (missing.length === 0) {
    say(`packages ${packages.join(", ")}: installed`);
    return;
  }
  say(`installing ${missing.join(", ")} (apt-get install -y)`);
  await runChecked(["apt-get", "install", "-y", "--no-install-recommends", ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/** The user's passwd entry { name, uid, gid, home }, or undefined. */
export async function passwdEntry(user) {
  const r = await runCommand(["getent", "passwd", user]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(":");
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

/** Creates the build user (useradd -m) if missing and makes sure it has /etc/subuid and /etc/subgid ranges. */
export async function ensureBuildUser(user, say) {
  let entry = await passwdEntry(user);
  if (entry) {
    say(`user ${user}: exists (uid ${entry.uid}, home ${entry.home})`);
  } else {
    say(`creating user ${user} (useradd -m)`);
    await runChecked(["useradd", "-m", "-s", "/bin/bash", user]);
    entry = await passwdEntry(user);
    if (!entry) throw new Error(`useradd -m ${user} succeeded but getent passwd ${user} finds nothing`);
  }
  for (const [file, flag] of [
    ["/etc/subuid", "--add-subuids"],
    ["/etc/subgid", "--add-subgids"],
  ]) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (text.split("\n").some((l) => l.startsWith(`${user}:`))) continue;
    const start = nextFreeSubordinateStart(text);
    say(`adding a subordinate id range for ${user} to ${file} (usermod ${flag} ${start}-${start + 65535})`);
    await runChecked(["usermod", flag, `${start}-${start + 65535}`, user]);
  }
  return entry;
}

function nextFreeSubordinateStart(text) {
  let next = 100000;
  for (const line of text.split("\n")) {
    const [, start, count] = line.split(":");
    if (start && count) next = Math.max(next, Number(start) + Number(count));
  }
  return next;
}

/** Writes ~/.sbuildrc of the build user when its content differs. */
export function ensureSbuildrc(entry, say) {
  const file = join(entry.home, ".sbuildrc");
  if (existsSync(file) && readFileSync(file, "utf8") === SBUILDRC) {
    say(`${file}: up to date`);
    return file;
  }
  say(`writing ${file} (unshare mode; lintian, autopkgtest, piuparts off)`);
  writeFileSync(file, SBUILDRC, { mode: 0o644 });
  return file;
}

/** Runs argv as the build user (runuser sets HOME, USER and LOGNAME to the user's). */
export function asUser(user, argv, options = {}) {
  return runCommand(["runuser", "-u", user, "--", ...argv], options);
}

/** Makes a directory (and its parents) owned by the build user. */
export async function mkdirForUser(entry, dir) {
  mkdirSync(dir, { recursive: true });
  await runChecked(["chown", `${entry.uid}:${entry.gid}`, dir]);
}

/**
 * Makes sure ~/.cache/sbuild/SUITE-ARCH.tar.zst exists (the file name sbuild's unshare mode looks
 * for), creating it with mmdebstrap as the build user when it is missing or `refresh` is set.
 * Written under a temporary name and renamed, so an interrupted run never leaves half a tarball.
 * Returns { path, createdSeconds (null when reused), ageHours, bytes }.
 */
export async function ensureBaseTarball({ entry, suite, arch, mirror, refresh, logFile, say }) {
  const path = join(entry.home, ".cache", "sbuild", `${suite}-${arch}.tar.zst`);
  let createdSeconds = null;
  if (existsSync(path) && !refresh) {
    const ageHours = (Date.now() - statSync(path).mtimeMs) / 3.6e6;
    say(`base tarball ${path}: exists (${ageHours.toFixed(1)} h old; --refresh-tarball makes a new one)`);
  } else {
    for (const dir of [join(entry.home, ".cache"), dirname(path)]) await mkdirForUser(entry, dir);
    const tmp = join(dirname(path), `${suite}-${arch}.tmp-${process.pid}.tar.zst`);
    say(`creating base tarball ${path} with mmdebstrap --mode=unshare --variant=buildd ${suite} (as ${entry.name}; log ${logFile})`);
    const r = await asUser(
      entry.name,
      ["mmdebstrap", "--mode=unshare", "--variant=buildd", `--architectures=${arch}`, suite, tmp, mirror],
      {
        cwd: entry.home,
        logFile,
      },
    );
    if (r.code !== 0) {
      rmSync(tmp, { force: true });
      throw new Error(`mmdebstrap exited with ${r.code}; see ${logFile}`);
    }
    renameSync(tmp, path);
    createdSeconds = r.seconds;
    say(`base tarball created in ${r.seconds.toFixed(1)} s`);
  }
  const st = statSync(path);
  return { path, createdSeconds, ageHours: (Date.now() - st.mtimeMs) / 3.6e6, bytes: st.size };
}

/** sbuild's version string (first line of `sbuild --version`), or null. */
export async function sbuildVersion() {
  const r = await runCommand(["sbuild", "--version"]).catch(() => undefined);
  if (r?.code !== 0) return null;
  return r.stdout.split("\n")[0].trim() || null;
}

/**
 * Everything sbuild needs here, idempotently: its Debian packages, the unprivileged build user, its
 * ~/.sbuildrc and the suite's base tarball. Returns { entry, tarball, sbuildVersion }.
 */
export async function prepareSbuild({ user, suite, arch, mirror, refresh, logFile, say }) {
  await ensureDebianPackages(SBUILD_PACKAGES, say);
  const entry = await ensureBuildUser(user, say);
  ensureSbuildrc(entry, say);
  const tarball = await ensureBaseTarball({ entry, suite, arch, mirror, refresh, logFile, say });
  return { entry, tarball, sbuildVersion: await sbuildVersion() };
}

/** The key: value lines of the Summary section of sbuild's own .build log in `dir`. */
export function sbuildSummary(dir) {
  const out = {};
  const name = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith(".build")) : undefined;
  if (!name) return out;
  out.logFile = join(dir, name);
  const text = readFileSync(out.logFile, "utf8");
  const summary = text.slice(text.lastIndexOf("| Summary"));
  for (const m of summary.matchAll(/^([A-Z][A-Za-z-]+): (.*)$/gm)) out[m[1]] = m[2].trim();
  return out;
}
