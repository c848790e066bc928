import { z } from "zod";

export const ARTIFACT_KINDS = ["deb", "buildinfo", "changes", "dsc", "source", "file"] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** What an artifact is, by its name: deb (a .deb or .udeb), buildinfo, changes, dsc, source (tarballs, .diff.gz) or file. */
export function artifactKind(name: string): ArtifactKind {
  if (/\.u?deb$/.test(name)) return "deb";
  if (name.endsWith(".buildinfo")) return "buildinfo";
  if (name.endsWith(".changes")) return "changes";
  if (name.endsWith(".dsc")) return "dsc";
  if (/\.tar\.[a-z0-9]+$|\.diff\.gz$/.test(name)) return "source";
  return "file";
}

export const installedPackageSchema = z.object({ name: z.string(), version: z.string(), arch: z.string() });
export type InstalledPackage = z.output<typeof installedPackageSchema>;

/**
 * result.json, the machine-readable outcome of a build, and the contract with its consumers (the
 * deb-orchestrator builder takes artifacts, digests and installed packages from it as they are).
 * docs/deb-mock-result.schema.json is generated from this.
 */
export const buildResultSchema = z
  .object({
    schemaVersion: z.literal(1),
    status: z
      .enum([
        "success",
        "build-failed",
        "dependencies-failed",
        "environment-failed",
        "check-failed",
        "interrupted",
        "locked",
        "input-failed",
      ])
      .describe("How the build ended."),
    exitCode: z.number().int().describe("The deb-mock exit code for this outcome (0, 1, 2, 3, 4, 5, 130)."),
    error: z
      .object({ code: z.string(), message: z.string(), hint: z.string().optional() })
      .optional()
      .describe("Why it failed (absent on success)."),
    source: z
      .object({ name: z.string(), version: z.string() })
      .optional()
      .describe("The source package (absent if the input could not be read)."),
    profile: z.object({ name: z.string(), suite: z.string(), architecture: z.string() }),
    environmentHash: z.string().describe("sha256 over everything that defines the base (suite, mirror, packages, keys, ...)."),
    baseGeneration: z.string().optional(),
    indexGeneration: z.string().optional(),
    snapshot: z.string().optional().describe("The snapshot id; it still exists only with --no-clean."),
    buildType: z.enum(["binary", "arch", "indep", "full"]),
    network: z.boolean().describe("Whether dpkg-buildpackage had network access."),
    sourceDateEpoch: z.number().int().optional(),
    debBuildOptions: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().int(),
    buildDepsLayer: z
      .object({ key: z.string().regex(/^[0-9a-f]{64}$/), reused: z.boolean() })
      .optional()
      .describe(
        "The build-dependency layer: reused (nothing was installed) or created by this build; absent when the dependencies were installed in the snapshot only.",
      ),
    phases: z.array(
      z.object({ name: z.string(), startedAt: z.string(), durationMs: z.number().int(), status: z.enum(["ok", "failed", "skipped"]) }),
    ),
    artifacts: z
      .array(
        z.object({
          name: z.string(),
          kind: z.enum(ARTIFACT_KINDS).describe("deb (a .deb or .udeb), buildinfo, changes, dsc, source (tarballs, .diff.gz) or file."),
          size: z.number().int(),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
        }),
      )
      .describe("The files the build produced (beside result.json), each with its size and SHA-256."),
    installed: z
      .array(installedPackageSchema)
      .optional()
      .describe(
        "Every package of the build environment when the build ran (installed-packages.log as data); absent when the build did not get that far.",
      ),
    unsatisfied: z
      .array(
        z.object({
          package: z
            .string()
            .describe("Whose relation: satisfy:command-line for the build-dependencies themselves, else a package apt wanted."),
          type: z.enum(["Depends", "Pre-Depends", "Conflicts", "Breaks", "Recommends"]),
          relation: z.string().describe("The relation as apt printed it, alternatives joined with ' | '."),
          reasons: z.array(z.string()).describe("apt's reason for each alternative ('it is not installable'), '' where it gives none."),
        }),
      )
      .optional()
      .describe(
        "When apt found the build-dependencies unsatisfiable (status dependencies-failed): what it could not satisfy, parsed from its output.",
      ),
    checks: z
      .object({
        lintian: z.object({ ok: z.boolean(), output: z.string() }).optional(),
        installTest: z.object({ ok: z.boolean(), packages: z.array(z.string()) }).optional(),
        reproducible: z.object({ ok: z.boolean(), differing: z.array(z.string()) }).optional(),
      })
      .optional(),
  })
  .describe("deb-mock result.json: the outcome of one build.");

export type BuildResult = z.output<typeof buildResultSchema>;
export type BuildStatus = BuildResult["status"];

/** The JSON Schema document for result.json (docs/deb-mock-result.schema.json). */
export function buildResultJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(buildResultSchema, { target: "draft-2020-12" }) as Record<string, unknown>),
    $id: "https://debian-bootc.invalid/schemas/deb-mock-result.schema.json",
    title: "deb-mock result.json",
  };
}
