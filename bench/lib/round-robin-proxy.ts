// A minimal reverse proxy for the scale-out benchmark, run as a child process (`fork`) so that its CPU does not
// come out of the benchmark's event loop: each request goes to the next upstream in turn over keep-alive
// connections, with X-Forwarded-For set to the client's address (what the servers' SWITCHBOARD_TRUST_PROXY reads)
// and X-Forwarded-Proto/Host as a real proxy sends them. It receives `{ upstreams }` over IPC and answers
// `{ port }` (on the `port` it is given, else any), and takes a new list the same way; it counts the requests each upstream got (`'counts'` → `{ counts }`).
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

let upstreams: URL[] = [];
let counts: number[] = [];
let next = 0;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

const server = createServer((req, res) => {
  const i = next;
  next = (next + 1) % upstreams.length;
  counts[i]++;
  const target = upstreams[i];
  const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '', 'x-forwarded-proto': 'http', 'x-forwarded-host': req.headers.host ?? '' };
  const upstream = request({ agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('upstream failed');
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: { upstreams: string[]; port?: number } | 'counts') => {
  if (msg === 'counts') {
    process.send!({ counts });
    return;
  }
  upstreams = msg.upstreams.map((u) => new URL(u));
  counts = upstreams.map(() => 0);
  next = 0;
  if (server.listening) process.send!({ port: (server.address() as AddressInfo).port });
  else server.listen(msg.port ?? 0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
});
