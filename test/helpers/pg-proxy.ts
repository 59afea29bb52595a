// A TCP proxy in front of PostgreSQL, for tests of how the server behaves when its database misbehaves:
//   freeze() — bytes stop flowing both ways, sockets stay open and new connections are accepted: what a
//              stopped (SIGSTOP) server, a full disk under fsync or a silent network look like to a client;
//   thaw()   — everything held is delivered, in order, and forwarding resumes;
//   down()   — the listener closes and every socket is cut: a crashed or restarting server;
//   up()     — listens again on the same port.
// The server under test gets the proxy's URL as its DATABASE_URL.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface PgProxy {
  /** The target's URL with the proxy's host and port. */
  url: string;
  freeze(): void;
  thaw(): void;
  down(): Promise<void>;
  up(): Promise<void>;
  /** Chunks written by clients and not yet delivered (while frozen). */
  heldFromClients(): number;
  close(): Promise<void>;
}

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const targetHost = target.hostname;
  const targetPort = Number(target.port || 5432);
  const sockets = new Set<Socket>();
  let frozen = false;
  // In arrival order across every connection, so a thaw delivers as a frozen server would have read them.
  let held: Array<{ to: Socket; chunk: Buffer; fromClient: boolean }> = [];

  function relay(from: Socket, to: Socket, fromClient: boolean) {
    from.on('data', (chunk: Buffer) => {
      if (frozen) held.push({ to, chunk, fromClient });
      else if (!to.destroyed) to.write(chunk);
    });
    const cut = () => {
      from.destroy();
      to.destroy();
    };
    from.on('close', cut);
    from.on('error', cut);
  }

  const onConnection = (client: Socket) => {
    const upstream = connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    relay(client, upstream, true);
    relay(upstream, client, false);
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const port = await listen(0);
  let listening = true;

  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  async function down() {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    held = [];
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  return {
    url: url.toString(),
    freeze: () => void (frozen = true),
    thaw() {
      frozen = false;
      const delivering = held;
      held = [];
      for (const { to, chunk } of delivering) if (!to.destroyed) to.write(chunk);
    },
    down,
    async up() {
      if (listening) return;
      server = createServer(onConnection);
      await listen(port);
      listening = true;
    },
    heldFromClients: () => held.filter((h) => h.fromClient).length,
    async close() {
      frozen = false;
      await down();
    },
  };
}
