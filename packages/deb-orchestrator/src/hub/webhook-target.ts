import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { networkInterfaces } from "node:os";
import { orchestratorError } from "../errors.js";

/*
 * Where a webhook may POST. The hub signs what it sends and runs inside a network its users may not
 * reach, so a webhook must not make it a proxy into itself: loopback, link-local (cloud metadata lives
 * at 169.254.169.254), unspecified, multicast and broadcast addresses and every address of the hub's
 * own interfaces are refused unless the admin allowed local targets for that webhook. Private-use
 * ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: CI receivers commonly live there, and
 * only admins add webhooks. The check runs when the webhook is created and again on every connection
 * (inside the DNS lookup the connection uses, so a name that changes its address is caught).
 */

const refused = new BlockList();
for (const [network, prefix, family] of [
  ["0.0.0.0", 8, "ipv4"],
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["255.255.255.255", 32, "ipv4"],
  ["::", 128, "ipv6"],
  ["::1", 128, "ipv6"],
  ["fe80::", 10, "ipv6"],
  ["ff00::", 8, "ipv6"],
] as const)
  refused.addSubnet(network, prefix, family);

/** An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is checked as the IPv4 address. */
function unmapped(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted?.[1]) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex?.[1] || !hex[2]) return address;
  const high = Number.parseInt(hex[1], 16);
  const low = Number.parseInt(hex[2], 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) own.add(unmapped(entry.address.split("%")[0]!));
  return own;
}

/** Why an address may not receive webhooks, or undefined when it may. */
export function refusedAddress(address: string): string | undefined {
  const plain = unmapped(address.split("%")[0]!);
  const family = isIP(plain);
  if (family === 0) return `'${address.slice(0, 60)}' is not an IP address`;
  if (refused.check(plain, family === 4 ? "ipv4" : "ipv6")) return `${plain} is a loopback, link-local, unspecified or multicast address`;
  if (ownAddresses().has(plain)) return `${plain} is an address of the hub itself`;
  return undefined;
}

function refusal(url: URL, why: string) {
  return orchestratorError("WEBHOOK_TARGET_REFUSED", `webhook target ${url.protocol}//${url.host}: ${why}`, {
    hint: "an admin can allow local targets for one webhook with --allow-local (add-webhook)",
    details: { field: "url" },
  });
}

/** A DNS lookup for the delivery's connection that fails for refused addresses (the connection then never opens). */
export function guardedLookup(allowLocal: boolean): LookupFunction {
  return ((hostname: string, options: LookupOptions, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const problem = allowLocal ? undefined : addresses.map((a) => refusedAddress(a.address)).find((p) => p !== undefined);
      if (problem) return callback(Object.assign(new Error(`refused: ${problem}`), { code: "WEBHOOK_TARGET_REFUSED" }));
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/** Refuse a webhook URL whose host is or resolves to a refused address (every address it resolves to). */
export async function checkWebhookTarget(url: URL, allowLocal: boolean): Promise<void> {
  if (allowLocal) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else
    addresses = await new Promise((resolve, reject) =>
      dnsLookup(host, { all: true }, (error, found) =>
        error ? reject(refusal(url, `its host does not resolve (${error.code ?? error.message})`)) : resolve(found.map((a) => a.address)),
      ),
    );
  for (const address of addresses) {
    const problem = refusedAddress(address);
    if (problem) throw refusal(url, problem);
  }
}

/** The delivery's own check for a host written as an IP address (no lookup happens for those). */
export function refusedLiteral(url: URL, allowLocal: boolean): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return allowLocal || !isIP(host) ? undefined : refusedAddress(host);
}
