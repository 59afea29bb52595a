// Which IP addresses a caller-chosen host may lead us to: only globally routable unicast. Everything else —
// loopback, private, link-local, CGNAT, benchmarking (198.18/15), documentation, multicast, reserved and the other
// special-purpose ranges — could aim our server at its own network. ipaddr.js knows the IANA ranges; what is ours is
// the normalisation: an IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo, IPv4-compatible)
// is judged by the IPv4 address it would reach as well.
import ipaddr from 'ipaddr.js';

/** The only IPv6 block IANA allocates as global unicast (RFC 4291 §2.4, IANA's IPv6 unicast registry). */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
/** RFC 6052 well-known NAT64 prefix (the IPv4 address is the last 32 bits). */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
/** RFC 8215 local-use NAT64: where the IPv4 address sits depends on the operator's prefix, so it is refused whole. */
const NAT64_LOCAL_USE = ipaddr.IPv6.parseCIDR('64:ff9b:1::/48');
/** Deprecated IPv4-compatible addresses (RFC 4291 §2.5.5.1), `::a.b.c.d`. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

/**
 * Why an address is not one we may connect to on a caller's behalf (the name of its range, e.g. `loopback`,
 * `private`, `ipv4Mapped → loopback`), or `undefined` for a globally routable unicast address. Accepts any form
 * ipaddr.js parses (IPv4 in decimal, octal or hex parts included); anything unparseable is refused.
 */
export function refusedRange(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(bare)) return 'not an IP address';
  const parsed = ipaddr.parse(bare);
  return parsed.kind() === 'ipv4' ? refusedV4(parsed as ipaddr.IPv4) : refusedV6(parsed as ipaddr.IPv6);
}

function refusedV4(addr: ipaddr.IPv4): string | undefined {
  const range = addr.range();
  return range === 'unicast' ? undefined : range;
}

function refusedV6(addr: ipaddr.IPv6): string | undefined {
  if (addr.zoneId) return 'linkLocal';
  const p = addr.parts;
  // Addresses that carry an IPv4 address: refused when the IPv4 address would be.
  const embedded = (via: string, ...ips: ipaddr.IPv4[]) => {
    for (const ip of ips) {
      const why = refusedV4(ip);
      if (why) return `${via} → ${why}`;
    }
    return undefined;
  };
  const range = addr.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145') return embedded(range, addr.toIPv4Address()) ?? range;
  if (addr.match(NAT64_LOCAL_USE)) return 'rfc8215';
  if (addr.match(NAT64_WELL_KNOWN)) return embedded('rfc6052', v4(p[6], p[7]));
  if (range === '6to4') return embedded('6to4', v4(p[1], p[2]));
  // Teredo: the server's address in plain, the client's obfuscated (every bit inverted, RFC 4380 §4).
  if (range === 'teredo') return embedded('teredo', v4(p[2], p[3]), v4(~p[6] & 0xffff, ~p[7] & 0xffff));
  if (addr.match(IPV4_COMPATIBLE)) return range === 'unicast' ? 'ipv4Compatible' : range;
  if (range !== 'unicast') return range;
  return addr.match(GLOBAL_UNICAST_V6) ? undefined : 'reserved';
}

/** Host names that always mean this machine or a private network, whatever DNS says. */
export function isPrivateName(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.+$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal');
}
