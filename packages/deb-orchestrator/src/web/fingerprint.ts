import { createHash } from "node:crypto";
import { dearmor } from "@debian-bootc/debian";

/**
 * The fingerprint of the primary key in an armoured OpenPGP public key (RFC 9580 §5.5.4): SHA-1 over
 * 0x99, a two-byte length and the key packet body for v4 keys; SHA-256 over 0x9B, a four-byte length
 * and the body for v6. Upper-case hex, as gpg prints it. Undefined when the text holds no key.
 */
export async function keyFingerprint(armored: string | undefined): Promise<string | undefined> {
  if (!armored) return undefined;
  let data: Uint8Array;
  try {
    data = await dearmor(armored, "repository key");
  } catch {
    return undefined;
  }
  const packet = firstPacket(data);
  if (!packet || (packet.tag !== 6 && packet.tag !== 5)) return undefined;
  const body = packet.body;
  const version = body[0];
  if (version === 4) {
    const head = Buffer.from([0x99, (body.length >> 8) & 0xff, body.length & 0xff]);
    return createHash("sha1").update(head).update(body).digest("hex").toUpperCase();
  }
  if (version === 6) {
    const head = Buffer.alloc(5);
    head[0] = 0x9b;
    head.writeUInt32BE(body.length, 1);
    return createHash("sha256").update(head).update(body).digest("hex").toUpperCase();
  }
  return undefined;
}

function firstPacket(data: Uint8Array): { tag: number; body: Uint8Array } | undefined {
  const first = data[0];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  let offset = 1;
  let tag: number;
  let length: number;
  if (first & 0x40) {
    tag = first & 0x3f;
    const l0 = data[offset++];
    if (l0 === undefined) return undefined;
    if (l0 < 192) length = l0;
    else if (l0 < 224) length = ((l0 - 192) << 8) + (data[offset++] ?? 0) + 192;
    else if (l0 === 255) {
      length = Buffer.from(data.subarray(offset, offset + 4)).readUInt32BE(0);
      offset += 4;
    } else return undefined; // partial lengths never start a key
  } else {
    tag = (first >> 2) & 0x0f;
    const lengthType = first & 0x03;
    const bytes = [1, 2, 4][lengthType];
    if (bytes === undefined) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (data[offset++] ?? 0);
  }
  if (offset + length > data.length) return undefined;
  return { tag, body: data.subarray(offset, offset + length) };
}

/** `ABCD 1234 ...`: the fingerprint in groups of four, as gpg shows it. */
export function groupFingerprint(fingerprint: string): string {
  return fingerprint.replace(/(.{4})(?=.)/g, "$1 ");
}
