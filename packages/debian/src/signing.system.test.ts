import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGpgSigner, createGpgvVerifier, generateGpgKey, importGpgSecretKey, parseGpgvStatus } from "./gpg-signing.js";
import {
  createOpenPgpSigner,
  createOpenPgpVerifier,
  type GeneratedKey,
  generateOpenPgpKey,
  type Signer,
  type Verifier,
} from "./signing.js";

// gpg and gpgv (Debian packages gpg, gpg-agent, gpgv) against openpgp.js, both ways.

const fixturePath = (name: string) => new URL(`./__fixtures__/${name}`, import.meta.url).pathname;
const RELEASE =
  "Origin: Test\nSuite: test\nDate: Sat, 17 May 2025 08:13:49 UTC\nSHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages\n";

describe("gpg and gpgv interoperate with openpgp.js", () => {
  let dir: string;
  let gpgSigner: Signer;
  let jsKey: GeneratedKey;
  let jsSigner: Signer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "signing-system-"));
    const fingerprint = await generateGpgKey({ home: join(dir, "gnupg"), name: "Hub Key", email: "hub@example.org" });
    gpgSigner = await createGpgSigner({ home: join(dir, "gnupg") });
    expect(gpgSigner.fingerprint).toBe(fingerprint);
    jsKey = await generateOpenPgpKey({ name: "JS Key", email: "js@example.org" });
    jsSigner = await createOpenPgpSigner({ privateKey: jsKey.privateKey });
  });

  afterAll(async () => {
    await gpgSigner?.close?.();
    await rm(dir, { recursive: true, force: true });
  });

  /** The verifier accepts both signatures the signer makes of RELEASE, and names the signer's key. */
  async function expectVerifies(signer: Signer, verifier: Verifier): Promise<void> {
    const { inline, detached } = await signer.sign(RELEASE);
    const inlineResult = await verifier.verifyInline(inline);
    expect(inlineResult.text).toBe(RELEASE);
    expect(inlineResult.fingerprints).toEqual([signer.fingerprint]);
    expect((await verifier.verifyDetached(RELEASE, detached)).fingerprints).toEqual([signer.fingerprint]);
  }

  it("gpgv verifies what the openpgp.js signer wrote", async () => {
    expect(jsSigner.fingerprint).toBe(jsKey.fingerprint);
    await expectVerifies(jsSigner, await createGpgvVerifier(jsKey.publicKey));
  });

  it("openpgp.js verifies what gpg wrote", async () => {
    await expectVerifies(gpgSigner, await createOpenPgpVerifier(gpgSigner.publicKey()));
  });

  it("gpgv rejects tampered text, a tampered detached signature's data, and a foreign key", async () => {
    const { inline, detached } = await gpgSigner.sign(RELEASE);
    const gpgv = await createGpgvVerifier(gpgSigner.publicKey());
    await expect(gpgv.verifyInline(inline.replace("Suite: test", "Suite: tset"))).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
    await expect(gpgv.verifyDetached(RELEASE.replace("test", "tset"), detached)).rejects.toThrow(/BAD signature/);
    const foreign = await createGpgvVerifier(jsKey.publicKey);
    await expect(foreign.verifyInline(inline)).rejects.toThrow(/no good signature/);
  });

  it("gpgv and openpgp.js agree on Debian's own InRelease", async () => {
    const keyring = { path: fixturePath("apt-repository/debian-archive-bookworm-automatic.gpg") };
    const signed = readFileSync(fixturePath("bookworm-updates.InRelease"), "utf8");
    const viaGpgv = await (await createGpgvVerifier(keyring)).verifyInline(signed);
    const viaJs = await (await createOpenPgpVerifier(keyring)).verifyInline(signed);
    expect(viaGpgv.fingerprints).toEqual(["B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"]);
    expect(viaJs).toEqual(viaGpgv);
  });

  it("imports an openpgp.js key into gpg and signs with its passphrase", async () => {
    const key = await generateOpenPgpKey({ name: "Imported", email: "imported@example.org", passphrase: "pw" });
    const home = join(dir, "imported");
    expect(await importGpgSecretKey(home, key.privateKey, { passphrase: "pw" })).toContain(key.fingerprint);
    const signer = await createGpgSigner({ home, passphrase: "pw" });
    try {
      const { inline } = await signer.sign(RELEASE);
      expect((await (await createGpgvVerifier(key.publicKey)).verifyInline(inline)).fingerprints).toEqual([key.fingerprint]);
    } finally {
      await signer.close?.();
    }
  });

  it("gpgv and openpgp.js both refuse a signature by a key that has expired since", async () => {
    const created = new Date("2020-01-01T00:00:00Z");
    const key = await generateOpenPgpKey({ name: "Short", email: "short@example.org", date: created, expiresInSeconds: 86400 });
    const signer = await createOpenPgpSigner({ privateKey: key.privateKey, date: new Date("2020-01-01T01:00:00Z") });
    const { inline, detached } = await signer.sign(RELEASE);
    const gpgv = await createGpgvVerifier(key.publicKey);
    await expect(gpgv.verifyInline(inline)).rejects.toThrow(/EXPKEYSIG/);
    await expect(gpgv.verifyDetached(RELEASE, detached)).rejects.toThrow(/EXPKEYSIG/);
    await expect((await createOpenPgpVerifier(key.publicKey)).verifyInline(inline)).rejects.toThrow(/expired/);
  });

  it("refuses a home without a signing key", async () => {
    await expect(createGpgSigner({ home: join(dir, "empty") })).rejects.toMatchObject({ code: "SIGNING_FAILED" });
  });

  it("parses gpgv status lines", () => {
    const status = parseGpgvStatus(
      [
        "[GNUPG:] NEWSIG",
        "[GNUPG:] GOODSIG 6ED0E7B82643E131 Debian",
        "[GNUPG:] VALIDSIG 4CB50190207B4758A3F73A796ED0E7B82643E131 2026-11-25 1795572696 0 4 0 1 8 01 B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
        "[GNUPG:] ERRSIG 78DBA3BC47EF2265 1 8 01 1795572713 9 B8E5F13176D2A7A75220028078DBA3BC47EF2265",
        "[GNUPG:] NO_PUBKEY 78DBA3BC47EF2265",
      ].join("\n"),
    );
    expect(status).toEqual({ valid: ["B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"], bad: [], missing: ["78DBA3BC47EF2265"], other: [] });
  });
});
