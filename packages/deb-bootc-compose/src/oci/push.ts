import { mkdir, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Logger, run, silentLogger } from "@debian-bootc/core";
import { composeError } from "../errors.js";

export interface PushedImage {
  variant: string;
  arch: string;
  layout: string;
  destination: string;
}

/** The OCI layouts a compose wrote: compose/<variant>/<arch>/oci. */
export async function composeLayouts(composeDir: string): Promise<Array<{ variant: string; arch: string; layout: string }>> {
  const out: Array<{ variant: string; arch: string; layout: string }> = [];
  const root = join(composeDir, "compose");
  for (const variant of (await readdir(root, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory())) {
    for (const arch of (await readdir(join(root, variant.name), { withFileTypes: true })).filter((d) => d.isDirectory())) {
      const layout = join(root, variant.name, arch.name, "oci");
      if (await stat(join(layout, "index.json")).catch(() => undefined)) out.push({ variant: variant.name, arch: arch.name, layout });
    }
  }
  return out.sort((a, b) => `${a.variant}/${a.arch}`.localeCompare(`${b.variant}/${b.arch}`));
}

/**
 * Copy each OCI layout of a compose to a skopeo destination (docker://REGISTRY/NAME:TAG, oci-archive:PATH,
 * dir:PATH, ...). `{variant}` and `{arch}` in the destination are replaced per image; one destination
 * for several images is refused rather than letting the last copy win.
 */
export async function pushImages(
  composeDir: string,
  destination: string,
  options: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<PushedImage[]> {
  const layouts = await composeLayouts(composeDir);
  const targets = layouts.map((l) => ({ ...l, destination: destination.replaceAll("{variant}", l.variant).replaceAll("{arch}", l.arch) }));
  if (new Set(targets.map((t) => t.destination)).size < targets.length) {
    throw composeError("PUSH_DESTINATION_INVALID", `--push ${destination}: ${targets.length} images would go to the same place`, {
      hint: "put {variant} and/or {arch} in the destination, e.g. docker://registry.example/debian-bootc-{variant}:13.0",
    });
  }
  for (const target of targets) {
    // local transports need their parent directory; skopeo does not make it
    const local = /^(?:dir|oci|oci-archive|docker-archive):(\/[^:]*)/.exec(target.destination);
    if (local) await mkdir(dirname(local[1]!), { recursive: true });
    await run("skopeo", ["copy", "--quiet", `oci:${target.layout}`, target.destination], {
      signal: options.signal,
      logger: options.logger ?? silentLogger,
      debianPackage: "skopeo",
    });
  }
  return targets;
}
