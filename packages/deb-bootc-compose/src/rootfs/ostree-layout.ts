import { composeError } from "../errors.js";
import type { ImageRoot } from "./image-root.js";

/**
 * The Debian-for-ostree fixes applied to an installed root tree, as plain file operations (no chroot)
 * through ImageRoot (a symlink in the image never leads them out of the tree):
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

/** Move `from` to `to` (in-image paths); when `to` is an existing directory, merge `from`'s entries into it recursively. */
async function moveMerge(root: ImageRoot, from: string, to: string): Promise<void> {
  const target = await root.kind(to);
  if (target === undefined) {
    await root.rename(from, to);
    return;
  }
  if (target === "directory" && (await root.kind(from)) === "directory") {
    for (const entry of await root.list(from)) await moveMerge(root, `${from}/${entry}`, `${to}/${entry}`);
    await root.remove(from);
    return;
  }
  throw composeError(
    "ROOTFS_LAYOUT_FAILED",
    `cannot move /${from} to /${to} in ${root.root}: the target exists and is not a directory to merge into`,
  );
}

export interface KernelInstall {
  kver: string;
  vmlinuz: string;
}

/**
 * Exactly one kernel: /boot/vmlinuz-KVER moved to usr/lib/modules/KVER/vmlinuz (the config beside it),
 * the rest of /boot and the /vmlinuz and /initrd.img links removed. Fails unless exactly one kernel.
 */
export async function installKernel(root: ImageRoot): Promise<KernelInstall> {
  const inBoot = (await root.list("boot")).filter((e) => e.startsWith("vmlinuz-")).map((e) => e.slice("vmlinuz-".length));
  const inModules: string[] = [];
  for (const kver of await root.list("usr/lib/modules")) {
    if ((await root.kind(`usr/lib/modules/${kver}/vmlinuz`)) === "file") inModules.push(kver);
  }
  const kvers = [...new Set([...inBoot, ...inModules])].sort();
  if (kvers.length !== 1) {
    throw composeError(
      "KERNEL_COUNT",
      kvers.length === 0
        ? `${root.root}: no kernel installed (no /boot/vmlinuz-* and no usr/lib/modules/*/vmlinuz)`
        : `${root.root}: ${kvers.length} kernels installed (${kvers.join(", ")}); an ostree image needs exactly one`,
      { hint: "list exactly one kernel package (kernel.package in the definition) and nothing that pulls in another" },
    );
  }
  const kver = kvers[0]!;
  const modules = `usr/lib/modules/${kver}`;
  if ((await root.kind(`${modules}/modules.dep`)) === undefined && (await root.kind(`${modules}/kernel`)) === undefined) {
    throw composeError("KERNEL_COUNT", `${root.root}: kernel ${kver} has no modules in usr/lib/modules/${kver}`);
  }
  if (inBoot.includes(kver)) await root.rename(`boot/vmlinuz-${kver}`, `${modules}/vmlinuz`);
  if ((await root.kind(`boot/config-${kver}`)) === "file") await root.rename(`boot/config-${kver}`, `${modules}/config`);
  await root.emptyDirectory("boot");
  for (const entry of await root.list("/")) {
    if (/^(vmlinuz|initrd\.img)(\.old)?$/.test(entry) && (await root.kind(entry)) === "symlink") await root.remove(entry);
  }
  return { kver, vmlinuz: `usr/lib/modules/${kver}/vmlinuz` };
}

