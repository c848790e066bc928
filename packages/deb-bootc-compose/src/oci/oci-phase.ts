import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, writeFileAtomic } from "@debian-bootc/core";
import { moduleDirHash } from "../code-hash.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { previousComposeDir } from "../compose/previous-compose.js";
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
function ociKeyFile(composeDir: string, variant: string, arch: string): string {
  return join(composeDir, "work", arch, variant, "oci-key.json");
}

/**
 * Take over the previous compose's OCI layout (and archive) of a variant/arch when it was written from
 * the very same tree (the rootfs cache's tree ID) with the same options and writer: hard-link copies of
 * its files, which nothing modifies in place (index.json is replaced by rename). Returns the compose ID
 * it came from, or undefined when it cannot be reused.
 */
async function reuseOciOutputs(
  ctx: PhaseContext,
  variant: string,
  arch: string,
  key: string,
  outputs: Array<{ from: (dir: string) => string; to: string }>,
): Promise<string | undefined> {
  const previous = await previousComposeDir(ctx.composeDir, ctx.definition.name);
  if (!previous) return undefined;
  const recorded = await readFile(ociKeyFile(previous, variant, arch), "utf8").then(
    (t) => (JSON.parse(t) as { key?: string }).key,
    () => undefined,
  );
  if (recorded !== key) return undefined;
  for (const o of outputs) {
    await rm(o.to, { recursive: true, force: true });
    await mkdir(dirname(o.to), { recursive: true });
    try {
      await run("cp", ["-a", "--link", "--", o.from(previous), o.to], { signal: ctx.signal, logger: ctx.logger });
    } catch (error) {
      ctx.logger.info({ variant, arch, error: (error as Error).message }, "the previous compose's OCI output cannot be copied: writing it");
      for (const p of outputs) await rm(p.to, { recursive: true, force: true });
      return undefined;
    }
  }
  return previous.split("/").pop();
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
        const outputs = [{ from: (p: string) => join(p, "compose", tree.variant, tree.arch, "oci"), to: layout }];
        if (wantArchive)
          outputs.push({ from: (p) => join(p, "compose", tree.variant, tree.arch, archiveName), to: join(dir, archiveName) });
        const from = await reuseOciOutputs(ctx, tree.variant, tree.arch, key, outputs);
        if (from) {
          const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
          await writeFileAtomic(
            ociKeyFile(ctx.composeDir, tree.variant, tree.arch),
            `${JSON.stringify({ key, treeId, reusedFrom: from })}\n`,
          );
          ctx.logger.info(
            {
              variant: tree.variant,
              arch: tree.arch,
              manifest: index.manifests[0]?.digest,
              key,
              treeId,
              reusedFrom: from,
              durationMs: Date.now() - started,
            },
            `image of the same tree taken over from ${from}`,
          );
          ctx.emit({
            phase: "oci",
            kind: "note",
            text: `${tree.variant}/${tree.arch}: image ${index.manifests[0]?.digest.slice(0, 19)} of ${from} reused (same tree)`,
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
      if (wantArchive) await writeOciArchive(layout, join(dir, archiveName), epoch, ctx.signal);
      // recorded last: a compose killed before this point never offers its layout for reuse
      if (key) await writeFileAtomic(ociKeyFile(ctx.composeDir, tree.variant, tree.arch), `${JSON.stringify({ key, treeId })}\n`);
    }
  },
};
