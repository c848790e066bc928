import { lstat, mkdir, readFile, readlink, rename, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { composeError } from "../errors.js";
import { listSorted, pathKind } from "../tree-entries.js";

/**
 * The Debian-for-ostree fixes applied to an installed root tree, as plain file operations (no chroot):
 * the kernel under /usr/lib/modules/$KVER, an empty /boot, the dpkg database under /usr with a tmpfiles
 * link, /home /root /opt /srv /mnt /usr/local as links into /var, and /var emptied with everything it
 * held recreated at boot by a tmpfiles.d file (directories and links as d/L lines, files copied from
 * /usr/share/factory with C lines). /etc stays where it is: the ostree commit moves it to /usr/etc.
 */

export const DPKG_SYSIMAGE_DIR = "usr/lib/sysimage/dpkg";
export const VAR_TMPFILES = "usr/lib/tmpfiles.d/deb-bootc-var.conf";
export const FACTORY_DIR = "usr/share/factory";

/** Top-level directories that live under /var on an ostree system: path in the tree -> link target and /var path. */
export const VAR_HOMED_DIRS: ReadonlyArray<{ path: string; varPath: string; link: string; mode: string }> = [
  { path: "home", varPath: "var/home", link: "var/home", mode: "0755" },
  { path: "root", varPath: "var/roothome", link: "var/roothome", mode: "0700" },
  { path: "opt", varPath: "var/opt", link: "var/opt", mode: "0755" },
  { path: "srv", varPath: "var/srv", link: "var/srv", mode: "0755" },
  { path: "mnt", varPath: "var/mnt", link: "var/mnt", mode: "0755" },
  { path: "usr/local", varPath: "var/usrlocal", link: "../var/usrlocal", mode: "0755" },
];

/** Regenerable state dropped instead of carried into /var (caches, logs, backups of databases). */
const DROPPED = [
  /^var\/cache\/apt\/.+\.bin$/,
  /^var\/cache\/apt\/archives\/.+\.deb$/,
  /^var\/lib\/apt\/lists\/(?!partial$|lock$).+/,
  /^var\/log\/.+\.log$/,
  /^var\/log\/apt\/(eipp\.log\.xz|history\.log|term\.log)$/,
  /^var\/log\/(btmp|wtmp|lastlog|faillog)$/,
  /^var\/cache\/debconf\/.+-old$/,
  /^var\/cache\/debconf\/tmp\.ci$/,
  /^var\/cache\/ldconfig\/aux-cache$/,
  /^var\/lib\/systemd\/random-seed$/,
  /^var\/lib\/dbus\/machine-id$/,
  /^var\/backups\/.+/,
];

/** Move `from` to `to`; when `to` is an existing directory, merge `from`'s entries into it recursively. */
async function moveMerge(from: string, to: string): Promise<void> {
  const target = await pathKind(to);
  if (target === undefined) {
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
    return;
  }
  if (target === "directory" && (await pathKind(from)) === "directory") {
    for (const entry of await listSorted(from)) await moveMerge(join(from, entry), join(to, entry));
    await rmdir(from);
    return;
  }
  throw composeError("ROOTFS_LAYOUT_FAILED", `cannot move ${from} to ${to}: the target exists and is not a directory to merge into`);
}

export interface KernelInstall {
  kver: string;
  vmlinuz: string;
}

/**
 * Exactly one kernel: /boot/vmlinuz-KVER moved to usr/lib/modules/KVER/vmlinuz (the config beside it),
 * the rest of /boot and the /vmlinuz and /initrd.img links removed. Fails unless exactly one kernel.
 */
export async function installKernel(root: string): Promise<KernelInstall> {
  const inBoot = (await listSorted(join(root, "boot"))).filter((e) => e.startsWith("vmlinuz-")).map((e) => e.slice("vmlinuz-".length));
  const inModules: string[] = [];
  for (const kver of await listSorted(join(root, "usr/lib/modules"))) {
    if ((await pathKind(join(root, "usr/lib/modules", kver, "vmlinuz"))) === "file") inModules.push(kver);
  }
  const kvers = [...new Set([...inBoot, ...inModules])].sort();
  if (kvers.length !== 1) {
    throw composeError(
      "KERNEL_COUNT",
      kvers.length === 0
        ? `${root}: no kernel installed (no /boot/vmlinuz-* and no usr/lib/modules/*/vmlinuz)`
        : `${root}: ${kvers.length} kernels installed (${kvers.join(", ")}); an ostree image needs exactly one`,
      { hint: "list exactly one kernel package (kernel.package in the definition) and nothing that pulls in another" },
    );
  }
  const kver = kvers[0]!;
  const modules = join(root, "usr/lib/modules", kver);
  if ((await pathKind(join(modules, "modules.dep"))) === undefined && (await pathKind(join(modules, "kernel"))) === undefined) {
    throw composeError("KERNEL_COUNT", `${root}: kernel ${kver} has no modules in usr/lib/modules/${kver}`);
  }
  if (inBoot.includes(kver)) await rename(join(root, "boot", `vmlinuz-${kver}`), join(modules, "vmlinuz"));
  if ((await pathKind(join(root, "boot", `config-${kver}`))) === "file")
    await rename(join(root, "boot", `config-${kver}`), join(modules, "config"));
  await emptyDirectory(join(root, "boot"));
  for (const entry of await listSorted(root)) {
    if (/^(vmlinuz|initrd\.img)(\.old)?$/.test(entry) && (await pathKind(join(root, entry))) === "symlink") await rm(join(root, entry));
  }
  return { kver, vmlinuz: `usr/lib/modules/${kver}/vmlinuz` };
}

async function emptyDirectory(path: string): Promise<void> {
  for (const entry of await listSorted(path)) await rm(join(path, entry), { recursive: true, force: true });
}

/** Paths tmpfiles.d already declares in the tree (second field of every line), without the leading slash. */
export async function declaredTmpfilesPaths(root: string): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const dir of ["usr/lib/tmpfiles.d", "etc/tmpfiles.d"]) {
    for (const file of await listSorted(join(root, dir))) {
      if (!file.endsWith(".conf") || `${dir}/${file}` === VAR_TMPFILES) continue;
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

/** uid -> user name and gid -> group name from the tree's /etc/passwd and /etc/group. */
async function idNames(root: string): Promise<{ user: Map<number, string>; group: Map<number, string> }> {
  const read = async (file: string) => {
    const map = new Map<number, string>();
    const text = await readFile(join(root, "etc", file), "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      const [name, , id] = line.split(":");
      if (name && id !== undefined && /^\d+$/.test(id)) map.set(Number(id), name);
    }
    return map;
  };
  return { user: await read("passwd"), group: await read("group") };
}

/** A tmpfiles.d path field: spaces and backslashes escaped as the format wants. */
function tmpfilesPath(path: string): string {
  return path.replace(/\\/g, "\\\\").replace(/\s/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export interface VarConversion {
  /** tmpfiles.d lines written (directories, links, copied files). */
  lines: string[];
  /** Files copied to /usr/share/factory/var and recreated with C lines. */
  factoryFiles: number;
  /** Files dropped as regenerable state (caches, logs). */
  dropped: string[];
}

/**
 * Record /var's content as tmpfiles.d lines (skipping paths other tmpfiles.d files declare), move its
 * files to /usr/share/factory/var, then empty /var.
 */
export async function convertVar(root: string): Promise<VarConversion> {
  const declared = await declaredTmpfilesPaths(root);
  const names = await idNames(root);
  const owner = (uid: number, gid: number) => `${names.user.get(uid) ?? uid} ${names.group.get(gid) ?? gid}`;
  const lines: string[] = [];
  const dropped: string[] = [];
  let factoryFiles = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of await listSorted(join(root, rel))) {
      const child = `${rel}/${name}`;
      const path = join(root, child);
      const st = await lstat(path);
      if (DROPPED.some((re) => re.test(child))) {
        dropped.push(child);
        continue;
      }
      const isDeclared = declared.has(child);
      if (st.isDirectory()) {
        if (!isDeclared)
          lines.push(`d /${tmpfilesPath(child)} ${(st.mode & 0o7777).toString(8).padStart(4, "0")} ${owner(st.uid, st.gid)} -`);
        await walk(child);
      } else if (st.isSymbolicLink()) {
        if (!isDeclared) lines.push(`L /${tmpfilesPath(child)} - - - - ${await readlink(path)}`);
      } else if (st.isFile()) {
        if (isDeclared) continue;
        const factory = join(root, FACTORY_DIR, child);
        await mkdir(dirname(factory), { recursive: true });
        await rename(path, factory);
        factoryFiles++;
        lines.push(`C /${tmpfilesPath(child)} - - - - /${tmpfilesPath(`${FACTORY_DIR}/${child}`)}`);
      } else {
        throw composeError(
          "ROOTFS_LAYOUT_FAILED",
          `${path}: /var holds a special file (socket, device or fifo) that cannot go into an image`,
        );
      }
    }
  };
  await walk("var");
  await emptyDirectory(join(root, "var"));
  const header = [
    "# Written by deb-bootc-compose: what the image's package installation left in /var.",
    "# An ostree deployment gets an empty /var; this recreates it at boot. Files come from /usr/share/factory.",
  ];
  await mkdir(join(root, dirname(VAR_TMPFILES)), { recursive: true });
  await writeFile(join(root, VAR_TMPFILES), `${[...header, ...lines].join("\n")}\n`, { mode: 0o644 });
  return { lines, factoryFiles, dropped };
}

export interface OstreeLayoutResult {
  var: VarConversion;
  /** The top-level directories turned into links into /var. */
  linked: string[];
}

/**
 * Everything but the kernel: dpkg database under /usr with its tmpfiles link, the /var-homed
 * directories, /var itself, /media as a link into /run, /sysroot and the /ostree link, empty /dev /run
 * /tmp /boot.
 */
export async function applyOstreeLayout(root: string): Promise<OstreeLayoutResult> {
  if ((await pathKind(join(root, "var/lib/dpkg"))) === "directory") {
    for (const old of await listSorted(join(root, "var/lib/dpkg"))) {
      if (old.endsWith("-old")) await rm(join(root, "var/lib/dpkg", old));
    }
    await moveMerge(join(root, "var/lib/dpkg"), join(root, DPKG_SYSIMAGE_DIR));
  }
  const linked: string[] = [];
  for (const dir of VAR_HOMED_DIRS) {
    const path = join(root, dir.path);
    const k = await pathKind(path);
    if (k === "symlink") continue;
    if (k === "directory") await moveMerge(path, join(root, dir.varPath));
    else await mkdir(join(root, dir.varPath), { recursive: true, mode: Number.parseInt(dir.mode, 8) });
    await symlink(dir.link, path);
    linked.push(dir.path);
  }
  if ((await pathKind(join(root, "media"))) === "directory") {
    if ((await listSorted(join(root, "media"))).length > 0)
      throw composeError("ROOTFS_LAYOUT_FAILED", `${root}/media is not empty; on an ostree system it is a link to /run/media`);
    await rmdir(join(root, "media"));
  }
  if ((await pathKind(join(root, "media"))) === undefined) await symlink("run/media", join(root, "media"));
  const varResult = await convertVar(root);
  // the dpkg link is appended after the conversion so that /var/lib/dpkg itself is never declared as a directory
  const dpkgLink = "L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg";
  await writeFile(join(root, VAR_TMPFILES), `${await readFile(join(root, VAR_TMPFILES), "utf8")}${dpkgLink}\n`);
  varResult.lines.push(dpkgLink);
  for (const dir of ["dev", "run", "tmp", "boot"]) {
    await mkdir(join(root, dir), { recursive: true });
    await emptyDirectory(join(root, dir));
  }
  await mkdir(join(root, "sysroot"), { recursive: true });
  if ((await pathKind(join(root, "ostree"))) === undefined) await symlink("sysroot/ostree", join(root, "ostree"));
  return { var: varResult, linked };
}
