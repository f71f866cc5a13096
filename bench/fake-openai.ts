/**
 * A zero-latency fake of OpenAI's key check for the benchmark, run in its own process
 * so that it never competes with the server's event loop: `GET /v1/models` with
 * `Authorization: Bearer <key>` answers 200 and OpenAI's list shape; anything else
 * answers OpenAI's 401/404 bodies. Prints `listening <url>` on stdout once ready.
 * (test/fakes/key-providers.ts is the full fake of every provider's wire contract;
 * this one answers the single call the benchmark makes, with no bookkeeping.)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const MODELS = ['gpt-5', 'gpt-5-mini', 'gpt-4.1', 'gpt-4o', 'o3', 'text-embedding-3-large', 'dall-e-3'];
const LIST = JSON.stringify({
  object: 'list',
  data: MODELS.map((id) => ({ id, object: 'model', created: 1_735_689_600, owned_by: 'system' })),
});
const UNAUTHORIZED = JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
const NOT_FOUND = JSON.stringify({ error: { message: 'Invalid URL', type: 'invalid_request_error', param: null, code: null } });

let served = 0;
const server = createServer((req, res) => {
  served++;
  const path = (req.url ?? '').split('?')[0];
  let status = 200;
  let body = LIST;
  if (req.method !== 'GET' || path !== '/v1/models') {
    status = 404;
    body = NOT_FOUND;
  } else if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
    status = 401;
    body = UNAUTHORIZED;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});
// The parent asks for the count (and the fake exits with it) when the run ends.
process.on('SIGTERM', () => {
  process.stdout.write(`served ${served}\n`);
  server.close();
  server.closeAllConnections();
});
