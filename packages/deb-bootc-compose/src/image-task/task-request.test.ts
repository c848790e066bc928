import { generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { generateOpenPgpKey } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import { imageTaskFiles } from "./task-inputs.js";
import { readImageTask } from "./task-request.js";
import { parseImageTaskState, seedImageTaskState } from "./task-state.js";

const example = new URL("../../../../examples/minimal.yaml", import.meta.url).pathname;
const sha = "a".repeat(64);
let work: string;
let key: { publicKey: string; fingerprint: string };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "image-task-request-"));
  const generated = await generateOpenPgpKey({ name: "test", email: "test@example.invalid" });
  key = { publicKey: generated.publicKey, fingerprint: generated.fingerprint };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function validState(): Record<string, unknown> {
  return {
    snapshot: {
      suite: "trixie-minimal",
      components: ["main"],
      codename: "trixie",
      armoredKey: key.publicKey,
      fingerprint: key.fingerprint,
      mmdebstrapVariant: "apt",
      packages: [{ name: "systemd", version: "257.9-1~deb13u1", architecture: "amd64", sha256: sha }],
    },
  };
}

async function validRequest(): Promise<Record<string, unknown>> {
  return {
    compose: "debian-bootc-minimal-13.0-20261204.0",
    definitionFile: "minimal.yaml",
    definition: await readFile(example, "utf8"),
    variant: "minimal",
    arch: "amd64",
    snapshot: [{ path: "dists/trixie-minimal/InRelease", sha256: sha, size: 10 }],
    definitionFiles: [],
    state: validState(),
  };
}

let n = 0;
/** A work directory holding this request.json; the error readImageTask throws, or undefined. */
async function attempt(request: Record<string, unknown>): Promise<{ code?: string; message?: string }> {
  const dir = join(work, `w${n++}`);
  await mkdir(join(dir, "definition"), { recursive: true });
  await writeFile(join(dir, "request.json"), JSON.stringify(request));
  try {
    await readImageTask(dir);
    return {};
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return { code: error.code, message: error.message };
  }
}

describe("image task request", () => {
  it("takes a valid request: the definition, its variant and arch, the state", async () => {
    const dir = join(work, "ok");
    await mkdir(join(dir, "definition"), { recursive: true });
    await writeFile(join(dir, "request.json"), JSON.stringify(await validRequest()));
    const task = await readImageTask(dir);
    expect(task.loaded.definition.name).toBe("debian-bootc-minimal");
    expect(task.loaded.baseDir).toBe(join(dir, "definition"));
    expect(task.state.snapshot.packages[0]!.name).toBe("systemd");
  });

  it("refuses a definitionFile or a definitionFiles path that leaves the directory", async () => {
    const up = await attempt({ ...(await validRequest()), definitionFile: "../x" });
    expect(up.code).toBe("IMAGE_TASK_REQUEST_INVALID");
    expect(up.message).toContain("definitionFile");
    const nested = await attempt({ ...(await validRequest()), definitionFiles: [{ path: "keys/../../etc/shadow", sha256: sha, size: 1 }] });
    expect(nested.code).toBe("IMAGE_TASK_REQUEST_INVALID");
    const absolute = await attempt({ ...(await validRequest()), definitionFiles: [{ path: "/etc/shadow", sha256: sha, size: 1 }] });
    expect(absolute.code).toBe("IMAGE_TASK_REQUEST_INVALID");
  });

  it("refuses a definition that reads host paths or names a file the request does not list", async () => {
    const base = await validRequest();
    const absolute = await attempt({ ...base, definition: `${base.definition}\nallowAbsolutePaths: true\n` });
    expect(absolute.code).toBe("IMAGE_TASK_REQUEST_INVALID");
    expect(absolute.message).toContain("allowAbsolutePaths");
    const unlisted = await attempt({
      ...base,
      definition: String(base.definition).replace(/^files:\n/m, 'files:\n  - dest: /etc/motd\n    src: motd.txt\n    mode: "0644"\n'),
    });
    expect(unlisted.code).toBe("IMAGE_TASK_REQUEST_INVALID");
    expect(unlisted.message).toContain("motd.txt is not among the request's definitionFiles");
    const listed = await attempt({
      ...base,
      definition: String(base.definition).replace(/^files:\n/m, 'files:\n  - dest: /etc/motd\n    src: motd.txt\n    mode: "0644"\n'),
      definitionFiles: [{ path: "motd.txt", sha256: sha, size: 3 }],
    });
    expect(listed).toEqual({});
  });

  it("takes a definition with a build section without its files: source trees and the token stay with the client", async () => {
    const base = await validRequest();
    const definition = `${String(base.definition)}\nbuild:\n  target: t\n  tokenFile: token\n  sources:\n    - path: tree\n    - dsc: hello_1.0-1.dsc\n`;
    expect(await attempt({ ...base, definition })).toEqual({});
    const loaded = { definition: parseDefinition(definition, "minimal.yaml"), path: join(work, "minimal.yaml"), baseDir: work };
    expect(imageTaskFiles(loaded)).toEqual([]);
    const withFile = definition.replace(/^files:\n/m, 'files:\n  - dest: /etc/motd\n    src: motd.txt\n    mode: "0644"\n');
    expect(imageTaskFiles({ ...loaded, definition: parseDefinition(withFile, "minimal.yaml") }).map((f) => f.path)).toEqual([
      join(work, "motd.txt"),
    ]);
  });

  it("never ships the definition's secrets: the update channel's key, the push signing key and its passphrase", () => {
    const definition = parseDefinition(
      'name: x\nversion: "1"\nfiles:\n  - dest: /etc/motd\n    src: motd.txt\n    mode: "0644"\n' +
        "updates:\n  url: http://127.0.0.1/\n  key: channel.asc\n" +
        "push:\n  registry: registry.example:5000/debian\n  signing: { key: keys/sigstore.key, passphraseFile: keys/pass }\n",
      "minimal.yaml",
    );
    const loaded = { definition, path: join(work, "minimal.yaml"), baseDir: work };
    expect(imageTaskFiles(loaded)).toEqual([{ field: "files[0].src", path: join(work, "motd.txt") }]);
  });

  it("refuses a variant or arch the definition does not have", async () => {
    expect((await attempt({ ...(await validRequest()), variant: "other" })).code).toBe("IMAGE_TASK_REQUEST_INVALID");
    expect((await attempt({ ...(await validRequest()), arch: "arm64" })).code).toBe("IMAGE_TASK_REQUEST_INVALID");
  });
});

