import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import type { ImageRecord } from "../compose/compose-state.js";
import type { Phase } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { channelRef } from "../ostree/ostree-phase.js";
import { runrootProfile } from "../ostree/runroot.js";
import { updateRemoteName } from "../rootfs/customize.js";
import { openTextLog } from "../rootfs/text-log.js";
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
}

/**
 * The image-build phase: for every ostree commit of the compose, disk images in the formats the
 * definition's outputs ask for (raw, qcow2) under compose/<variant>/<arch>/images/, recorded with size,
 * format and SHA256 for images.json and SHA256SUMS.
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
        const log = await openTextLog(join(ctx.composeDir, "logs", `image-build-${c.variant}-${c.arch}.log`));
        const started = Date.now();
        await mkdir(dir, { recursive: true });
        try {
          const origin = { remote: updateRemoteName(definition), ref: channelRef(definition, c.variant, c.arch) ?? c.ref };
          const result = await buildDiskImage({
            repo: c.repo,
            ref: c.ref,
            osName: definition.name,
            origin,
            kargs: definition.kargs,
            boot: { secureBoot, firmware },
            size,
            workDir: join(ctx.composeDir, "work", c.arch, c.variant, "disk"),
            raw: wantRaw ? join(dir, `${base}.raw`) : undefined,
            qcow2: wantQcow2 ? join(dir, `${base}.qcow2`) : undefined,
            profile: runrootProfile(definition.suite, c.arch),
            logger: ctx.logger.child({ variant: c.variant, arch: c.arch }),
            signal: ctx.signal,
            onOutput: (chunk) => log.write(chunk),
          });
          const record: DiskImageRecord = {
            variant: c.variant,
            arch: c.arch,
            files: result.files,
            rootUuid: result.rootUuid,
            osName: definition.name,
            remote: origin.remote,
            ref: origin.ref,
            commit: c.commit,
            secureBoot,
            firmware,
            durationMs: Date.now() - started,
          };
          records.push(record);
          ctx.logger.info({ ...record, durations: result.durations }, "disk images written");
          for (const f of result.files) {
            images.push({
              variant: c.variant,
              arch: c.arch,
              type: f.format,
              path: relative(ctx.composeDir, f.path),
              format: f.format,
              digest: `sha256:${f.sha256}`,
              ...({ size: f.size, sha256: f.sha256 } as object),
            });
          }
        } finally {
          await log.close();
        }
      }
      ctx.state.set("disk-images", records);
      ctx.state.addImages(images);
    },
  };
}
