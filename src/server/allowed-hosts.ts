/**
 * Which `Host` header values the AWS endpoint accepts (issue #12, item 13).
 * SigV4 signs the Host header but says nothing about whether it names this
 * server; without this check a request signed for one host:port was accepted
 * on another. Accepted: the host of SYMBOLON_PUBLIC_URL (with or without its
 * default port), every name of the listening address at its port (loopback:
 * `127.0.0.1`, `localhost`, `[::1]`; a wildcard address: every local interface
 * address as well), and the names SYMBOLON_ALLOWED_HOSTS adds (proxies,
 * internal service names). Pure apart from reading the interfaces once.
 */
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';

function bracket(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

function listenNames(address: string): string[] {
  if (address === '0.0.0.0' || address === '::') {
    const names = new Set(LOOPBACK);
    for (const list of Object.values(networkInterfaces())) {
      for (const i of list ?? []) names.add(bracket(i.address.toLowerCase()));
    }
    return [...names];
  }
  if (address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1') return LOOPBACK;
  return [bracket(address.toLowerCase())];
}

/**
 * The set of accepted Host values, lower-case `host[:port]`.
 * @param options.publicUrl SYMBOLON_PUBLIC_URL (absolute http(s) URL), if set.
 * @param options.extra SYMBOLON_ALLOWED_HOSTS entries, `host[:port]`.
 * @param options.address the listening address (`app.server.address()`), when listening.
 */
export function allowedHosts(options: {
  publicUrl: string | undefined;
  extra: readonly string[];
  address: AddressInfo | string | null | undefined;
}): Set<string> {
  const hosts = new Set<string>();
  if (options.publicUrl) {
    const u = new URL(options.publicUrl);
    hosts.add(u.host.toLowerCase());
    // URL drops the scheme's default port; a client may still send it.
    if (!u.port) hosts.add(`${u.hostname.toLowerCase()}:${u.protocol === 'https:' ? 443 : 80}`);
  }
  for (const h of options.extra) hosts.add(h.toLowerCase());
  const a = options.address;
  if (a && typeof a === 'object') for (const name of listenNames(a.address)) hosts.add(`${name}:${a.port}`);
  return hosts;
}

/** True when the request's Host header is one of `hosts` (compared without regard to case). */
export function hostAccepted(hosts: ReadonlySet<string>, header: string): boolean {
  return hosts.has(header.toLowerCase());
}
