// A tiny real DNS server (UDP, RFC 1035) for tests: the server under test resolves caller-chosen hosts through it
// (SWITCHBOARD_DNS_SERVERS), so a test decides what a name resolves to — and can change the answer between two
// queries, as a rebinding attacker would. It answers A and AAAA from `answer`; any other type, or no records, is an
// empty NOERROR answer, and `undefined` is NXDOMAIN. Every question is recorded.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

export type RecordType = 'A' | 'AAAA' | 'other';

export interface DnsServer {
  /** `127.0.0.1:<port>`, for SWITCHBOARD_DNS_SERVERS. */
  address: string;
  queries: Array<{ name: string; type: RecordType }>;
  close(): Promise<void>;
}

/** `answer(name, type, nth)`: the addresses for the nth (from 0) question of this name and type. */
export async function startDnsServer(answer: (name: string, type: RecordType, nth: number) => string[] | undefined): Promise<DnsServer> {
  const socket = createSocket('udp4');
  const queries: DnsServer['queries'] = [];
  const asked = new Map<string, number>();

  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    // Header (12 bytes), then one question: labels, a zero byte, QTYPE, QCLASS.
    const labels: string[] = [];
    let at = 12;
    while (msg[at] !== 0) {
      labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString('ascii'));
      at += msg[at] + 1;
    }
    const questionEnd = at + 5;
    const qtype = msg.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    const type: RecordType = qtype === 1 ? 'A' : qtype === 28 ? 'AAAA' : 'other';
    queries.push({ name, type });
    const key = `${name} ${type}`;
    const nth = asked.get(key) ?? 0;
    asked.set(key, nth + 1);
    const addresses = type === 'other' ? [] : answer(name, type, nth);
    const records = (addresses ?? []).filter((a) => (type === 'A') === isIPv4(a));

    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    // QR, opcode 0, RD copied, RA; RCODE 3 (NXDOMAIN) when the name does not exist.
    header.writeUInt16BE(0x8000 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (addresses === undefined ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    const answers = records.map((address) => {
      const rdata = Buffer.from(ipaddr.parse(address).toByteArray());
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4); // class IN
      rr.writeUInt32BE(0, 6); // TTL 0: nothing may be cached
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    socket.send(Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]), from.port, from.address);
  });

  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
