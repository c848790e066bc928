import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { parseSignedMessage } from "./signed-message.js";
import {
  createOpenPgpSigner,
  createOpenPgpVerifier,
  dearmor,
  type GeneratedKey,
  generateOpenPgpKey,
  loadKeyring,
  type Signer,
} from "./signing.js";

const fixtureUrl = (name: string) => new URL(`./__fixtures__/${name}`, import.meta.url);
const fixture = (name: string) => readFileSync(fixtureUrl(name), "utf8");

const RELEASE = "Origin: Test\nLabel: Test\nSuite: test\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e        0 main/binary-amd64/Packages\n";

describe("openpgp.js signer and verifier", () => {
  let key: GeneratedKey;
  let other: GeneratedKey;
  let signer: Signer;

  beforeAll(async () => {
    key = await generateOpenPgpKey({ name: "Repo Test", email: "repo-test@example.org" });
    other = await generateOpenPgpKey({ name: "Someone Else", email: "else@example.org" });
    signer = await createOpenPgpSigner({ privateKey: key.privateKey });
  });

  it("generates a v4 key whose fingerprint the signer reports", async () => {
    expect(key.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(signer.fingerprint).toBe(key.fingerprint);
    expect(signer.publicKey()).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----");
    expect(signer.publicKey()).not.toContain("PRIVATE");
  });

  it("signs inline so that the signed text is exactly the Release", async () => {
    const { inline } = await signer.sign(RELEASE);
    expect(parseSignedMessage(inline).text).toBe(RELEASE.slice(0, -1));
    expect(inline).not.toContain("\r"); // LF line ends, as gpg writes them
    const verified = await (await createOpenPgpVerifier(key.publicKey)).verifyInline(inline);
    expect(verified.text).toBe(RELEASE);
    expect(verified.fingerprints).toEqual([key.fingerprint]);
  });

  it("signs detached over the exact bytes", async () => {
    const { detached } = await signer.sign(RELEASE);
    expect(detached).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    const verifier = await createOpenPgpVerifier(key.publicKey);
    expect((await verifier.verifyDetached(RELEASE, detached)).fingerprints).toEqual([key.fingerprint]);
    await expect(verifier.verifyDetached(`${RELEASE} `, detached)).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
  });

  it("rejects a tampered inline message", async () => {
    const { inline } = await signer.sign(RELEASE);
    const tampered = inline.replace("Suite: test", "Suite: evil");
    await expect((await createOpenPgpVerifier(key.publicKey)).verifyInline(tampered)).rejects.toMatchObject({
      code: "REPO_SIGNATURE_INVALID",
    });
  });

  it("rejects a signature by a key that is not in the keyring", async () => {
    const { inline, detached } = await signer.sign(RELEASE);
    const verifier = await createOpenPgpVerifier(other.publicKey);
    await expect(verifier.verifyInline(inline)).rejects.toThrow(/no good signature/);
    await expect(verifier.verifyDetached(RELEASE, detached)).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
  });

  it("accepts a keyring of several keys, armoured or binary", async () => {
    const { inline } = await signer.sign(RELEASE);
    const armoured = `${other.publicKey}\n${key.publicKey}`;
    expect((await (await createOpenPgpVerifier(armoured)).verifyInline(inline)).fingerprints).toEqual([key.fingerprint]);
    const binary = await dearmor(armoured);
    expect(binary[0]! & 0x80).toBe(0x80); // an OpenPGP packet header, not text
    expect((await (await createOpenPgpVerifier(binary)).verifyInline(inline)).fingerprints).toEqual([key.fingerprint]);
  });

  it("refuses text outside the signed message", async () => {
    const { inline } = await signer.sign(RELEASE);
    const verifier = await createOpenPgpVerifier(key.publicKey);
    await expect(verifier.verifyInline(`Suite: evil\n${inline}`)).rejects.toThrow(/outside the signed message/);
    await expect(verifier.verifyInline(`${inline}Suite: evil\n`)).rejects.toThrow(/outside the signed message/);
  });

  it("uses a passphrase-protected key only with its passphrase", async () => {
    const locked = await generateOpenPgpKey({ name: "Locked", email: "locked@example.org", passphrase: "s3cret" });
    await expect(createOpenPgpSigner({ privateKey: locked.privateKey })).rejects.toMatchObject({ code: "SIGNING_FAILED" });
    await expect(createOpenPgpSigner({ privateKey: locked.privateKey, passphrase: "wrong" })).rejects.toMatchObject({
      code: "SIGNING_FAILED",
    });
    const unlocked = await createOpenPgpSigner({ privateKey: locked.privateKey, passphrase: "s3cret" });
    const { inline } = await unlocked.sign(RELEASE);
    expect((await (await createOpenPgpVerifier(locked.publicKey)).verifyInline(inline)).fingerprints).toEqual([locked.fingerprint]);
  });

  it("verifies Debian's own InRelease with the archive keyring (binary .gpg file)", async () => {
    const verifier = await createOpenPgpVerifier({ path: fixtureUrl("apt-repository/debian-archive-bookworm-automatic.gpg").pathname });
    const result = await verifier.verifyInline(fixture("bookworm-updates.InRelease"));
    // signed by the bookworm and the trixie archive keys; only the first is in this keyring
    expect(result.fingerprints).toEqual(["B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"]);
    expect(result.text.startsWith("Origin: Debian\nLabel: Debian\nSuite: oldstable-updates\n")).toBe(true);
    expect(result.text.endsWith("non-free/source/Sources.xz\n")).toBe(true);
  });

  it("says which keyring file is missing", async () => {
    await expect(loadKeyring({ path: "/nonexistent/keyring.gpg" })).rejects.toThrow(/nonexistent\/keyring\.gpg/);
    await expect(loadKeyring("not a key")).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
  });
});

describe("key expiry", () => {
  it("rejects a signature by an expired key unless verifying as of a time it was valid", async () => {
    const created = new Date("2020-01-01T00:00:00Z");
    const key = await generateOpenPgpKey({ name: "Short", email: "short@example.org", date: created, expiresInSeconds: 86400 });
    const signer = await createOpenPgpSigner({ privateKey: key.privateKey, date: new Date("2020-01-01T01:00:00Z") });
    const { inline } = await signer.sign(RELEASE);
    await expect((await createOpenPgpVerifier(key.publicKey)).verifyInline(inline)).rejects.toMatchObject({
      code: "REPO_SIGNATURE_INVALID",
    });
    const then = await createOpenPgpVerifier(key.publicKey, { date: new Date("2020-01-01T02:00:00Z") });
    expect((await then.verifyInline(inline)).fingerprints).toEqual([key.fingerprint]);
  });
});
