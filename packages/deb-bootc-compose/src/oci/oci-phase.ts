import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashFileWith } from "@debian-bootc/debian";
import { moduleDirHash } from "../code-hash.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { type OutputsRecord, recordOutputs, takeOverPrevious } from "../compose/previous-compose.js";
import { imageReference } from "../definition.js";
import { imageIds } from "../rootfs/chroot.js";
import { rootTrees } from "../rootfs/rootfs-phase.js";
import { canonicalJson } from "../rootfs/tree-key.js";
import { writeOciImage } from "./image-writer.js";
import { writeOciArchive } from "./oci-archive.js";
import { readXattrs } from "./rootfs-scan.js";

/** The OCI writer's own modules: any change to how images are written stops layout reuse. */
function ociWriterHash(): Promise<string> {
  return moduleDirHash(dirname(fileURLToPath(import.meta.url)));
}

/** work/<arch>/<variant>/oci-key.json: what the layout (and archive) of a variant/arch were written from. */
function ociKeyFile(variant: string, arch: string): string {
  return join("work", arch, variant, "oci-key.json");
}

/** What oci-key.json records beside the layout: the key, the tree, the archive's SHA256 (for the metadata). */
interface OciOutputsRecord extends OutputsRecord {
  treeId?: string;
  archiveSha256?: string;
}

/** The archive with its SHA256 in the run's images, so that the metadata phase need not hash it again. */
function recordArchive(ctx: PhaseContext, tree: { variant: string; arch: string }, name: string, sha256: string | undefined): void {
  const path = join("compose", tree.variant, tree.arch, name);
  ctx.state.addImages([
    { variant: tree.variant, arch: tree.arch, type: "ociarchive", format: "oci-archive", path, ...(sha256 ? { sha256 } : {}) },
  ]);
}

/**
 * The oci phase: each tree as an OCI image layout (and .ociarchive when wanted) under compose/<variant>/<arch>/.
 * When the tree is the one the previous compose wrote its image from (the rootfs cache's tree ID) and
 * nothing else that goes into the image changed, that compose's layout and archive are taken over.
 */
export const ociPhase: Phase = {
  name: "oci",
  async run(ctx) {
    const { definition } = ctx;
    if (!definition.outputs.includes("oci")) return;
    const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0) || 0;
    const ref = imageReference(definition);
    const details = ctx.state.find("rootfs-details") ?? [];
    for (const tree of rootTrees(ctx)) {
      const dir = join(ctx.composeDir, "compose", tree.variant, tree.arch);
      const layout = join(dir, "oci");
      const archiveName = `${definition.name}-${tree.variant}.ociarchive`;
      const wantArchive = definition.outputs.includes("ociarchive");
      const treeId = details.find((d) => d.variant === tree.variant && d.arch === tree.arch)?.treeId;
      // what the image is written with; with the tree and the writer's code it is the key of a reusable layout
      const imageOptions = {
        tag: ref.tag,
        arch: tree.arch,
        sourceDateEpoch: epoch,
        version: definition.version,
        title: ref.name,
        labels: definition.image?.labels,
        annotations: definition.image?.annotations,
        maxLayers: definition.image?.maxLayers,
        compression: definition.image?.compression,
      };
      const key = treeId
        ? createHash("sha256")
            .update(
              canonicalJson({ treeId, writer: await ociWriterHash(), ...imageOptions, archive: wantArchive ? archiveName : undefined }),
            )
            .digest("hex")
        : undefined;
      if (key) {
        const started = Date.now();
        const base = join("compose", tree.variant, tree.arch);
        const outputs = [join(base, "oci"), ...(wantArchive ? [join(base, archiveName)] : [])];
        const taken = await takeOverPrevious<OciOutputsRecord>(ctx, ociKeyFile(tree.variant, tree.arch), key, outputs);
        if (taken) {
          if (wantArchive) recordArchive(ctx, tree, archiveName, taken.record.archiveSha256);
          const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
          ctx.logger.info(
            {
              variant: tree.variant,
              arch: tree.arch,
              manifest: index.manifests[0]?.digest,
              key,
              treeId,
              reusedFrom: taken.from,
              durationMs: Date.now() - started,
            },
            `image of the same tree taken over from ${taken.from}`,
          );
          ctx.emit({
            phase: "oci",
            kind: "note",
            text: `${tree.variant}/${tree.arch}: image ${index.manifests[0]?.digest.slice(0, 19)} of ${taken.from} reused (same tree)`,
          });
          continue;
        }
      }
      const ids = await imageIds();
      const result = await writeOciImage({
        rootfs: tree.path,
        layout,
        ...imageOptions,
        // the tree is owned by the sandbox's subordinate range on disk; layers carry the image's own owners
        ids,
        xattrs: await readXattrs(tree.path, { ids, logger: ctx.logger, signal: ctx.signal }),
        logger: ctx.logger,
        signal: ctx.signal,
      });
      ctx.logger.info(
        { variant: tree.variant, arch: tree.arch, manifest: result.manifest.digest, layers: result.layers.length },
        "image written",
      );
      let archiveSha256: string | undefined;
      if (wantArchive) {
        await writeOciArchive(layout, join(dir, archiveName), epoch, ctx.signal);
        archiveSha256 = (await hashFileWith(join(dir, archiveName), ["sha256"])).sha256;
        recordArchive(ctx, tree, archiveName, archiveSha256);
      }
      // recorded last: a compose killed before this point never offers its layout for reuse
      if (key) await recordOutputs<OciOutputsRecord>(ctx.composeDir, ociKeyFile(tree.variant, tree.arch), { key, treeId, archiveSha256 });
    }
  },
};
