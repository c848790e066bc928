import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { listSorted, pathKind } from "../tree-entries.js";

/**
 * Checks over a bootc image's root tree, the Debian equivalents of `bootc container lint`: they run
 * on a directory (an unpacked image or the compose's rootfs), never boot anything, and report every
 * check with a severity; any failed error-severity check fails the compose.
 */

export type LintSeverity = "error" | "warning";

export interface LintResult {
  check: string;
  severity: LintSeverity;
  ok: boolean;
  message: string;
  /** Offending paths or names, at most 20. */
  items?: string[];
}

export interface LintReport {
  root: string;
  results: LintResult[];
  errors: number;
  warnings: number;
}

const MAX_ITEMS = 20;

/** Every path under `dir` (relative to root), depth first; names as raw bytes so non-UTF-8 ones survive. */
async function walkBytes(root: string, visit: (rel: Buffer[], isDir: boolean) => void): Promise<void> {
  const recurse = async (parts: Buffer[]) => {
    const dir = Buffer.concat([Buffer.from(root), ...parts.flatMap((p) => [Buffer.from("/"), p])]);
    let names: Buffer[];
    try {
      names = (await readdir(dir, { encoding: "buffer" })).sort(Buffer.compare);
    } catch {
      return;
    }
    for (const name of names) {
      const child = [...parts, name];
      const path = Buffer.concat([dir, Buffer.from("/"), name]);
      const st = await lstat(path);
      visit(child, st.isDirectory());
      if (st.isDirectory()) await recurse(child);
    }
  };
  await recurse([]);
}

function result(check: string, severity: LintSeverity, problems: string[], okMessage: string, failMessage: string): LintResult {
  return {
    check,
    severity,
    ok: problems.length === 0,
    message: problems.length === 0 ? okMessage : failMessage,
    ...(problems.length === 0 ? {} : { items: problems.slice(0, MAX_ITEMS) }),
  };
}

async function checkKernel(root: string): Promise<LintResult[]> {
  const modules = join(root, "usr/lib/modules");
  const kernels: string[] = [];
  const withoutInitramfs: string[] = [];
  for (const kver of await listSorted(modules)) {
    if ((await pathKind(join(modules, kver, "vmlinuz"))) === "file") {
      kernels.push(kver);
      if ((await pathKind(join(modules, kver, "initramfs.img"))) !== "file") withoutInitramfs.push(kver);
    }
  }
  const one: LintResult =
    kernels.length === 1
      ? { check: "kernel", severity: "error", ok: true, message: `one kernel: ${kernels[0]}` }
      : {
          check: "kernel",
          severity: "error",
          ok: false,
          message:
            kernels.length === 0
              ? "no kernel: expected exactly one usr/lib/modules/KVER/vmlinuz"
              : `${kernels.length} kernels: expected exactly one usr/lib/modules/KVER/vmlinuz`,
          ...(kernels.length > 0 ? { items: kernels } : {}),
        };
  const initramfs = result(
    "initramfs",
    "error",
    withoutInitramfs,
    "every kernel has usr/lib/modules/KVER/initramfs.img",
    "kernel without usr/lib/modules/KVER/initramfs.img",
  );
  return [one, initramfs];
}

async function checkBootEmpty(root: string): Promise<LintResult> {
  const entries = await listSorted(join(root, "boot"));
  return result(
    "boot-empty",
    "error",
    entries.map((e) => `boot/${e}`),
    "/boot is empty",
    "/boot must be empty in an image (ostree fills it at deploy time)",
  );
}

async function checkEtc(root: string): Promise<LintResult> {
  const etc = await pathKind(join(root, "etc"));
  const usrEtc = await pathKind(join(root, "usr/etc"));
  const problems = etc === "directory" && usrEtc === "directory" ? ["etc", "usr/etc"] : [];
  return result(
    "etc-usretc",
    "error",
    problems,
    "only one of /etc and /usr/etc",
    "both /etc and /usr/etc exist: the image must carry its configuration in exactly one",
  );
}

async function checkApiDirectories(root: string): Promise<LintResult> {
  const problems: string[] = [];
  for (const dir of ["dev", "proc", "sys", "run", "tmp", "var", "usr", "etc"]) {
    const k = await pathKind(join(root, dir));
    const ok = k === "directory" || (dir === "etc" && (await pathKind(join(root, "usr/etc"))) === "directory");
    if (!ok) problems.push(`${dir} (${k ?? "missing"})`);
  }
  return result(
    "api-directories",
    "error",
    problems,
    "/dev /proc /sys /run /tmp /var /usr /etc are directories",
    "required top-level directories are missing or not directories",
  );
}

