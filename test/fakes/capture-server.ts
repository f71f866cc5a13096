/**
 * A capture server for the SDK-fidelity tests (test/sdk-fidelity.test.ts): listens on
 * 127.0.0.1 port 0, records every request exactly as it arrived (method, path, query,
 * headers, body) and answers each with the documented success body that `answer` picks,
 * so that an official SDK and an adapter can be sent to the same place and their
 * requests compared.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query as sorted `[name, value]` pairs (order on the wire does not matter). */
  query: [string, string][];
  headers: Record<string, string>;
  body: string;
}

export interface CapturedAnswer {
  status?: number;
  /** JSON body (serialized) or raw text with `contentType`. */
  json?: unknown;
  text?: string;
  contentType?: string;
}

export interface CaptureServer {
  url: string;
  requests: CapturedRequest[];
  /** Requests recorded since `mark` (an index from `requests.length`). */
  since(mark: number): CapturedRequest[];
  close(): Promise<void>;
}

export async function startCaptureServer(answer: (req: CapturedRequest) => CapturedAnswer): Promise<CaptureServer> {
  const requests: CapturedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://capture');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const rec: CapturedRequest = {
        method: req.method ?? 'GET',
        path: u.pathname,
        query: [...u.searchParams].sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a.localeCompare(b))),
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      const a = answer(rec);
      const body = a.json !== undefined ? JSON.stringify(a.json) : (a.text ?? '');
      res.writeHead(a.status ?? 200, { 'content-type': a.json !== undefined ? 'application/json' : (a.contentType ?? 'text/plain') });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    since: (mark) => requests.slice(mark),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
