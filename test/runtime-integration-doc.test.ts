/**
 * The example client of docs/runtime-integration.md is what the page advises: it
 * typechecks under the project's compiler options, and against a local server it retries
 * a 500 or 503 exactly once (after Retry-After when sent) and never a 4xx.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, beforeEach, describe, it } from 'node:test';
import ts from 'typescript';

const ROOT = new URL('..', import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, 'docs/runtime-integration.md'), 'utf8');

/** The ```ts block of the "Example client (TypeScript)" section. */
function exampleClient(): string {
  const section = DOC.slice(DOC.indexOf('\n## Example client (TypeScript)\n'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the section has a ```ts block');
  return m[1]!;
}

interface Client {
  resolveClient(baseUrl: string, token: string): (userId: string, model: string) => Promise<{ neo_model_id: string }>;
  ResolveError: new (...args: never[]) => Error & { status: number; code: string };
}

interface Scripted {
  status: number;
  headers?: Record<string, string>;
}

describe('docs/runtime-integration.md example client', () => {
  const dir = join(ROOT, '.test-tmp', `runtime-client-${process.pid}`);
  const file = join(dir, 'client.ts');
  let client: Client;
  let server: Server;
  let baseUrl: string;
  /** Answers still to give, in order (then 200). */
  let script: Scripted[] = [];
  /** Arrival time (ms) of each request. */
  let arrivals: number[] = [];

  before(async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, exampleClient());
    client = (await import(pathToFileURL(file).href)) as Client;
    server = createServer((req, res) => {
      arrivals.push(Date.now());
      req.resume();
      const next = script.shift();
      if (!next) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ neo_model_id: 'claude-sonnet-4-5' }));
        return;
      }
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(JSON.stringify({ error: 'x', code: `code_${next.status}`, error_id: 'e', kind: 'k', message: `k: status ${next.status}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    script = [];
    arrivals = [];
  });

  it('typechecks under the project compiler options (strict, noUncheckedIndexedAccess)', () => {
    const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
    const program = ts.createProgram([file], { ...parsed.options, noEmit: true });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(problems, []);
  });

  const resolve = () => client.resolveClient(baseUrl, 'internal-token')('0193a3c4-0000-7000-8000-000000000000', 'auto');

  it('a 500 is retried once, after a short random delay; a second 500 fails the call', async () => {
    script = [{ status: 500 }];
    assert.equal((await resolve()).neo_model_id, 'claude-sonnet-4-5');
    assert.equal(arrivals.length, 2);
    script = [{ status: 500 }, { status: 500 }, { status: 500 }];
    arrivals = [];
    await assert.rejects(resolve(), (err: Error & { status?: number; code?: string }) => {
      assert.ok(err instanceof client.ResolveError);
      assert.equal(err.status, 500);
      assert.equal(err.code, 'code_500');
      return true;
    });
    assert.equal(arrivals.length, 2, 'exactly one retry');
  });

  it('a 503 is retried once, not before its Retry-After', async () => {
    script = [{ status: 503, headers: { 'retry-after': '1' } }];
    assert.equal((await resolve()).neo_model_id, 'claude-sonnet-4-5');
    assert.equal(arrivals.length, 2);
    // A lower bound (Retry-After honoured), not a speed measurement.
    assert.ok(arrivals[1]! - arrivals[0]! >= 990, `retried after ${arrivals[1]! - arrivals[0]!} ms`);
    script = [{ status: 503, headers: { 'retry-after': '1' } }, { status: 503, headers: { 'retry-after': '1' } }];
    arrivals = [];
    await assert.rejects(resolve(), (err: Error & { status?: number }) => err.status === 503);
    assert.equal(arrivals.length, 2, 'exactly one retry');
  });

  it('never retries a 4xx (429 included)', async () => {
    for (const status of [400, 401, 404, 409, 413, 415, 429]) {
      script = [{ status, headers: status === 429 ? { 'retry-after': '1' } : {} }];
      arrivals = [];
      await assert.rejects(resolve(), (err: Error & { status?: number }) => err.status === status);
      assert.equal(arrivals.length, 1, `HTTP ${status} is final`);
    }
  });
});
