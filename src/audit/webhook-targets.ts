/**
 * Where a webhook may be delivered (docs/audit.md, "URLs and SSRF"): not to
 * loopback, link-local (169.254.169.254, the cloud metadata service),
 * private, shared (CGNAT), multicast, documentation or otherwise reserved
 * addresses — the special-purpose registries of RFC 6890 for IPv4 and IPv6 —
 * nor to an IPv6 form that carries such an IPv4 address (IPv4-mapped
 * `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
 *
 * The check runs twice: when a webhook is registered (an address literal, a
 * `localhost` name, or a name that resolves to a refused address is refused
 * with a clear error) and at every delivery, on the very addresses the socket
 * connects to (`guardedLookup`, the lookup the HTTP request uses), so a name
 * that resolves elsewhere later (DNS rebinding) is refused too. An operator
 * who delivers to internal receivers on purpose sets
 * SYMBOLON_WEBHOOK_ALLOW_PRIVATE_TARGETS=1.
 */
import { BlockList, isIP } from 'node:net';
import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';

const refusedV4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network" (0.0.0.0 reaches the local host)
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space, CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local: cloud metadata at 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the limited broadcast 255.255.255.255
] as const) {
  refusedV4.addSubnet(network, prefix, 'ipv4');
}

const refusedV6 = new BlockList();
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ['64:ff9b:1::', 48], // NAT64 for local use (RFC 8215)
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: carries an IPv4 address that may be private
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  refusedV6.addSubnet(network, prefix, 'ipv6');
}
const nat64 = new BlockList();
nat64.addSubnet('64:ff9b::', 96, 'ipv6');

/** The IPv4 address in the last 32 bits of an IPv6 address (`64:ff9b::7f00:1` → `127.0.0.1`). */
function lastV4(address: string): string | undefined {
  const tail = address.slice(address.lastIndexOf(':') + 1);
  if (isIP(tail) === 4) return tail;
  const groups = address.split(':');
  const lo = Number.parseInt(groups.at(-1) || '0', 16);
  const hi = Number.parseInt(groups.at(-2) || '0', 16);
  if (!Number.isInteger(lo) || !Number.isInteger(hi)) return undefined;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * Whether a webhook must not be delivered to `address` (an IPv4 or IPv6
 * literal, without brackets). Anything that is not an address literal is
 * refused.
 */
export function isRefusedWebhookAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const plain = bare.split('%')[0]!; // a zone id (fe80::1%eth0) names an interface, not another address
  switch (isIP(plain)) {
    case 4:
      return refusedV4.check(plain, 'ipv4');
    case 6: {
      // BlockList checks an IPv4-mapped address (::ffff:a.b.c.d) against the IPv4 rules as well.
      if (refusedV6.check(plain, 'ipv6') || refusedV4.check(plain, 'ipv6')) return true;
      if (nat64.check(plain, 'ipv6')) {
        const v4 = lastV4(plain);
        return v4 === undefined || refusedV4.check(v4, 'ipv4');
      }
      return false;
    }
    default:
      return true;
  }
}

/** Host names that mean this machine whatever DNS says (RFC 6761). */
export function isLocalHostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

/** A delivery refused because its host resolved to a refused address. */
export class RefusedTargetError extends Error {
  override name = 'RefusedTargetError';
  readonly code = 'ERR_WEBHOOK_REFUSED_TARGET';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect` (and so for `http.request`): resolves like
 * `dns.lookup` and fails with RefusedTargetError when any address the name
 * resolves to is refused, so the socket only ever connects to an address
 * that was checked. Refusing the whole answer, not only the bad entries,
 * keeps a mixed answer from being a way in.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    if (addresses.length === 0 || addresses.some((a) => isRefusedWebhookAddress(a.address))) {
      return callback(new RefusedTargetError('the webhook host resolves to a refused address'), []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
}
