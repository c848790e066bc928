import { defaultMirror } from "@debian-bootc/debian";
import { snapshotSourceLine } from "../compose/compose-state.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { bootPackages, type ComposeDefinition, hostInputPath, kernelPackage, resolveVariant } from "../definition.js";
import { composeError } from "../errors.js";

/**
 * Where the rootfs phase installs from, and what: the compose's signed APT snapshot when the
 * snapshot-repo phase ran (exactly the resolved set), otherwise the definition's repositories directly
 * (the package request as written, resolved by apt), e.g. with --skip-phase pkgset,gather,snapshot-repo.
 */
export interface InstallPlan {
  /** One-line APT sources for mmdebstrap. */
  sources: string[];
  /** Extra keyrings mmdebstrap must trust (--keyring). */
  keyrings: string[];
  /** mmdebstrap's --variant. */
  variant: string;
  /** Packages for --include (names, or name=version from the snapshot). */
  packages: string[];
  from: "snapshot" | "repositories";
}

function baselineVariant(definition: ComposeDefinition): string {
  const baseline = (definition as { baseline?: string }).baseline;
  return baseline === undefined || baseline === "none" ? (baseline === "none" ? "custom" : "apt") : baseline;
}

export async function installPlan(
  ctx: Pick<PhaseContext, "definition" | "state">,
  variant: string,
  arch: string,
  baseDir: string,
  mirror?: string,
): Promise<InstallPlan> {
  const { definition } = ctx;
  const snapshot = ctx.state.find("snapshot");
  const extra = bootPackages(definition, arch);
  if (snapshot) {
    const set = snapshot.packages[variant]?.[arch];
    if (!set) throw composeError("PHASE_PREREQUISITE", `the APT snapshot has no package set for ${variant}/${arch}`);
    const names = new Set(set.map((p) => p.name));
    const missing = extra.filter((p) => !names.has(p));
    if (missing.length > 0) {
      throw composeError(
        "PHASE_PREREQUISITE",
        `the package set of ${variant}/${arch} lacks the bootloader's packages: ${missing.join(", ")}`,
        {
          hint: "the package set must include bootPackages(definition, arch) from the definition module",
        },
      );
    }
    return {
      // copy:// rather than file://: mmdebstrap in unshare mode cannot reach host paths from inside the
      // chroot, so apt copies each .deb into the chroot's archive cache instead
      sources: [snapshotSourceLine(snapshot, variant).replace(/ file:\/\//, " copy://")],
      keyrings: [snapshot.keyring],
      variant: snapshot.mmdebstrapVariant,
      packages: set.map((p) => `${p.name}=${p.version}`),
      from: "snapshot",
    };
  }
  const sources: string[] = [];
  const keyrings: string[] = [];
  for (const [i, repo] of definition.repositories.entries()) {
    if (repo.type === "debian") {
      const base = repo.mirror ?? mirror ?? (await defaultMirror());
      for (const suite of repo.suites ?? [definition.suite, `${definition.suite}-updates`]) {
        sources.push(`deb ${base} ${suite} ${repo.components.join(" ")}`);
      }
    } else if (repo.type === "apt") {
      const key = await hostInputPath(definition, baseDir, `repositories[${i}].key`, repo.key);
      keyrings.push(key);
      for (const suite of repo.suites) sources.push(`deb [signed-by=${key}] ${repo.uri} ${suite} ${repo.components.join(" ")}`);
    } else {
      throw composeError("PHASE_PREREQUISITE", `repository type orchestrator (tag ${repo.tag}) needs the snapshot-repo phase`, {
        hint: "run the pkgset, gather and snapshot-repo phases, which read deb-orchestrator tags",
      });
    }
  }
  const request = resolveVariant(definition, variant, arch as ComposeDefinition["arches"][number]);
  const packages = [...new Set([...request.packages, kernelPackage(definition, arch), ...extra])].sort();
  return { sources, keyrings, variant: baselineVariant(definition), packages, from: "repositories" };
}
