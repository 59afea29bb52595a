// A webhook receiver for tests: records every delivery (headers and raw body), and can be "down" (503) for a while.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { freePort } from './server.ts';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

export class Receiver {
  received: Received[] = [];
  down = false;
  server!: Server;
  url = '';

  async start() {
    const port = await freePort();
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (this.down) {
          res.writeHead(503).end('maintenance');
          return;
        }
        this.received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${port}/hooks`;
  }

  /** The delivery of this event, once a worker has sent it. */
  async delivery(eventId: string): Promise<Received> {
    for (let i = 0; i < 300; i++) {
      const found = this.received.find((r) => r.headers['webhook-id'] === eventId);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`event ${eventId} was never delivered`);
  }
}
