import { createHash } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "@debian-bootc/core";
import type { BootTestRecord } from "../boot/test-phase.js";
import { moduleDirHash } from "../code-hash.js";
import type { ImageRecord } from "../compose/compose-state.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { type OutputsRecord, recordOutputs, takeOverPrevious } from "../compose/previous-compose.js";
import type { BootloaderSettings } from "../definition.js";
import { composeError } from "../errors.js";
import { channelRef } from "../ostree/ostree-phase.js";
import { runrootProfile } from "../ostree/runroot.js";
import { updateRemoteName } from "../rootfs/customize.js";
import { openTextLog } from "../rootfs/text-log.js";
import { canonicalJson } from "../rootfs/tree-key.js";
import { buildDiskImage, type DiskImageFile } from "./disk-image.js";
import { parseSize } from "./gpt-layout.js";

export const DEFAULT_DISK_SIZE = "4G";

/** What the image-build phase leaves in the run's state (the test phase boots these). */
export interface DiskImageRecord {
  variant: string;
  arch: string;
  files: DiskImageFile[];
  rootUuid: string;
  osName: string;
  /** The deployment's origin: the update channel's remote and ref (the compose's ref without a channel). */
  remote: string;
  ref: string;
  commit: string;
  /** How it boots (the test phase picks the firmware to boot it with from this). */
  secureBoot: boolean;
  firmware: "uefi" | "bios" | "hybrid";
  durationMs: number;
  /** Its marker boot when it was booted where it was made (an image task's builder): the test phase takes it instead of booting it again. */
  markerBoot?: BootTestRecord;
}

/** The host's tools that write into a disk image (partition table, ESP, qcow2), by their Debian package. */
const HOST_DISK_TOOLS = ["gdisk", "dosfstools", "mtools", "qemu-utils"] as const;

/**
 * Everything a disk image is made from: the commit it deploys (which pins the whole tree), every option of
 * buildDiskImage, the file names, the runroot's profile, the host tools' versions and the code that makes
 * it (this folder and the runroot's). Equal keys make equal images (but for the random root UUID).
 */
export interface DiskImageKeyInputs {
  code: string[];
  hostTools: string;
  profile: string;
  commit: string;
  ref: string;
  osName: string;
  origin: { remote: string; ref: string };
  kargs: readonly string[];
  boot: Pick<BootloaderSettings, "secureBoot" | "firmware">;
  size: number;
  files: { raw?: string; qcow2?: string };
}

export function diskImageKey(inputs: DiskImageKeyInputs): string {
  return createHash("sha256").update(canonicalJson(inputs)).digest("hex");
}

/** What work/<arch>/<variant>/disk-key.json records beside the images: enough to hand them on unchanged. */
interface DiskImagesRecord extends OutputsRecord {
  rootUuid: string;
  /** mtimeMs: a file written in place since (a machine booted from it) keeps its size but not its mtime. */
  files: Array<{ name: string; format: DiskImageFile["format"]; size: number; mtimeMs: number; sha256: string }>;
}

const diskKeyFile = (variant: string, arch: string) => join("work", arch, variant, "disk-key.json");

let hostToolVersions: Promise<string> | undefined;
/** `package=version` of HOST_DISK_TOOLS, once per process. */
function hostDiskTools(ctx: Pick<PhaseContext, "logger" | "signal">): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format fields
  const format = "${Package}=${Version}\n";
  hostToolVersions ??= run("dpkg-query", ["-W", "-f", format, ...HOST_DISK_TOOLS], {
    logger: ctx.logger,
    signal: ctx.signal,
  }).then(
    (r) => r.stdout,
    (error: Error) => {
      hostToolVersions = undefined;
      throw error;
    },
  );
  return hostToolVersions;
}

function diskCode(): Promise<string[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  return Promise.all([moduleDirHash(here), moduleDirHash(join(here, "..", "ostree"))]);
}

/**
 * The previous compose's disk images when they were made from the same key, hard-linked here; undefined
 * when there are none or a file is not the one recorded (its size or mtime changed).
 */
export async function reuseDiskImages(
  ctx: Pick<PhaseContext, "composeDir" | "definition" | "logger" | "signal">,
  variant: string,
  arch: string,
  key: string,
  names: readonly string[],
): Promise<{ record: DiskImagesRecord; from: string } | undefined> {
  const images = join("compose", variant, arch, "images");
  const taken = await takeOverPrevious<DiskImagesRecord>(
    ctx,
    diskKeyFile(variant, arch),
    key,
    names.map((n) => join(images, n)),
  );
  if (!taken) return undefined;
  const recorded = taken.record.files;
  const whole =
    recorded.length === names.length &&
    (await Promise.all(
      recorded.map((f) =>
        stat(join(ctx.composeDir, images, f.name)).then(
          (s) => names.includes(f.name) && s.size === f.size && s.mtimeMs === f.mtimeMs,
          () => false,
        ),
      ),
    ).then((ok) => ok.every(Boolean)));
  if (whole) return taken;
  ctx.logger.warn({ variant, arch, from: taken.from }, "the previous compose's disk images are not the ones it recorded: making them");
  // links to the previous compose's files: the image is written anew beside, never through them
  for (const path of [...names.map((n) => join(images, n)), diskKeyFile(variant, arch)])
    await rm(join(ctx.composeDir, path), { force: true });
  return undefined;
}

/**
 * The image-build phase: for every ostree commit of the compose, disk images in the formats the
 * definition's outputs ask for (raw, qcow2) under compose/<variant>/<arch>/images/, recorded with size,
 * format and SHA256 for images.json and SHA256SUMS. Images the previous compose made from the same key
 * (diskImageKey: same commit, options, tools and code) are taken over instead of made again.
 */
