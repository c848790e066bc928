import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "@debian-bootc/core";
import type { ComposeDefinition } from "../definition.js";
import type { PublicUpdateKey } from "../publish/signing-key.js";
import type { InstallPlan } from "./apt-sources.js";
import { imageIds, rangeWritableDirectory, runAsRangeRoot, runInRoot } from "./chroot.js";
import type { ContainersTrust } from "./containers-policy.js";
import { customizeTree } from "./customize.js";
import { ImageRoot } from "./image-root.js";
import { applyOstreeLayout, installKernel, type OstreeLayoutResult } from "./ostree-layout.js";

/** Package content an image does not need (dpkg path filters; copyright files stay). */
export const DPKG_PATH_FILTERS = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*",
];

/** /etc/apt/sources.list of an image installed from the compose's snapshot. */
export const SNAPSHOT_SOURCES_LIST = `# Written by deb-bootc-compose: this image's packages came from its compose's APT snapshot.
# Updates come as whole images (bootc/ostree); add APT sources here only for a mutable system.
`;

export interface BuildRootfsOptions {
  definition: ComposeDefinition;
  baseDir: string;
  variant: string;
  arch: string;
  plan: InstallPlan;
  /** The tree to create (must not exist or be empty). */
  path: string;
  logger: Logger;
  signal?: AbortSignal;
  /** Raw output of mmdebstrap, dracut and the scripts. */
  onOutput?: (chunk: Buffer) => void;
  sourceDateEpoch?: number;
  containersTrust?: ContainersTrust;
  /** The update channel's key the image trusts (default: the definition's update key, read here). */
  updateKey?: PublicUpdateKey;
}

export interface RootfsResult {
  path: string;
  kver: string;
  layout: OstreeLayoutResult;
  /** Milliseconds per step. */
  durations: Record<string, number>;
}

/**
 * Build one image root: mmdebstrap the package set (the kernel's own initramfs hook is switched off
 * with INITRD=No), apply the definition's customisations, move the kernel to /usr/lib/modules/$KVER,
 * build a generic (not host-only) initramfs with dracut, which picks up ostree's dracut module from
 * ostree-boot, then lay the tree out for ostree. mmdebstrap runs as the root of a user namespace mapped
 * to the caller's subordinate range and every later step in deb-mock's rootless sandbox (chroot.ts), so
 * the tree is owned by that range on disk and the host-side steps write through ImageRoot with its shift.
 */
export async function buildRootfs(options: BuildRootfsOptions): Promise<RootfsResult> {
  const { plan, logger, signal } = options;
  const durations: Record<string, number> = {};
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const value = await fn();
    durations[name] = Date.now() - started;
    logger.info({ step: name, durationMs: durations[name] }, `rootfs step ${name} done`);
    return value;
  };
  const epoch = String(options.sourceDateEpoch ?? (Number(process.env.SOURCE_DATE_EPOCH) || Math.floor(Date.now() / 1000)));
  const env = { ...process.env, INITRD: "No", SOURCE_DATE_EPOCH: epoch, DEBIAN_FRONTEND: "noninteractive" };
  const ids = await imageIds();
  const tree = new ImageRoot(options.path, { ids });
  await step("mmdebstrap", async () => {
    await rm(options.path, { recursive: true, force: true });
    await mkdir(dirname(options.path), { recursive: true });
    // the range's root makes the tree: its top directory must be its own
    await rangeWritableDirectory(options.path);
    const args = [
      `--variant=${plan.variant}`,
      // as the namespace's root mmdebstrap unshares mount, PID and the rest itself: a killed run leaves no mounts on the host
      "--mode=unshare",
      "--format=directory",
      `--architectures=${options.arch}`,
      ...plan.keyrings.map((k) => `--keyring=${k}`),
      ...DPKG_PATH_FILTERS.map((f) => `--dpkgopt=${f}`),
      ...(options.definition.recommends ? ['--aptopt=APT::Install-Recommends "true"'] : []),
      `--include=${plan.packages.join(",")}`,
      options.definition.suite,
      options.path,
      ...plan.sources,
    ];
    logger.info({ from: plan.from, mmdebstrapVariant: plan.variant, packages: plan.packages.length, sources: plan.sources }, "mmdebstrap");
    // TMPDIR (mmdebstrap's gpg home) beside the tree rather than in /tmp: what a killed mmdebstrap leaves
    // there, the next build of this tree removes
    const tmp = `${options.path}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await rangeWritableDirectory(tmp);
    try {
      // HOME: the host's /root is not the namespace root's to read
      await runAsRangeRoot("mmdebstrap", args, {
        env: { ...env, HOME: "/", TMPDIR: tmp },
        signal,
        logger,
        onOutput: options.onOutput,
        debianPackage: "mmdebstrap",
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    if (plan.from === "snapshot") {
      // mmdebstrap leaves its sources in the tree: the snapshot's path on this host, which the image
      // cannot reach and which differs per compose (a cached tree must not carry one compose's path)
      await tree.writeFile("etc/apt/sources.list", SNAPSHOT_SOURCES_LIST, { mode: 0o644 });
    }
  });
  await step("customize", () =>
    customizeTree({
      root: tree,
      definition: options.definition,
      baseDir: options.baseDir,
      logger,
      signal,
      onOutput: options.onOutput,
      env: { SOURCE_DATE_EPOCH: epoch },
      containersTrust: options.containersTrust,
      updateKey: options.updateKey,
    }),
  );
  const kernel = await step("kernel", () => installKernel(tree));
  await step("initramfs", async () => {
    if (options.definition.kernel.initramfs !== "dracut") return;
    await runInRoot(
      options.path,
      ["dracut", "--force", "--no-hostonly", "--reproducible", "--kver", kernel.kver, `/usr/lib/modules/${kernel.kver}/initramfs.img`],
      { signal, logger, onOutput: options.onOutput, env: { SOURCE_DATE_EPOCH: epoch } },
    );
  });
  const layout = await step("ostree-layout", () => applyOstreeLayout(tree));
  logger.info(
    {
      kver: kernel.kver,
      varLines: layout.var.lines.length,
      factoryFiles: layout.var.factoryFiles,
      dropped: layout.var.dropped.length,
      linked: layout.linked,
    },
    "tree laid out for ostree",
  );
  return { path: options.path, kver: kernel.kver, layout, durations };
}

/** The tree of a variant and arch inside a compose. */
export function rootfsPath(composeDir: string, variant: string, arch: string): string {
  return join(composeDir, "work", arch, variant, "rootfs");
}