describe("image task state", () => {
  const refusal = (mutate: (s: { snapshot: Record<string, unknown> } & Record<string, unknown>) => void) => {
    const state = structuredClone(validState()) as { snapshot: Record<string, unknown> } & Record<string, unknown>;
    mutate(state);
    try {
      parseImageTaskState(state);
    } catch (error) {
      expect(isCodedError(error, "IMAGE_TASK_STATE_INVALID")).toBe(true);
      return (error as Error).message;
    }
    throw new Error("expected the state to be refused");
  };

  it("refuses a containers trust whose public key is not one (it is written into the image's policy)", () => {
    const scope = "registry.example:5000/debian";
    expect(
      refusal((st) => (st.containersTrust = { scope, publicKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" })),
    ).toContain("state.containersTrust.publicKey");
    expect(
      refusal((st) => (st.containersTrust = { scope, publicKey: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n" })),
    ).toContain("expected a PEM public key");
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(parseImageTaskState({ ...validState(), containersTrust: { scope, publicKey: pem } }).containersTrust?.publicKey).toBe(pem);
  });

  it("takes the state the client makes", () => {
    expect(parseImageTaskState(validState()).snapshot.suite).toBe("trixie-minimal");
  });

  it("has no marker boot in it any more: that ask is the diskImage task's (disk-task.ts)", () => {
    expect(
      refusal((s) => {
        s.bootTest = { marker: true };
      }),
    ).toContain("bootTest");
  });

  it("refuses paths: a field it does not know, in the state or its snapshot", () => {
    expect(
      refusal((s) => {
        s.snapshot.keyring = "/etc/apt/trusted.gpg";
      }),
    ).toContain("keyring");
    expect(
      refusal((s) => {
        s.snapshot.url = "file:///";
      }),
    ).toContain("url");
    expect(
      refusal((s) => {
        s.cacheDir = "/";
      }),
    ).toContain("cacheDir");
  });

  it("refuses odd suite, component, package and version names (they become apt source lines and mmdebstrap arguments)", () => {
    expect(
      refusal((s) => {
        s.snapshot.suite = "../../etc";
      }),
    ).toContain("state.snapshot.suite");
    expect(
      refusal((s) => {
        s.snapshot.suite = "trixie main\ndeb http://127.0.0.1/ x";
      }),
    ).toContain("state.snapshot.suite");
    expect(
      refusal((s) => {
        s.snapshot.components = ["main contrib"];
      }),
    ).toContain("components");
    expect(
      refusal((s) => {
        s.snapshot.packages = [{ name: "--hook-dir=/tmp", version: "1", architecture: "amd64", sha256: sha }];
      }),
    ).toContain("packages.0.name");
    expect(
      refusal((s) => {
        s.snapshot.packages = [{ name: "systemd", version: "1 --root=/", architecture: "amd64", sha256: sha }];
      }),
    ).toContain("packages.0.version");
    expect(
      refusal((s) => {
        s.snapshot.mmdebstrapVariant = "apt --customize-hook=x";
      }),
    ).toContain("mmdebstrapVariant");
  });

  it("refuses a secret key where a public key belongs, and a key that is no key", async () => {
    const secret = await generateOpenPgpKey({ name: "s", email: "s@example.invalid" });
    expect(
      refusal((s) => {
        s.updateKey = { publicKey: secret.privateKey, fingerprint: secret.fingerprint };
      }),
    ).toContain("updateKey.publicKey");
    const garbled = parseImageTaskState({
      ...validState(),
      snapshot: { ...(validState().snapshot as object), armoredKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n" },
    });
    const dir = await mkdtemp(join(work, "seed-"));
    await expect(
      seedImageTaskState(garbled, { variant: "minimal", arch: "amd64", snapshotDir: join(dir, "snapshot"), keyDir: dir }),
    ).rejects.toMatchObject({ code: "IMAGE_TASK_STATE_INVALID" });
  });

  it("seeds the snapshot state at the work directory's snapshot, the set keyed by its SHA256s", async () => {
    const dir = await mkdtemp(join(work, "seed-"));
    const state = await seedImageTaskState(parseImageTaskState(validState()), {
      variant: "minimal",
      arch: "amd64",
      snapshotDir: join(dir, "snapshot"),
      keyDir: dir,
    });
    const snapshot = state.get("snapshot");
    expect(snapshot.url).toBe(`file://${join(dir, "snapshot")}`);
    expect(snapshot.suites).toEqual({ minimal: "trixie-minimal" });
    expect(snapshot.packages.minimal?.amd64?.[0]?.sha256).toBe(sha);
    expect((await readFile(snapshot.keyring)).length).toBeGreaterThan(0);
  });
});
