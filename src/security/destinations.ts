// Resolving a caller-chosen host once and judging every address it resolves to. The addresses returned are the only
// ones a guarded request may connect to (`outbound-http.ts` pins them), so a name cannot pass the check with a
// public answer and then be connected to through a second, private one (DNS rebinding).
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { isPrivateName, refusedRange } from './addresses.ts';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** The host may not be called on a caller's behalf. `reason` names the kind of address, never the address itself. */
export class DestinationRefused extends Error {
  constructor(
    readonly hostname: string,
    readonly reason: string,
  ) {
    super(`${hostname} ${reason}`);
    this.name = 'DestinationRefused';
  }
}

/** The host's name does not resolve (or the resolver did not answer). */
export class UnresolvableHost extends Error {
  constructor(readonly hostname: string) {
    super(`${hostname} could not be resolved`);
    this.name = 'UnresolvableHost';
  }
}

export class HostResolver {
  private readonly resolver: dns.Resolver | undefined;

  /**
   * `servers` (SWITCHBOARD_DNS_SERVERS, `ip` or `ip:port`): resolve through these instead of the system resolver
   * (getaddrinfo, which also reads /etc/hosts). They are asked directly (c-ares), so a slow name cannot tie up
   * libuv's small thread pool the way getaddrinfo does.
   */
  constructor(servers: string[] = []) {
    if (servers.length) {
      this.resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
      this.resolver.setServers(servers);
    }
  }

  /** Every address the name resolves to, in the resolver's order. An address literal resolves to itself. */
  async resolve(hostname: string): Promise<ResolvedAddress[]> {
    const host = hostname.replace(/^\[|\]$/g, '');
    const literal = isIP(host);
    if (literal) return [{ address: host, family: literal as 4 | 6 }];
    try {
      if (!this.resolver) {
        const found = await dns.lookup(host, { all: true, verbatim: true });
        return found.map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
      }
      const [v4, v6] = await Promise.all([this.records(() => this.resolver!.resolve4(host)), this.records(() => this.resolver!.resolve6(host))]);
      const all = [...v4.map((address) => ({ address, family: 4 as const })), ...v6.map((address) => ({ address, family: 6 as const }))];
      if (!all.length) throw new UnresolvableHost(hostname);
      return all;
    } catch (err) {
      if (err instanceof UnresolvableHost) throw err;
      throw new UnresolvableHost(hostname);
    }
  }

  /** One record type's answers; "no such name" or "no records of this type" is simply none. */
  private async records(query: () => Promise<string[]>): Promise<string[]> {
    try {
      return await query();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw err;
    }
  }

  /**
   * The host's addresses, if every one of them is globally routable unicast; otherwise DestinationRefused. One
   * refused address refuses the host: which of them a connection would use is not ours to choose.
   */
  async publicAddresses(hostname: string): Promise<ResolvedAddress[]> {
    if (isPrivateName(hostname)) throw new DestinationRefused(hostname, 'is a local name');
    const addresses = await this.resolve(hostname);
    const literal = isIP(hostname.replace(/^\[|\]$/g, '')) !== 0;
    for (const { address } of addresses) {
      const range = refusedRange(address);
      if (range) throw new DestinationRefused(hostname, literal ? `is not a public address (${range})` : `resolves to an address that is not public (${range})`);
    }
    return addresses;
  }
}
