import { appendFile, readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { debMockError } from "./errors.js";

/** A block of host ids: `start` .. `start + count - 1`. */
export interface IdBlock {
  start: number;
  count: number;
}

/**
 * The subordinate uid and gid blocks an environment's ids map to: id N inside is `uid.start + N` on the
 * host, so the environment's root is an ordinary, unprivileged uid of the host. `caller` is the host uid
 * and gid of the process using the range (mapped into the environment's helper namespaces when it is not
 * root, so that their root may hand files over between the caller and the range).
 */
export interface IdRange {
  uid: IdBlock;
  gid: IdBlock;
  caller: { uid: number; gid: number; name: string };
}

/** Ids an environment needs: 0..65535 (nobody is 65534). */
export const RANGE_SIZE = 65_536;
/** Where a range for root is placed when it has none (the first free block from here, as useradd does). */
const FIRST_SUBORDINATE_ID = 100_000;

interface SubidEntry {
  owner: string;
  start: number;
  count: number;
}

export function parseSubidFile(text: string): SubidEntry[] {
  const out: SubidEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^([^:#\s][^:]*):(\d+):(\d+)\s*$/.exec(line);
    if (m) out.push({ owner: m[1]!, start: Number(m[2]), count: Number(m[3]) });
  }
  return out;
}

/** The first block of at least RANGE_SIZE ids owned by the user (by name or uid), as newuidmap reads it. */
export function findBlock(entries: readonly SubidEntry[], name: string, id: number): IdBlock | undefined {
  const own = entries.find((e) => (e.owner === name || e.owner === String(id)) && e.count >= RANGE_SIZE);
  return own ? { start: own.start, count: RANGE_SIZE } : undefined;
}

/** The first RANGE_SIZE-aligned block at or above FIRST_SUBORDINATE_ID that no entry overlaps. */
export function freeBlock(entries: readonly SubidEntry[]): number {
  let start = FIRST_SUBORDINATE_ID;
  for (;;) {
    const end = start + RANGE_SIZE;
    const clash = entries.find((e) => e.start < end && start < e.start + e.count);
    if (!clash) return start;
    start = Math.ceil((clash.start + clash.count - FIRST_SUBORDINATE_ID) / RANGE_SIZE) * RANGE_SIZE + FIRST_SUBORDINATE_ID;
  }
}

async function readSubids(path: string): Promise<SubidEntry[]> {
  try {
    return parseSubidFile(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

function caller(): IdRange["caller"] {
  const user = userInfo();
  return { uid: user.uid, gid: user.gid, name: user.username };
}

const SUBUID = "/etc/subuid";
const SUBGID = "/etc/subgid";

/**
 * The calling user's subordinate range from /etc/subuid and /etc/subgid; ID_RANGE_MISSING when there is
 * none (root gets one from `ensureIdRange`, which `deb-mock init` calls).
 */
export async function callerIdRange(): Promise<IdRange> {
  const who = caller();
  const uid = findBlock(await readSubids(SUBUID), who.name, who.uid);
  const gid = findBlock(await readSubids(SUBGID), who.name, who.gid);
  if (!uid || !gid) {
    throw debMockError(
      "ID_RANGE_MISSING",
      `${who.name} has no subordinate ${uid ? "gid" : "uid"} range of ${RANGE_SIZE} ids in ${uid ? SUBGID : SUBUID}: deb-mock runs every environment in a user namespace mapped to one`,
      {
        hint:
          who.uid === 0
            ? "run 'deb-mock init', which adds one for root"
            : `ask an administrator: usermod --add-subuids N-M --add-subgids N-M ${who.name} (a free block of ${RANGE_SIZE})`,
      },
    );
  }
  return { uid, gid, caller: who };
}

/**
 * The caller's range; for root, one is added to /etc/subuid and /etc/subgid first when it has none (a free
 * block, as useradd picks them). Returns the range and whether it was added (callers say so).
 */
export async function ensureIdRange(): Promise<{ range: IdRange; added: boolean }> {
  const who = caller();
  if (who.uid !== 0) return { range: await callerIdRange(), added: false };
  let added = false;
  for (const [path, id] of [
    [SUBUID, who.uid],
    [SUBGID, who.gid],
  ] as const) {
    const entries = await readSubids(path);
    if (findBlock(entries, who.name, id)) continue;
    await appendFile(path, `${who.name}:${freeBlock(entries)}:${RANGE_SIZE}\n`, { mode: 0o644 });
    added = true;
  }
  return { range: await callerIdRange(), added };
}

let cached: Promise<IdRange> | undefined;

/** The caller's range, read once per process (ensureIdRange for root, so a fresh machine works). */
export function idRange(): Promise<IdRange> {
  cached ??= ensureIdRange().then(
    (r) => r.range,
    (error) => {
      cached = undefined;
      throw error;
    },
  );
  return cached;
}