/** Paths tmpfiles.d already declares in the tree (second field of every line), without the leading slash. */
export async function declaredTmpfilesPaths(root: ImageRoot): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const dir of ["usr/lib/tmpfiles.d", "etc/tmpfiles.d"]) {
    for (const file of await root.list(dir)) {
      if (!file.endsWith(".conf") || `${dir}/${file}` === VAR_TMPFILES) continue;
      const text = (await root.readText(`${dir}/${file}`).catch(() => undefined)) ?? "";
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
async function idNames(root: ImageRoot): Promise<{ user: Map<number, string>; group: Map<number, string> }> {
  const read = async (file: string) => {
    const map = new Map<number, string>();
    const text = (await root.readText(`etc/${file}`)) ?? "";
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
export async function convertVar(root: ImageRoot): Promise<VarConversion> {
  const declared = await declaredTmpfilesPaths(root);
  const names = await idNames(root);
  const owner = (st: { uid: number; gid: number }) => {
    const { uid, gid } = root.imageOwner(st);
    return `${names.user.get(uid) ?? uid} ${names.group.get(gid) ?? gid}`;
  };
  const lines: string[] = [];
  const dropped: string[] = [];
  let factoryFiles = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of await root.list(rel)) {
      const child = `${rel}/${name}`;
      const st = await root.lstat(child);
      if (!st) continue;
      if (DROPPED.some((re) => re.test(child))) {
        dropped.push(child);
        continue;
      }
      const isDeclared = declared.has(child);
      if (st.isDirectory()) {
        if (!isDeclared) lines.push(`d /${tmpfilesPath(child)} ${(st.mode & 0o7777).toString(8).padStart(4, "0")} ${owner(st)} -`);
        await walk(child);
      } else if (st.isSymbolicLink()) {
        if (!isDeclared) lines.push(`L /${tmpfilesPath(child)} - - - - ${await root.readlink(child)}`);
      } else if (st.isFile()) {
        if (isDeclared) continue;
        await root.rename(child, `${FACTORY_DIR}/${child}`);
        factoryFiles++;
        lines.push(`C /${tmpfilesPath(child)} - - - - /${tmpfilesPath(`${FACTORY_DIR}/${child}`)}`);
      } else {
        throw composeError(
          "ROOTFS_LAYOUT_FAILED",
          `${root.root}/${child}: /var holds a special file (socket, device or fifo) that cannot go into an image`,
        );
      }
    }
  };
  await walk("var");
  await root.emptyDirectory("var");
  const header = [
    "# Written by deb-bootc-compose: what the image's package installation left in /var.",
    "# An ostree deployment gets an empty /var; this recreates it at boot. Files come from /usr/share/factory.",
  ];
  await root.writeFile(VAR_TMPFILES, `${[...header, ...lines].join("\n")}\n`, { mode: 0o644 });
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
export async function applyOstreeLayout(root: ImageRoot): Promise<OstreeLayoutResult> {
  if ((await root.kind("var/lib/dpkg")) === "directory") {
    for (const old of await root.list("var/lib/dpkg")) {
      if (old.endsWith("-old")) await root.remove(`var/lib/dpkg/${old}`);
    }
    await moveMerge(root, "var/lib/dpkg", DPKG_SYSIMAGE_DIR);
  }
  const linked: string[] = [];
  for (const dir of VAR_HOMED_DIRS) {
    const k = await root.kind(dir.path);
    if (k === "symlink") continue;
    if (k === "directory") await moveMerge(root, dir.path, dir.varPath);
    else await root.mkdirs(dir.varPath, { mode: Number.parseInt(dir.mode, 8) });
    await root.symlink(dir.link, dir.path);
    linked.push(dir.path);
  }
  if ((await root.kind("media")) === "directory") {
    if ((await root.list("media")).length > 0)
      throw composeError("ROOTFS_LAYOUT_FAILED", `${root.root}/media is not empty; on an ostree system it is a link to /run/media`);
    await root.remove("media");
  }
  if ((await root.kind("media")) === undefined) await root.symlink("run/media", "media");
  const varResult = await convertVar(root);
  // the dpkg link is appended after the conversion so that /var/lib/dpkg itself is never declared as a directory
  const dpkgLink = "L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg";
  await root.writeFile(VAR_TMPFILES, `${(await root.readText(VAR_TMPFILES)) ?? ""}${dpkgLink}\n`, { mode: 0o644 });
  varResult.lines.push(dpkgLink);
  for (const dir of ["dev", "run", "tmp", "boot"]) await root.emptyDirectory(dir, dir === "tmp" ? 0o1777 : 0o755);
  await root.mkdirs("sysroot");
  if ((await root.kind("ostree")) === undefined) await root.symlink("sysroot/ostree", "ostree");
  return { var: varResult, linked };
}
