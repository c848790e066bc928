import { composeError } from "../errors.js";
import type { ImageRoot } from "./image-root.js";

/**
 * The containers trust (containers-policy.json(5), containers-registries.d(5)) that makes skopeo,
 * podman and bootc-style pulls accept images of a registry scope only with a sigstore signature by the
 * compose's key, read from the registry's sigstore attachments (cosign's `sha256-<digest>.sig` tags).
 */

/** host[:port] then optional /path components, as containers-policy.json's docker scopes and image references spell them. */
const SCOPE = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*`;
export const REGISTRY_SCOPE = new RegExp(`^${SCOPE}$`);
/** docker://SCOPE with a tag and/or a digest: what a signed push names. */
const DOCKER_REFERENCE = new RegExp(`^docker://(${SCOPE})(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`);

/** The repository of a docker:// destination (for registries.d), or a coded error when it is not one skopeo reads as such. */
export function dockerRepository(destination: string): string {
  const m = DOCKER_REFERENCE.exec(destination);
  if (!m || !m[1]!.includes("/")) {
    throw composeError("PUSH_DESTINATION_INVALID", `${destination}: expected docker://HOST[:PORT]/NAME[:TAG]`, {
      hint: "e.g. docker://registry.example/debian-bootc-{variant}:13.0",
    });
  }
  return m[1]!;
}

/** Where the image keeps the public key its policy names. */
export const IMAGE_SIGSTORE_KEY = "/etc/containers/keys/deb-bootc-compose.pub";
export const IMAGE_REGISTRIES_D = "/etc/containers/registries.d/deb-bootc-compose.yaml";
export const IMAGE_POLICY = "/etc/containers/policy.json";

export interface ContainersTrust {
  /** The registry scope (host[:port][/namespace]) whose images must be signed. */
  scope: string;
  /** The sigstore public key (PEM). */
  publicKey: string;
}

/** registries.d configuration: signatures for the scope are the registry's sigstore attachments. */
export function registriesDConfig(scope: string): string {
  if (!REGISTRY_SCOPE.test(scope))
    throw composeError("DEFINITION_INVALID", `${scope}: expected a registry scope such as registry.example/debian`);
  return `# Written by deb-bootc-compose: sigstore signatures of these images are stored beside them in the registry.\ndocker:\n  ${JSON.stringify(scope)}:\n    use-sigstore-attachments: true\n`;
}

type PolicyRequirement = Record<string, unknown>;
interface Policy {
  default?: PolicyRequirement[];
  transports?: Record<string, Record<string, PolicyRequirement[]>>;
  [other: string]: unknown;
}

/** The requirement for the scope: signed by the key, for the reference that was signed (or its digest). */
export function sigstoreRequirement(keyPath: string): PolicyRequirement {
  return { type: "sigstoreSigned", keyPath, signedIdentity: { type: "matchRepoDigestOrExact" } };
}

/**
 * policy.json with the scope's requirement: an existing policy (containers-common's, or the definition's
 * own file) keeps its default and other scopes; without one the default is Debian's (accept anything),
 * so only the compose's own registry is locked down.
 */
export function containersPolicy(existing: string | undefined, scope: string, keyPath: string): string {
  let policy: Policy = { default: [{ type: "insecureAcceptAnything" }] };
  if (existing !== undefined) {
    try {
      policy = JSON.parse(existing) as Policy;
    } catch (error) {
      throw composeError("ROOTFS_CUSTOMIZE_FAILED", `${IMAGE_POLICY} in the image is not JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (typeof policy !== "object" || policy === null || Array.isArray(policy)) {
      throw composeError("ROOTFS_CUSTOMIZE_FAILED", `${IMAGE_POLICY} in the image is not a JSON object`);
    }
  }
  const transports = { ...(policy.transports ?? {}) };
  transports.docker = { ...(transports.docker ?? {}), [scope]: [sigstoreRequirement(keyPath)] };
  return `${JSON.stringify({ ...policy, transports }, null, 2)}\n`;
}

/** Install the key, the registries.d entry and the policy into an image tree (through ImageRoot: nothing leaves the tree). */
export async function installContainersTrust(root: ImageRoot, trust: ContainersTrust): Promise<void> {
  await root.writeFile(IMAGE_SIGSTORE_KEY, trust.publicKey, { mode: 0o644 });
  await root.writeFile(IMAGE_REGISTRIES_D, registriesDConfig(trust.scope), { mode: 0o644 });
  const existing = await root.readText(IMAGE_POLICY);
  await root.writeFile(IMAGE_POLICY, containersPolicy(existing, trust.scope, IMAGE_SIGSTORE_KEY), { mode: 0o644 });
}
