import { mkdir, readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isCodedError, writeFileAtomic } from "@debian-bootc/core";
import { parseComposeId } from "../compose/compose-id.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
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
  accelReason?: string;
  message: string;
  steps: BootTestResult["steps"];
  durationMs: number;
  /** The boot's serial console and what the results port carried, on this machine. */
  consoleLog?: string;
  resultsLog?: string;
}

/** One update test, its scratch repository published and signed here: what any place that runs it needs. */
export interface UpdateTestJob {
  variant: string;
  arch: string;
  previous: { image: string; format: "raw" | "qcow2"; commit: string; composeId: string };
  /** The signed scratch channel repository holding the previous and the new commit. */
  publishedRepo: string;
  remote: string;
  firmware: BootFirmware;
  from: { commit: string };
  to: { commit: string; composeId: string };
  /** Where its console log goes on this machine (its results log beside it: resultsLogPath). */
  consoleLog: string;
  /** This machine's work directory of the test. */
  workDir: string;
  accel?: Accelerator;
}

/** What an update test tells the record; a thrown error is a failed record (IMAGE_RESULT_REFUSED and interrupts excepted). */
export type UpdateTestOutcome = Pick<
  BootTestRecord,
  "passed" | "accel" | "accelReason" | "message" | "steps" | "consoleLog" | "resultsLog"
> & {
  served?: { bytes: number; requests: number; deltaRequests: number };
};

/** Where an update test runs: here (the default) or, with --images-on hub, as a builder's updateTest task. */
export type UpdateTestOn = (ctx: PhaseContext, job: UpdateTestJob) => Promise<UpdateTestOutcome>;

/** The update test on this machine: the previous image booted, upgraded over HTTP from a loopback server, rolled back. */
export const updateTestHere: UpdateTestOn = (ctx, job) =>
  httpUpdateTest({
    image: job.previous.image,
    format: job.previous.format,
    workDir: job.workDir,
    consoleLog: job.consoleLog,
    accel: job.accel,
    firmware: job.firmware,
    publishedRepo: job.publishedRepo,
    remote: job.remote,
    from: job.from,
    to: job.to,
    logger: ctx.logger,
    signal: ctx.signal,
  });

export interface TestPhaseOptions {
  accel?: Accelerator;
  /** Skip the update test even when a previous compose has a disk image. */
  noUpdateTest?: boolean;
  /** Where the update test runs (default updateTestHere); its repository is made and signed here in any case. */
  updateTestOn?: UpdateTestOn;
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
): Promise<{ image: string; format: "raw" | "qcow2"; commit: string; composeId: string; repo: string } | undefined> {
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
    return {
      image: join(dir, "images", image),
      format: image.endsWith(".qcow2") ? "qcow2" : "raw",
      commit,
      composeId: entry,
      repo: join(prev, "compose", "ostree", "repo"),
    };
  }
  return undefined;
}

/** Where a disk image's marker boot leaves its serial console (resultsLogPath() beside it: what the results port carried). */
export function markerBootLog(composeDir: string, variant: string, arch: string): string {
  return join(composeDir, "logs", `boot-${variant}-${arch}.log`);
}

/** A boot test's record in the phase's log: passed at info, failed at error. */
function logRecord(ctx: PhaseContext, r: BootTestRecord, from?: string): void {
  ctx.logger[r.passed ? "info" : "error"]({ ...r }, `boot test ${r.kind} ${r.passed ? "passed" : "failed"}${from ? ` (${from})` : ""}`);
}

/**
 * Boot every disk image in the state to its marker (its qcow2 when it has one): one record per image, a
 * failed boot a record that did not pass (never a throw, but on an interrupt). A disk record that comes
 * with its marker boot (an image task's builder booted it where it made it) is taken as it is, not booted
 * again. Consoles go to logs/boot-<variant>-<arch>.log.
 */
export async function markerBootTests(ctx: PhaseContext, options: { accel?: Accelerator } = {}): Promise<BootTestRecord[]> {
  const commits = ctx.state.find("ostree") ?? [];
  const records: BootTestRecord[] = [];
  for (const disk of ctx.state.find("disk-images") ?? []) {
    if (disk.markerBoot) {
      records.push(disk.markerBoot);
      logRecord(ctx, disk.markerBoot, "booted where the image was made");
      continue;
    }
    const file = disk.files.find((f) => f.format === "qcow2") ?? disk.files[0];
    if (!file) continue;
    const commit = commits.find((c) => c.variant === disk.variant && c.arch === disk.arch);
    const started = Date.now();
    let record: BootTestRecord;
    try {
      const result = await bootToMarker({
        image: file.path,
        format: file.format,
        workDir: join(ctx.composeDir, "work", disk.arch, disk.variant, "boot-test"),
        consoleLog: markerBootLog(ctx.composeDir, disk.variant, disk.arch),
        accel: options.accel,
        firmware: testFirmware(disk),
        expect: { commit: disk.commit, ...(commit?.changed ? { composeId: ctx.composeId } : {}) },
        logger: ctx.logger,
        signal: ctx.signal,
      });
      record = { variant: disk.variant, arch: disk.arch, kind: "marker", image: file.path, ...result, durationMs: Date.now() - started };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      record = {
        variant: disk.variant,
        arch: disk.arch,
        kind: "marker",
        image: file.path,
        passed: false,
        accel: options.accel ?? "tcg",
        message: (error as Error).message,
        steps: [],
        durationMs: Date.now() - started,
      };
    }
    records.push(record);
    logRecord(ctx, record);
  }
  return records;
}

/**
 * The test phase: boot every disk image of the compose to its marker (markerBootTests); and when the definition has an
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
      const commits = ctx.state.find("ostree") ?? [];
      const records = await markerBootTests(ctx, options);
      const record = (r: BootTestRecord) => {
        records.push(r);
        logRecord(ctx, r);
      };
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
          // each from its own compose's repository: a new version is a new ref (ostree.ref has {version}), whose
          // commit does not chain on the previous one, which this compose's repository then lacks
          for (const [c, sourceRepo] of [
            [prev.commit, prev.repo],
            [commit.commit, commit.repo],
          ] as const)
            await publishCommit({ repo: published, sourceRepo, commit: c, ref, key, logger: ctx.logger, signal: ctx.signal });
          const result = await (options.updateTestOn ?? updateTestHere)(ctx, {
            variant: commit.variant,
            arch: commit.arch,
            previous: prev,
            publishedRepo: published,
            remote: updateRemoteName(ctx.definition),
            // the previous image comes from the same definition name: boot it as this definition says
            firmware: testFirmware(ctx.definition.bootloader),
            from: { commit: prev.commit },
            to: { commit: commit.commit, composeId: ctx.composeId },
            consoleLog: join(ctx.composeDir, "logs", `boot-${commit.variant}-${commit.arch}-update.log`),
            workDir,
            ...(options.accel ? { accel: options.accel } : {}),
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
          // a builder's result that cannot be trusted is no boot that failed: the compose stops on it
          if (ctx.signal.aborted || isCodedError(error, "IMAGE_RESULT_REFUSED")) throw error;
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
      const failures = records.filter((r) => !r.passed).map((r) => `${r.variant}/${r.arch} ${r.kind}: ${r.message}`);
      if (failures.length > 0) throw composeError("BOOT_TEST_FAILED", `boot tests failed: ${failures.join("; ")}`);
    },
  };
}
