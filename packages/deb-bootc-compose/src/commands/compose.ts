import { access, readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { type CommandSpec, exitCodes } from "@debian-bootc/core";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { ComposeEvents } from "../compose/compose-events.js";
import { HubComposeRecord } from "../compose/hub-record.js";
import { type Phase, phaseWanted, runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { loadDefinition, referencedFiles } from "../definition.js";
import { composeError } from "../errors.js";
import { createHubImagePhases } from "../image-task/hub-image-phases.js";
import { updateTestOnHub } from "../image-task/hub-update-test.js";
import { pushImages } from "../oci/push.js";
import { pushSigningKey } from "../oci/sign.js";

/** The phases with those of the same names replaced. */
function replacePhases(phases: readonly Phase[], replacements: readonly Phase[]): Phase[] {
  return phases.map((p) => replacements.find((r) => r.name === p.name) ?? p);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export const composeCommand: CommandSpec = {
  name: "compose",
  summary:
    "Run a compose: builds (deb-orchestrator), package set, gather, APT snapshot, rootfs, OSTree, OCI image, lint, disk images, test, metadata",
  description:
    "Run the phases of a compose for a definition into a new compose directory <output>/<name>-<version>-<YYYYMMDD>.<n>, " +
    "with STATUS, per-phase logs and timings under logs/, and latest-<name> pointing at it when it finishes. " +
    "Phases left out by --skip-phase or --just-phase are recorded as skipped. Exit 0 when FINISHED or FINISHED_INCOMPLETE, 1 when DOOMED, 130 when interrupted.",
  args: [{ name: "definition", description: "the compose definition (YAML)" }],
  options: [
    { flags: "-o, --output <dir>", description: "directory that holds the composes", default: "composes" },
    { flags: "--label <label>", description: "compose label recorded in composeinfo.json (e.g. RC-1.0)" },
    { flags: "--skip-phase <phase>", description: "do not run this phase", repeatable: true },
    { flags: "--just-phase <phase>", description: "run only this phase (with init)", repeatable: true },
    {
      flags: "--lockfile <file>",
      description: "pin package versions to a lockfile of an earlier compose (compose/metadata/lockfile.json)",
    },
    {
      flags: "--old-composes <dir>",
      description: "where to find the previous compose for the package diff (default: the output directory)",
    },
    { flags: "--cache-dir <dir>", description: "shared cache of indexes, .debs and finished root trees", env: "DEB_BOOTC_COMPOSE_CACHE" },
    {
      flags: "--no-rootfs-cache",
      description:
        "build every root tree afresh instead of reusing the cached tree of identical inputs (the same .debs and tree-shaping definition fields); the new tree replaces the cached one",
    },
    { flags: "--mirror <url>", description: "Debian mirror for `type: debian` repositories without one (default: the host's APT sources)" },
    {
      flags: "--hub <url>",
      description:
        "deb-orchestrator hub for the build section and orchestrator repositories, which also records the compose, its phases and results (shown in its web UI); default: build.hub, DEB_ORCHESTRATOR_HUB, the client's client.yaml, a running `deb-orchestrator up`, else an embedded hub and builder, recording the compose when a phase uses it",
    },
    { flags: "--token-file <file>", description: "the hub's API token (default: build.tokenFile, DEB_ORCHESTRATOR_TOKEN, client.yaml)" },
    {
      flags: "--orchestrator-data <dir>",
      description: "state of the embedded hub (default: deb-orchestrator up's, ~/.local/share/deb-orchestrator)",
    },
    {
      flags: "--push <destination>",
      description:
        "after a finished compose, copy each OCI image with skopeo to this destination (docker://REF, oci-archive:PATH, dir:PATH; {variant} and {arch} are replaced per image); docker:// pushes are sigstore-signed (push.signing, else a key made on first use)",
    },
    {
      flags: "--images-on <where>",
      description:
        "where the image phases (rootfs, ostree, oci, lint, image-build) run: here (local), or as one composeImage task per variant/arch on builders of the hub with the `image` capability (hub: the snapshot and the definition's files are uploaded, the results downloaded and placed here, commits signed here; the test phase's boots, the update test's too, run on the builders, the update's repository signed here)",
      choices: ["local", "hub"],
      default: "local",
    },
    {
      flags: "--on-interrupt <what>",
      description: "on Ctrl-C, builds still running are canceled or left running on the hub (default: build.onInterrupt, else cancel)",
      choices: ["cancel", "leave"],
    },
  ],
  examples: [
    "deb-bootc-compose compose examples/minimal.yaml --output /srv/composes",
    "deb-bootc-compose compose examples/minimal.yaml --push docker://registry.example/debian-bootc-{variant}:13.0",
    "deb-bootc-compose compose examples/minimal.yaml --just-phase pkgset --just-phase gather --just-phase snapshot-repo --just-phase metadata",
    "deb-bootc-compose compose examples/minimal.yaml --lockfile /srv/composes/latest-debian-bootc-minimal/compose/metadata/lockfile.json",
  ],
  async run(ctx) {
    const path = ctx.args[0]!;
    const o = ctx.options as {
      output: string;
      label?: string;
      skipPhase: string[];
      justPhase: string[];
      lockfile?: string;
      oldComposes?: string;
      cacheDir?: string;
      rootfsCache: boolean;
      mirror?: string;
      hub?: string;
      tokenFile?: string;
      orchestratorData?: string;
      onInterrupt?: "cancel" | "leave";
      push?: string;
      imagesOn: "local" | "hub";
    };
    const loaded = await loadDefinition(path);
    for (const ref of referencedFiles(loaded)) {
      try {
        await access(ref.path);
      } catch {
        throw composeError("DEFINITION_INVALID", `${path}: ${ref.field}: ${ref.path} does not exist`, {
          details: { file: path, field: ref.field },
        });
      }
    }
    if (o.lockfile)
      await access(o.lockfile).catch((error) => {
        throw composeError("LOCKFILE_INVALID", `${o.lockfile}: ${(error as Error).message}`, { cause: error });
      });

    const tty = ctx.out.isTTY && !ctx.json;
    const progress = (text: string) => {
      if (tty) process.stdout.write(`\r\x1b[K${text}`);
    };
    const counts: Record<string, Record<string, number>> = {};
    const say = (text: string) => {
      if (tty) process.stdout.write("\r\x1b[K");
      ctx.out.line(text);
    };
    const events = new ComposeEvents();
    events.subscribe((e) => {
      // --json prints the package counts at the end and nothing while the compose runs
      if (e.kind === "resolved") {
        counts[e.variant] ??= {};
        counts[e.variant]![e.arch] = e.packages;
      }
      if (ctx.json) return;
      switch (e.kind) {
        case "started":
          if (tty) progress(`${e.phase} ...`);
          else ctx.out.line(`${e.phase}: started`);
          break;
        case "ended": {
          const r = e.record;
          const time = r.durationMs === undefined ? "" : ` (${(r.durationMs / 1000).toFixed(1)} s)`;
          say(`${r.name}: ${r.outcome}${time}${r.error ? `: ${r.error.message.split("\n")[0]}` : ""}`);
          for (const note of r.notes ?? []) ctx.out.line(`  ${note}`);
          break;
        }
        case "resolved":
          say(`  ${e.variant}/${e.arch}: ${e.packages} packages`);
          break;
        case "index":
          progress(`  pkgset: ${e.repository} ${e.suite} ${e.component}/${e.arch}: ${e.packages} packages${e.cached ? " (cached)" : ""}`);
          break;
        case "progress":
          progress(`  gather: ${e.done}/${e.total} packages, ${mb(e.bytes)} of ${mb(e.totalBytes)}`);
          break;
        case "hub":
          say(
            `  orchestrator: ${e.url} (${e.mode === "embedded" ? "embedded hub and builder" : e.mode === "up" ? "deb-orchestrator up" : "hub"})`,
          );
          break;
        case "source":
          say(
            `  ${e.name} ${e.version}: ${e.action === "reused" ? "built already, reused" : e.action}${e.task ? ` (task ${e.task})` : ""}`,
          );
          break;
        case "task":
          if (e.method === "buildArch" || e.state === "failed")
            say(`  ${e.source}: task ${e.task} ${e.method}${e.arch ? ` ${e.arch}` : ""} ${e.state}${e.host ? ` on ${e.host}` : ""}`);
          break;
        case "log":
          progress(`  ${e.source}: ${e.line}`.slice(0, (process.stdout.columns || 120) - 1));
          break;
        case "image-task":
          say(
            `  ${e.variant}/${e.arch}: ${e.phase === "image-build" ? "disk image task" : "image task"} ${e.task} ${e.state}${e.host ? ` on ${e.host}` : ""}`,
          );
          break;
        case "built":
          say(`  ${e.name} ${e.version}: build ${e.buildId}${e.reused ? " (reused)" : ""}`);
          break;
        // notes are printed with their phase's end
      }
    });
    const orchestrator = new OrchestratorConnection({
      ...(o.hub ? { hub: o.hub } : {}),
      ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}),
      ...(o.orchestratorData ? { dataDir: o.orchestratorData } : {}),
    });
    // the hub this compose talks to records it (from the start when --hub names one)
    const record = new HubComposeRecord({
      connection: orchestrator,
      definition: loaded.definition,
      definitionText: await readFile(path, "utf8"),
      baseDir: loaded.baseDir,
      openAtStart: o.hub !== undefined || o.imagesOn === "hub",
      onProblem: (message) => ctx.out.warn(message),
    });
    record.listen(events);
    // with --images-on hub the image phases queue tasks on the hub and place what they made
    const hubImages =
      o.imagesOn === "hub"
        ? createHubImagePhases({
            loaded,
            connection: orchestrator,
            record,
            outputDir: resolve(o.output),
            // the builders boot what they made when this compose's test phase runs
            ...(phaseWanted("test", { skipPhases: o.skipPhase, justPhases: o.justPhase }) ? { bootTest: { marker: true } as const } : {}),
          })
        : [];
    const result = await runCompose({
      definition: loaded.definition,
      definitionPath: path,
      outputDir: resolve(o.output),
      phases: replacePhases(
        composePhases({
          baseDir: loaded.baseDir,
          ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
          rootfsCache: o.rootfsCache !== false,
          ...(o.lockfile ? { lockfile: resolve(o.lockfile) } : {}),
          ...(o.mirror ? { mirror: o.mirror } : {}),
          ...(o.oldComposes ? { oldComposes: resolve(o.oldComposes) } : {}),
          ...(o.label ? { label: o.label } : {}),
          ...(o.onInterrupt ? { onInterrupt: o.onInterrupt } : {}),
          orchestrator,
          // the update test boots on a builder too; its repository is still signed here
          ...(o.imagesOn === "hub" ? { updateTestOn: updateTestOnHub({ loaded, connection: orchestrator, record }) } : {}),
        }),
        hubImages,
      ),
      skipPhases: o.skipPhase,
      justPhases: o.justPhase,
      signal: ctx.signal,
      events,
    })
      .finally(() => record.finish())
      .finally(() => orchestrator.close());
    const pushed =
      o.push && result.status !== "TERMINATED"
        ? await pushImages(result.composeDir, o.push, {
            signal: ctx.signal,
            // registry pushes are signed: the definition's key, else the output directory's default
            ...(o.push.startsWith("docker://")
              ? { signing: await pushSigningKey(loaded.definition, loaded.baseDir, dirname(resolve(result.composeDir))) }
              : {}),
          })
        : [];
    if (ctx.json) ctx.out.json({ ok: result.status !== "TERMINATED", ...result, packages: counts, pushed });
    else {
      ctx.out.line(`${result.composeId}: ${result.status}`);
      ctx.out.line(`  ${result.composeDir}`);
      for (const p of pushed) ctx.out.line(`  pushed ${p.variant}/${p.arch} to ${p.destination}${p.signed ? " (signed)" : ""}`);
    }
    return result.status === "TERMINATED" ? exitCodes.interrupted : 0;
  },
};
