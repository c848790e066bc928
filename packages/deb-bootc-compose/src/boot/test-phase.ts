import { mkdir, readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import { parseComposeId } from "../compose/compose-id.js";
import type { Phase } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { channelRef } from "../ostree/ostree-phase.js";
import { publishCommit } from "../publish/publish.js";
import { updateSigningKey } from "../publish/signing-key.js";
import { updateRemoteName } from "../rootfs/customize.js";
import { type BootTestResult, bootToMarker, httpUpdateTest } from "./boot-test.js";
import type { Accelerator, BootFirmware } from "./qemu.js";

/** Boot-test results per image, for the compose metadata. */
export interface BootTestRecord {
  variant: string;
  arch: string;
  kind: "marker" | "update";
  image: string;
  passed: boolean;
  accel: Accelerator;
  message: string;
  steps: BootTestResult["steps"];
  durationMs: number;
}

export interface TestPhaseOptions {
  accel?: Accelerator;
  /** Skip the update test even when a previous compose has a disk image. */
  noUpdateTest?: boolean;
}

/** The firmware that shows an image at its strictest: Secure Boot enforced when it has the signed chain, SeaBIOS for BIOS-only. */
export function testFirmware(boot: { secureBoot: boolean; firmware: "uefi" | "bios" | "hybrid" }): BootFirmware {
  if (boot.firmware === "bios") return "bios";
  return boot.secureBoot ? "uefi-secure" : "uefi";
}

/**
 * The newest earlier compose of the same name (in the same output directory, FINISHED or
 * FINISHED_INCOMPLETE) with a disk image of the variant/arch: its image and commit.
 */
export async function previousImage(
  composeDir: string,
  name: string,
  variant: string,
  arch: string,
): Promise<{ image: string; format: "raw" | "qcow2"; commit: string; composeId: string } | undefined> {
  const outputDir = dirname(composeDir);
  const self = basename(composeDir);
  const candidates = (await readdir(outputDir))
    .map((entry) => ({ entry, id: parseComposeId(entry) }))
    .filter((c) => c.id !== undefined && c.id.name === name && c.entry !== self)
    .sort((a, b) => b.id!.date.localeCompare(a.id!.date) || b.id!.n - a.id!.n);
  for (const { entry } of candidates) {
    const prev = join(outputDir, entry);
    const status = (await readFile(join(prev, "STATUS"), "utf8").catch(() => "")).trim();
    if (status !== "FINISHED" && status !== "FINISHED_INCOMPLETE") continue;
    const dir = join(prev, "compose", variant, arch);
    const files = await readdir(join(dir, "images")).catch(() => [] as string[]);
    const image = files.find((f) => f.endsWith(".qcow2")) ?? files.find((f) => f.endsWith(".raw"));
    const commitFile = await readFile(join(dir, "ostree-commit.json"), "utf8").catch(() => undefined);
    if (!image || !commitFile) continue;
    const commit = (JSON.parse(commitFile) as { commit: string }).commit;
    return { image: join(dir, "images", image), format: image.endsWith(".qcow2") ? "qcow2" : "raw", commit, composeId: entry };
  }
  return undefined;
}

/**
 * The test phase: boot every disk image of the compose to its marker; and when the definition has an
 * update channel and the previous compose of the same name has a disk image, publish the previous and
 * this compose's commits into a scratch repository signed with the channel's key, boot the previous
 * image, `ostree admin upgrade` over HTTP from it, reboot into this commit, roll back and boot the old one. Consoles go to logs/boot-<variant>-<arch>*.log, results to compose/<variant>/<arch>/boot-tests.json.
 */
/** `baseDir`: the definition's folder (updates.key is relative to it). */
export function createTestPhase(options: TestPhaseOptions & { baseDir?: string } = {}): Phase {
  return {
    name: "test",
    deliverable: "boot-test",
    async run(ctx) {
      const disks = ctx.state.find("disk-images") ?? [];
      const commits = ctx.state.find("ostree") ?? [];
      const records: BootTestRecord[] = [];
      const failures: string[] = [];
      const record = (r: BootTestRecord) => {
        records.push(r);
        if (!r.passed) failures.push(`${r.variant}/${r.arch} ${r.kind}: ${r.message}`);
        ctx.logger[r.passed ? "info" : "error"]({ ...r }, `boot test ${r.kind} ${r.passed ? "passed" : "failed"}`);
      };
      for (const disk of disks) {
        const file = disk.files.find((f) => f.format === "qcow2") ?? disk.files[0];
        if (!file) continue;
        const commit = commits.find((c) => c.variant === disk.variant && c.arch === disk.arch);
        const started = Date.now();
        try {
          const result = await bootToMarker({
            image: file.path,
            format: file.format,
            workDir: join(ctx.composeDir, "work", disk.arch, disk.variant, "boot-test"),
            consoleLog: join(ctx.composeDir, "logs", `boot-${disk.variant}-${disk.arch}.log`),
            accel: options.accel,
            firmware: testFirmware(disk),
            expect: { commit: disk.commit, ...(commit?.changed ? { composeId: ctx.composeId } : {}) },
            logger: ctx.logger,
            signal: ctx.signal,
          });
          record({ variant: disk.variant, arch: disk.arch, kind: "marker", image: file.path, ...result, durationMs: Date.now() - started });
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          record({
            variant: disk.variant,
            arch: disk.arch,
            kind: "marker",
            image: file.path,
            passed: false,
            accel: options.accel ?? "tcg",
            message: (error as Error).message,
            steps: [],
            durationMs: Date.now() - started,
          });
        }
      }
      const channel = ctx.definition.updates;
      for (const commit of options.noUpdateTest || !channel ? [] : commits.filter((c) => c.changed && c.arch === "amd64")) {
        const prev = await previousImage(ctx.composeDir, ctx.definition.name, commit.variant, commit.arch);
        if (!prev) continue;
        const started = Date.now();
        const workDir = join(ctx.composeDir, "work", commit.arch, commit.variant, "update-test");
        try {
          // the channel's repository as a publish would leave it: the previous commit, then this one (a static delta)
          const key = await updateSigningKey(ctx.definition, options.baseDir ?? dirname(ctx.composeDir));
          const published = join(workDir, "published");
          const ref = channelRef(ctx.definition, commit.variant, commit.arch)!;
          for (const c of [prev.commit, commit.commit])
            await publishCommit({ repo: published, sourceRepo: commit.repo, commit: c, ref, key, logger: ctx.logger, signal: ctx.signal });
          const result = await httpUpdateTest({
            image: prev.image,
            format: prev.format,
            workDir,
            consoleLog: join(ctx.composeDir, "logs", `boot-${commit.variant}-${commit.arch}-update.log`),
            accel: options.accel,
            // the previous image comes from the same definition name: boot it as this definition says
            firmware: testFirmware(ctx.definition.bootloader),
            publishedRepo: published,
            remote: updateRemoteName(ctx.definition),
            from: { commit: prev.commit },
            to: { commit: commit.commit, composeId: ctx.composeId },
            logger: ctx.logger,
            signal: ctx.signal,
          });
          record({
            variant: commit.variant,
            arch: commit.arch,
            kind: "update",
            image: prev.image,
            ...result,
            durationMs: Date.now() - started,
          });
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          record({
            variant: commit.variant,
            arch: commit.arch,
            kind: "update",
            image: prev.image,
            passed: false,
            accel: options.accel ?? "tcg",
            message: (error as Error).message,
            steps: [],
            durationMs: Date.now() - started,
          });
        }
      }
      ctx.state.set("boot-tests", records);
      for (const key of new Set(records.map((r) => `${r.variant}/${r.arch}`))) {
        await mkdir(join(ctx.composeDir, "compose", key), { recursive: true });
        await writeFileAtomic(
          join(ctx.composeDir, "compose", key, "boot-tests.json"),
          `${JSON.stringify(
            records.filter((r) => `${r.variant}/${r.arch}` === key),
            null,
            2,
          )}\n`,
        );
      }
      if (failures.length > 0) throw composeError("BOOT_TEST_FAILED", `boot tests failed: ${failures.join("; ")}`);
    },
  };
}
