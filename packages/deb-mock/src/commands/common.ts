import type { CommandContext } from "@debian-bootc/core";
import type { CommonOptions } from "../environment.js";
import type { ProgressEvent } from "../events.js";

/** The profile selection and progress rendering every verb shares: -r/--root, --config-opt, --verbose. */
export function commonOptions(ctx: CommandContext): CommonOptions {
  const configOpts = (ctx.options.configOpt as string[] | undefined) ?? [];
  return {
    profile: (ctx.options.root as string | undefined) ?? process.env.DEB_MOCK_PROFILE ?? undefined,
    configOpts,
    signal: ctx.signal,
    onEvent: progressRenderer(ctx),
  };
}

/** Progress on stderr: phases always (unless --json), root.log lines and build output with --verbose. */
export function progressRenderer(ctx: CommandContext): (event: ProgressEvent) => void {
  return (event) => {
    if (ctx.json) return;
    switch (event.type) {
      case "phase-start":
        ctx.out.warn(`deb-mock: ${event.phase} ...`);
        break;
      case "phase-end":
        ctx.out.warn(`deb-mock: ${event.phase} ${event.ok ? "done" : "FAILED"} (${(event.durationMs / 1000).toFixed(1)} s)`);
        break;
      case "root-log":
        if (ctx.verbose) ctx.out.warn(`  | ${event.text}`);
        break;
      case "build-output":
        if (ctx.verbose) process.stderr.write(event.chunk);
        break;
      case "info":
        ctx.out.warn(`deb-mock: ${event.message}`);
        break;
    }
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return "-";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}