export function createImageBuildPhase(): Phase {
  return {
    name: "image-build",
    deliverable: "qcow2",
    async run(ctx) {
      const { definition } = ctx;
      const wantRaw = definition.outputs.includes("raw");
      const wantQcow2 = definition.outputs.includes("qcow2");
      if (!wantRaw && !wantQcow2) return;
      if (!definition.arches.every((a) => a === "amd64"))
        ctx.logger.warn({ arches: definition.arches }, "disk images are made for amd64 only");
      const commits = ctx.state.find("ostree");
      if (!commits?.length)
        throw composeError("PHASE_PREREQUISITE", "the image-build phase needs the ostree phase's commits in the same compose");
      const size = parseSize(definition.disk?.size ?? DEFAULT_DISK_SIZE);
      // the definition's validation refuses what disk images cannot do (xfs, no grub); this guards other callers
      if (definition.disk?.filesystem === "xfs")
        throw composeError("DISK_IMAGE_FAILED", "disk.filesystem xfs is not supported yet; use ext4");
      const { loaders, secureBoot, firmware } = definition.bootloader;
      if (!loaders.includes("grub")) {
        throw composeError("DISK_IMAGE_FAILED", `bootloader ${loaders.join(", ")}: disk images are made with GRUB only so far`, {
          hint: "set bootloader: grub (or a list that includes grub)",
        });
      }
      if (loaders.length > 1) ctx.logger.warn({ bootloader: loaders }, "disk images get GRUB; systemd-boot is not installed yet");
      const records: DiskImageRecord[] = [];
      const images: ImageRecord[] = [];
      for (const c of commits.filter((r) => r.arch === "amd64")) {
        const dir = join(ctx.composeDir, "compose", c.variant, c.arch, "images");
        const base = `${definition.name}-${c.variant}-${c.arch}-${definition.version}`;
        const names = { raw: wantRaw ? `${base}.raw` : undefined, qcow2: wantQcow2 ? `${base}.qcow2` : undefined };
        const origin = { remote: updateRemoteName(definition), ref: channelRef(definition, c.variant, c.arch) ?? c.ref };
        const profile = runrootProfile(definition.suite, c.arch);
        // what the image is made with, beside the commit: every one is in its key
        const settings = { ref: c.ref, osName: definition.name, origin, kargs: definition.kargs, boot: { secureBoot, firmware }, size };
        const key = diskImageKey({
          code: await diskCode(),
          hostTools: await hostDiskTools(ctx),
          profile,
          commit: c.commit,
          ...settings,
          files: names,
        });
        const started = Date.now();
        let made: { files: DiskImageFile[]; rootUuid: string; reusedFrom?: string; durations?: Record<string, number> };
        const taken = await reuseDiskImages(
          ctx,
          c.variant,
          c.arch,
          key,
          [names.raw, names.qcow2].filter((n) => n !== undefined),
        );
        if (taken) {
          made = {
            files: taken.record.files.map((f) => ({ path: join(dir, f.name), format: f.format, size: f.size, sha256: f.sha256 })),
            rootUuid: taken.record.rootUuid,
            reusedFrom: taken.from,
          };
          ctx.emit({
            phase: "image-build",
            kind: "note",
            text: `${c.variant}/${c.arch}: disk images of ${taken.from} reused (same commit)`,
          });
        } else {
          const log = await openTextLog(join(ctx.composeDir, "logs", `image-build-${c.variant}-${c.arch}.log`));
          await mkdir(dir, { recursive: true });
          try {
            const result = await buildDiskImage({
              repo: c.repo,
              ...settings,
              workDir: join(ctx.composeDir, "work", c.arch, c.variant, "disk"),
              raw: names.raw ? join(dir, names.raw) : undefined,
              qcow2: names.qcow2 ? join(dir, names.qcow2) : undefined,
              profile,
              logger: ctx.logger.child({ variant: c.variant, arch: c.arch }),
              signal: ctx.signal,
              onOutput: (chunk) => log.write(chunk),
            });
            made = result;
          } finally {
            await log.close();
          }
          await recordOutputs<DiskImagesRecord>(ctx.composeDir, diskKeyFile(c.variant, c.arch), {
            key,
            rootUuid: made.rootUuid,
            files: await Promise.all(
              made.files.map(async (f) => ({
                name: relative(dir, f.path),
                format: f.format,
                size: f.size,
                mtimeMs: (await stat(f.path)).mtimeMs,
                sha256: f.sha256,
              })),
            ),
          });
        }
        const record: DiskImageRecord = {
          variant: c.variant,
          arch: c.arch,
          files: made.files,
          rootUuid: made.rootUuid,
          osName: definition.name,
          remote: origin.remote,
          ref: origin.ref,
          commit: c.commit,
          secureBoot,
          firmware,
          durationMs: Date.now() - started,
        };
        records.push(record);
        ctx.logger.info(
          { ...record, key, ...(made.reusedFrom ? { reusedFrom: made.reusedFrom } : { durations: made.durations }) },
          made.reusedFrom ? `disk images of the same commit taken over from ${made.reusedFrom}` : "disk images written",
        );
        for (const f of made.files) {
          images.push({
            variant: c.variant,
            arch: c.arch,
            type: f.format,
            path: relative(ctx.composeDir, f.path),
            format: f.format,
            digest: `sha256:${f.sha256}`,
            sha256: f.sha256,
            ...({ size: f.size } as object),
          });
        }
      }
      ctx.state.set("disk-images", records);
      ctx.state.addImages(images);
    },
  };
}