async function checkRunEmpty(root: string): Promise<LintResult[]> {
  const run = (await listSorted(join(root, "run"))).map((e) => `run/${e}`);
  const tmp = (await listSorted(join(root, "tmp"))).map((e) => `tmp/${e}`);
  return [
    result("run-empty", "error", run, "/run is empty", "/run must be empty: it is a tmpfs at boot and content there is hidden"),
    result("tmp-empty", "warning", tmp, "/tmp is empty", "/tmp has content that will be hidden or lost at boot"),
  ];
}

async function checkBaseimageRoot(root: string): Promise<LintResult> {
  const problems: string[] = [];
  if ((await pathKind(join(root, "sysroot"))) !== "directory") problems.push("sysroot (missing)");
  const link = await pathKind(join(root, "ostree"));
  if (link !== "symlink") problems.push(`ostree (${link ?? "missing"}, expected a symlink to sysroot/ostree)`);
  return result("baseimage-root", "error", problems, "/sysroot and the /ostree link are present", "the ostree base layout is incomplete");
}

async function checkUtf8(root: string): Promise<LintResult> {
  const problems: string[] = [];
  await walkBytes(root, (parts) => {
    const last = parts[parts.length - 1]!;
    if (!Buffer.from(last.toString("utf8"), "utf8").equals(last)) problems.push(parts.map((p) => p.toString("utf8")).join("/"));
  });
  return result(
    "utf8-names",
    "error",
    problems,
    "every file name is valid UTF-8",
    "file names that are not valid UTF-8 (ostree refuses them)",
  );
}

/** Directories declared by tmpfiles.d (d, D, v, q, Q, L, C lines): what /var may hold in an image. */
async function tmpfilesPaths(root: string): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const dir of ["usr/lib/tmpfiles.d", "etc/tmpfiles.d", "usr/etc/tmpfiles.d"]) {
    for (const file of await listSorted(join(root, dir))) {
      if (!file.endsWith(".conf")) continue;
      const text = await readFile(join(root, dir, file), "utf8").catch(() => "");
      for (const line of text.split("\n")) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 2 || fields[0]!.startsWith("#")) continue;
        paths.add(fields[1]!.replace(/^\/+/, "").replace(/\/+$/, ""));
      }
    }
  }
  return paths;
}

async function checkVar(root: string): Promise<LintResult> {
  const declared = await tmpfilesPaths(root);
  const problems: string[] = [];
  await walkBytes(join(root, "var"), (parts, isDir) => {
    const rel = `var/${parts.map((p) => p.toString("utf8")).join("/")}`;
    if (declared.has(rel)) return;
    // a directory is fine when tmpfiles.d declares it or something below it
    if (isDir && [...declared].some((d) => d.startsWith(`${rel}/`))) return;
    if (isDir && [...declared].some((d) => rel.startsWith(`${d}/`))) return;
    if (!isDir && [...declared].some((d) => rel.startsWith(`${d}/`))) return;
    problems.push(rel);
  });
  return result(
    "var-tmpfiles",
    "warning",
    problems,
    "everything in /var is declared by tmpfiles.d",
    "content in /var that no tmpfiles.d entry recreates: /var is only copied at first deployment, later images cannot change it",
  );
}

async function checkSysusers(root: string): Promise<LintResult> {
  const passwdPath = (await pathKind(join(root, "usr/etc/passwd"))) === "file" ? "usr/etc/passwd" : "etc/passwd";
  const passwd = await readFile(join(root, passwdPath), "utf8").catch(() => "");
  const declared = new Set<string>();
  for (const dir of ["usr/lib/sysusers.d", "etc/sysusers.d", "usr/etc/sysusers.d"]) {
    for (const file of await listSorted(join(root, dir))) {
      if (!file.endsWith(".conf")) continue;
      const text = await readFile(join(root, dir, file), "utf8").catch(() => "");
      for (const line of text.split("\n")) {
        const fields = line.trim().split(/\s+/);
        if (fields[0] === "u" || fields[0] === "u!") declared.add(fields[1] ?? "");
      }
    }
  }
  const problems = passwd
    .split("\n")
    .map((line) => line.split(":")[0] ?? "")
    .filter((user) => user !== "" && user !== "root" && !declared.has(user));
  return result(
    "sysusers",
    "warning",
    problems,
    "every user in /etc/passwd has a sysusers.d entry",
    "users without a sysusers.d entry: they exist only in this image's /etc/passwd, which a deployed system merges, not replaces",
  );
}

/** Run every check over a root tree. */
export async function lintImage(root: string): Promise<LintReport> {
  const results = [
    ...(await checkKernel(root)),
    await checkBootEmpty(root),
    await checkEtc(root),
    await checkApiDirectories(root),
    ...(await checkRunEmpty(root)),
    await checkBaseimageRoot(root),
    await checkUtf8(root),
    await checkVar(root),
    await checkSysusers(root),
  ];
  return {
    root,
    results,
    errors: results.filter((r) => !r.ok && r.severity === "error").length,
    warnings: results.filter((r) => !r.ok && r.severity === "warning").length,
  };
}
