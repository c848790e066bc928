import { readFile, readlink } from "node:fs/promises";

/**
 * A process recorded so that another process can tell later, without races, whether it still runs:
 * its PID alone is not enough (PIDs are recycled, and count again from 1 after a reboot).
 */
export interface ProcessOwner {
  pid: number;
  /** Its start time (field 22 of /proc/PID/stat, clock ticks since boot): a recycled PID has another. */
  pidStart: string;
  /** The kernel's boot_id: start times count from boot, so an owner recorded in an earlier boot is gone. */
  boot?: string;
  /** Its PID namespace (/proc/self/ns/pid): in another one, the PID means nothing here. */
  pidNamespace?: string;
}

/** Field 22 of /proc/PID/stat, or undefined when there is no such process. */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // the command name may contain spaces and parentheses: fields start after the last ')'
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

const bootId = () =>
  readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
    (id) => id.trim(),
    () => undefined,
  );
const pidNamespace = () => readlink("/proc/self/ns/pid").catch(() => undefined);

/** This process, as a ProcessOwner. */
export async function currentProcessOwner(): Promise<ProcessOwner> {
  const [pidStart, boot, namespace] = await Promise.all([processStart(process.pid), bootId(), pidNamespace()]);
  return { pid: process.pid, pidStart: pidStart ?? "", ...(boot ? { boot } : {}), ...(namespace ? { pidNamespace: namespace } : {}) };
}

/**
 * Whether the recorded owner may still run. An owner in another PID namespace cannot be checked from
 * here and counts as alive (what it owns is left alone); one from an earlier boot, or whose PID is gone
 * or now names a process started at another time, is dead.
 */
export async function isOwnerAlive(owner: ProcessOwner): Promise<boolean> {
  if (owner.pidNamespace && owner.pidNamespace !== (await pidNamespace())) return true;
  if (owner.boot && owner.boot !== (await bootId())) return false;
  const start = await processStart(owner.pid);
  return start !== undefined && start === owner.pidStart;
}
