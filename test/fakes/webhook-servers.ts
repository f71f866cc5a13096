/**
 * Local HTTP servers for the webhook tests, all on loopback, port 0:
 * - a receiver whose handler answers each request as the test wants (and records it);
 * - a trap that counts every TCP connection and request and answers nothing useful:
 *   the SSRF tests point refused URLs at it and assert it saw no connection at all.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface LocalServer {
  port: number;
  /** `host:port` as an allow-list entry. */
  hostPort: string;
  url: string;
  requests: ReceivedRequest[];
  connections: number;
  close(): Promise<void>;
}

type Handler = (req: ReceivedRequest, res: ServerResponse) => void;

async function start(host: string, handler: Handler): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  const state = { requests: [] as ReceivedRequest[], connections: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const rec = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      state.requests.push(rec);
      handler(rec, res);
    });
  });
  server.on('connection', (s: Socket) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    hostPort: `${hostPart}:${port}`,
    url: `http://${hostPart}:${port}`,
    get requests() {
      return state.requests;
    },
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A receiver on `host` (default 127.0.0.1) answering with `handler` (default 204). */
export function startReceiver(
  handler: Handler = (_req, res) => res.writeHead(204).end(),
  host = '127.0.0.1',
): Promise<LocalServer> {
  return start(host, handler);
}

/** A trap on `host` (default 127.0.0.1): counts connections and requests, answers 200 "trapped". */
export function startTrap(host = '127.0.0.1'): Promise<LocalServer> {
  return start(host, (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('trapped'));
}
