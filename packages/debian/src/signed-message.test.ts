import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isSignedMessage, parseSignedMessage, stripSignature } from "./signed-message.js";

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), "utf8");

describe("signed messages", () => {
  it("splits a real .dsc into text, signature and hash headers", () => {
    const message = parseSignedMessage(fixture("hello_2.10-5.dsc"));
    expect(message.hashes).toEqual(["SHA512"]);
    expect(message.text.startsWith("Format: 3.0 (quilt)\nSource: hello\n")).toBe(true);
    expect(message.text).not.toContain("PGP");
    expect(message.signature).toMatch(/^-----BEGIN PGP SIGNATURE-----\n[\s\S]+-----END PGP SIGNATURE-----\n$/);
  });

  it("undoes dash-escaping", () => {
    const text =
      "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: 1\n- -dashed\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
    expect(parseSignedMessage(text).text).toBe("A: 1\n-dashed");
  });

  it("passes unsigned text through stripSignature", () => {
    expect(isSignedMessage("A: 1\n")).toBe(false);
    expect(stripSignature("A: 1\n")).toBe("A: 1\n");
  });

  it.each([
    ["no blank line after headers", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256", /no empty line/],
    ["no signature", "-----BEGIN PGP SIGNED MESSAGE-----\n\nA: 1\n", /no "-----BEGIN PGP SIGNATURE-----"/],
    [
      "unterminated",
      "-----BEGIN PGP SIGNED MESSAGE-----\n\nA: 1\n-----BEGIN PGP SIGNATURE-----\nabc\n",
      /no "-----END PGP SIGNATURE-----"/,
    ],
    ["bad header", "-----BEGIN PGP SIGNED MESSAGE-----\nnonsense\n\n", /malformed armour header/],
    [
      "unescaped dash",
      "-----BEGIN PGP SIGNED MESSAGE-----\n\n-x\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n",
      /unescaped line/,
    ],
  ])("rejects %s", (_label, text, message) => {
    expect(() => parseSignedMessage(text, "x.dsc")).toThrow(message);
  });
});
