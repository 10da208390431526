/**
 * Which addresses a webhook may reach (DESIGN §6). By default only global unicast addresses:
 * loopback, link-local (169.254.169.254, the cloud metadata service), private, carrier-grade
 * NAT, multicast, broadcast, unspecified and every reserved or translation range (NAT64,
 * 6to4, Teredo: each can carry an internal IPv4 address) are refused, so a webhook cannot be
 * used to reach, or probe, what sits inside the server's network. `--webhook-allow-private`
 * lifts this for deployments whose receivers are internal.
 *
 * The check is made on the address actually connected to: `guardedLookup` is the `lookup`
 * of the delivery's socket, so a name that resolved to a public address when it was checked
 * and to 127.0.0.1 a moment later (DNS rebinding) is still refused. An IP literal never goes
 * through a lookup, so `literalRefusal` checks it before connecting.
 *
 * The classification is ipaddr.js's `range()` (the library Express and Fastify use for
 * proxy addresses), not ranges written out here.
 */
import { lookup as dnsLookup } from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import ipaddr from "ipaddr.js";

/** What a refused target's delivery records: the same words whatever the address was, so deliveries do not map the network. */
export const targetNotAllowed = "target address not allowed";

export class TargetNotAllowedError extends Error {
  readonly code = "ETARGETNOTALLOWED";
  constructor() {
    super(targetNotAllowed);
    this.name = "TargetNotAllowedError";
  }
}

/** Resolve a name to every address (the shape of `dns.lookup` with `all: true`); tests pass their own. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error === null ? resolve(addresses) : reject(error))));

/** The range of an address, as ipaddr.js names it ("unicast", "loopback", "private", …); IPv4-mapped IPv6 is classified as its IPv4. */
export function addressRange(address: string): string {
  let parsed = ipaddr.parse(address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range();
}

/** Only global unicast addresses are public; anything that is not a valid address is refused too. */
export function isPublicAddress(address: string): boolean {
  try {
    return addressRange(address) === "unicast";
  } catch {
    return false;
  }
}

/** A URL's host as an IP literal (brackets removed), or null for a name. */
export function ipLiteral(hostname: string): string | null {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return ipaddr.isValid(bare) ? bare : null;
}

/**
 * Why a webhook URL is refused before any DNS (at registration and before each delivery),
 * or null: an IP literal that is not public, or `localhost` / `*.localhost` (RFC 6761: always loopback).
 */
export function literalRefusal(url: URL): string | null {
  const host = url.hostname.toLowerCase();
  const literal = ipLiteral(host);
  if (literal !== null) return isPublicAddress(literal) ? null : `${literal} is a ${addressRange(literal)} address`;
  if (host === "localhost" || host.endsWith(".localhost") || host === "localhost.") return `${host} is a loopback name`;
  return null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` / `net.connect` that resolves with `resolver` and keeps only
 * public addresses; none left is a `TargetNotAllowedError`. It answers in the form asked
 * (`all: true`, as Node's happy-eyeballs connect asks, or one address).
 */
export function guardedLookup(resolver: Resolver): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  return (hostname, options, callback) => {
    resolver(hostname).then(
      (addresses) => {
        const allowed = addresses.filter((a) => (options.family === undefined || options.family === 0 || a.family === options.family) && isPublicAddress(a.address));
        const first = allowed[0];
        if (first === undefined) callback(new TargetNotAllowedError(), options.all === true ? [] : "", 0);
        else if (options.all === true) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, options.all === true ? [] : "", 0),
    );
  };
}

/** A `lookup` with no check, for `--webhook-allow-private` (still through `resolver`, so tests resolve the same names either way). */
export function plainLookup(resolver: Resolver): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  return (hostname, options, callback) => {
    resolver(hostname).then(
      (addresses) => {
        const usable = addresses.filter((a) => options.family === undefined || options.family === 0 || a.family === options.family);
        const first = usable[0];
        if (first === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), options.all === true ? [] : "", 0);
        else if (options.all === true) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, options.all === true ? [] : "", 0),
    );
  };
}
