import { readFile } from "node:fs/promises";
import { debMockError } from "./errors.js";

/** Where keys of extra repositories are put inside the environment. */
export const EXTRA_KEY_DIR = "/etc/apt/deb-mock-keys";

const ONE_LINE_SOURCE = /^(deb(?:-src)?)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/;

export interface ExtraRepoKey {
  /** The key file on the host. */
  host: string;
  /** Its absolute path inside the environment. */
  target: string;
  data: Buffer;
}

export interface ExtraRepoPlan {
  /** The source lines as they go into the environment (signed-by pointing inside it). */
  lines: string[];
  /** Key files to copy in. */
  keys: ExtraRepoKey[];
}

/** `.asc` for an ASCII-armoured key, `.gpg` for a binary keyring: apt tells them apart by the name. */
function keyExtension(data: Buffer): ".asc" | ".gpg" {
  return data.subarray(0, 64).toString("latin1").includes("-----BEGIN PGP") ? ".asc" : ".gpg";
}

/**
 * Prepare `--extra-repo` lines for an environment. A `signed-by=` option naming host key files (absolute
 * paths; fingerprints stay as they are) is rewritten to copies inside the environment, so a signed
 * repository needs no `trusted=yes`. `--extra-repo-key` files become the `signed-by` of every line that
 * names neither `signed-by` nor `trusted`. Throws BUILD_INPUT_INVALID for a malformed line or an
 * unreadable key.
 */
export async function planExtraRepos(lines: readonly string[], extraKeys: readonly string[] = []): Promise<ExtraRepoPlan> {
  const keys: ExtraRepoKey[] = [];
  const copies = new Map<string, string>();
  const copyIn = async (host: string, what: string): Promise<string> => {
    const known = copies.get(host);
    if (known) return known;
    if (!host.startsWith("/")) {
      throw debMockError("BUILD_INPUT_INVALID", `${what}: key file ${host}: expected an absolute path on the host`);
    }
    let data: Buffer;
    try {
      data = await readFile(host);
    } catch (error) {
      throw debMockError("BUILD_INPUT_INVALID", `${what}: cannot read the key file ${host}: ${(error as Error).message}`);
    }
    const target = `${EXTRA_KEY_DIR}/extra-${keys.length + 1}${keyExtension(data)}`;
    keys.push({ host, target, data });
    copies.set(host, target);
    return target;
  };
  const defaultKeys: string[] = [];
  for (const key of extraKeys) defaultKeys.push(await copyIn(key, `--extra-repo-key ${key}`));

  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const match = ONE_LINE_SOURCE.exec(line);
    if (!match) {
      throw debMockError(
        "BUILD_INPUT_INVALID",
        `--extra-repo '${raw}': expected a one-line APT source: deb [options] URI SUITE [COMPONENT...]`,
      );
    }
    const [, type, optionText, uri, suite, components] = match;
    const options = (optionText ?? "").trim().split(/\s+/).filter(Boolean);
    let signed = false;
    let trusted = false;
    const rewritten: string[] = [];
    for (const option of options) {
      const opt = /^([A-Za-z-]+)([+-]?=)(.*)$/.exec(option);
      if (!opt) {
        throw debMockError("BUILD_INPUT_INVALID", `--extra-repo '${raw}': option '${option}': expected name=value`);
      }
      const name = opt[1]!.toLowerCase();
      if (name === "trusted") trusted = true;
      if (name !== "signed-by") {
        rewritten.push(option);
        continue;
      }
      signed = true;
      const values: string[] = [];
      for (const value of opt[3]!.split(",").filter(Boolean)) {
        values.push(value.startsWith("/") ? await copyIn(value, `--extra-repo '${raw}'`) : value);
      }
      rewritten.push(`${opt[1]}${opt[2]}${values.join(",")}`);
    }
    if (!signed && !trusted && defaultKeys.length) rewritten.push(`signed-by=${defaultKeys.join(",")}`);
    const bracket = rewritten.length ? ` [${rewritten.join(" ")}]` : "";
    out.push(`${type}${bracket} ${uri} ${suite}${components ?? ""}`.replace(/\s+/g, " "));
  }
  return { lines: out, keys };
}
