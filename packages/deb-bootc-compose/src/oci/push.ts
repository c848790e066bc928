import { mkdir, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Logger, run, silentLogger } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import { dockerRepository } from "../rootfs/containers-policy.js";
import { signedCopies } from "./sign.js";
import type { SigstoreKeyFiles } from "./sigstore-key.js";

export interface PushedImage {
  variant: string;
  arch: string;
  layout: string;
  destination: string;
  /** Signed with the sigstore key (docker:// destinations, when a key was given). */
  signed: boolean;
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

/** skopeo transports --push takes; anything else (or a value that could read as an option) is refused. */
const DESTINATION = /^(?:docker:\/\/[A-Za-z0-9]|(?:dir|oci|oci-archive|docker-archive):\/)/;

/**
 * Copy each OCI layout of a compose to a skopeo destination (docker://REGISTRY/NAME:TAG, oci-archive:PATH,
 * dir:PATH, ...). `{variant}` and `{arch}` in the destination are replaced per image; one destination
 * for several images is refused rather than letting the last copy win. With a signing key, docker://
 * destinations are signed (sigstore, stored as attachments in the registry; see sign.ts).
 */
export async function pushImages(
  composeDir: string,
  destination: string,
  options: { signal?: AbortSignal; logger?: Logger; signing?: SigstoreKeyFiles; insecureRegistry?: boolean } = {},
): Promise<PushedImage[]> {
  if (!DESTINATION.test(destination)) {
    throw composeError(
      "PUSH_DESTINATION_INVALID",
      `--push ${destination}: expected docker://REGISTRY/NAME:TAG or dir:, oci:, oci-archive:, docker-archive: with an absolute path`,
    );
  }
  const layouts = await composeLayouts(composeDir);
  const targets = layouts.map((l) => ({ ...l, destination: destination.replaceAll("{variant}", l.variant).replaceAll("{arch}", l.arch) }));
  if (new Set(targets.map((t) => t.destination)).size < targets.length) {
    throw composeError("PUSH_DESTINATION_INVALID", `--push ${destination}: ${targets.length} images would go to the same place`, {
      hint: "put {variant} and/or {arch} in the destination, e.g. docker://registry.example/debian-bootc-{variant}:13.0",
    });
  }
  const signed = options.signing ? targets.filter((t) => t.destination.startsWith("docker://")) : [];
  // every reference is checked before anything is pushed
  for (const target of signed) dockerRepository(target.destination);
  for (const target of targets) {
    if (signed.includes(target)) continue;
    // local transports need their parent directory; skopeo does not make it
    const local = /^(?:dir|oci|oci-archive|docker-archive):(\/[^:]*)/.exec(target.destination);
    if (local) await mkdir(dirname(local[1]!), { recursive: true });
    const tls = options.insecureRegistry && target.destination.startsWith("docker://") ? ["--dest-tls-verify=false"] : [];
    await run("skopeo", ["copy", "--quiet", ...tls, `oci:${target.layout}`, target.destination], {
      signal: options.signal,
      logger: options.logger ?? silentLogger,
      debianPackage: "skopeo",
    });
  }
  if (options.signing) await signedCopies(signed, options.signing, options);
  return targets.map((t) => ({ ...t, signed: signed.includes(t) }));
}
