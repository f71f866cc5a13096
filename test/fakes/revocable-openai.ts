/**
 * A fake of OpenAI's key check (`GET /v1/models`, `Authorization: Bearer`) whose keys
 * can be revoked and restored while a test runs: the provider accepts a key, then
 * answers its real 401 `invalid_api_key` once the key is revoked. Counts the checks per
 * key, so tests can tell how often the server asked.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MODELS } from './key-providers.ts';

export interface RevocableOpenAi {
  url: string;
  revoke(key: string): void;
  restore(key: string): void;
  /** Checks received per key. */
  calls(key: string): number;
  close(): Promise<void>;
}

export async function startRevocableOpenAi(): Promise<RevocableOpenAi> {
  const revoked = new Set<string>();
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const key = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if ((req.url ?? '').split('?')[0] !== '/v1/models') return send(404, { error: { message: 'Invalid URL', type: 'invalid_request_error', code: null } });
    if (!key) return send(401, { error: { message: "You didn't provide an API key.", type: 'invalid_request_error', param: null, code: null } });
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (revoked.has(key)) {
      return send(401, {
        error: { message: 'Incorrect API key provided: sk-…. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
      });
    }
    send(200, { object: 'list', data: MODELS.openai.map((id) => ({ id, object: 'model', created: 1754000000, owned_by: 'openai' })) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    revoke: (k) => revoked.add(k),
    restore: (k) => revoked.delete(k),
    calls: (k) => counts.get(k) ?? 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
