/**
 * The served OpenAPI document (GET /api/openapi.json): valid OpenAPI 3.1 (checked with
 * @seriousme/openapi-schema-validator, offline), every $ref resolving, every contract
 * operation present with an operationId, responses and the right security, the seed's
 * security schemes, the local server, and the committed openapi/openapi.json current.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { OPENAPI_FILE, renderOpenApi, servedOpenApi } from '../scripts/openapi.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, type TestContext } from './helpers/context.ts';

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  servers?: { url: string }[];
  security?: unknown[];
  tags?: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, Record<string, unknown>> };
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Every operation of CONTRACT.md (sections 4–8 and 10) with the way it authenticates. */
const CONTRACT_OPERATIONS: [string, string, 'user' | 'internal' | 'public'][] = [
  ['get', '/api/v1/byok/providers', 'user'],
  ['patch', '/api/v1/byok/providers/{provider}', 'user'],
  ['post', '/api/v1/byok/providers/{provider}/validate', 'user'],
  ['delete', '/api/v1/byok/providers/{provider}', 'user'],
  ['get', '/api/v1/byok/mode', 'user'],
  ['patch', '/api/v1/byok/mode', 'user'],
  ['get', '/api/v1/byok/audit', 'user'],
  ['get', '/api/v1/user', 'user'],
  ['get', '/api/v1/models', 'user'],
  ['get', '/api/v1/models/{id}', 'user'],
  ['get', '/api/v1/user/apikey', 'user'],
  ['post', '/api/v1/user/apikey', 'user'],
  ['post', '/api/v1/user/apikey/rotate', 'user'],
  ['delete', '/api/v1/user/apikey', 'user'],
  ['post', '/api/v1/teams', 'user'],
  ['get', '/api/v1/teams', 'user'],
  ['patch', '/api/v1/teams', 'user'],
  ['get', '/api/v1/teams/members', 'user'],
  ['post', '/api/v1/teams/members/invite', 'user'],
  ['post', '/api/v1/teams/invitations/accept', 'user'],
  ['patch', '/api/v1/teams/members/role', 'user'],
  ['delete', '/api/v1/teams/members', 'user'],
  ['post', '/internal/v1/credentials/resolve', 'internal'],
  ['get', '/healthz', 'public'],
  ['get', '/readyz', 'public'],
  ['get', '/metrics', 'internal'],
];

function operations(doc: Doc): { method: string; path: string; op: Operation }[] {
  const out: { method: string; path: string; op: Operation }[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) if (METHODS.has(method)) out.push({ method, path, op });
  }
  return out;
}

/** Resolves a local JSON pointer (`#/components/schemas/X`) in the document. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!node || typeof node !== 'object' || !(key in node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function collectRefs(node: unknown, at: string, out: { ref: string; at: string }[]): void {
  if (Array.isArray(node)) node.forEach((n, i) => collectRefs(n, `${at}/${i}`, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push({ ref: v, at });
      else collectRefs(v, `${at}/${k}`, out);
    }
  }
}

describe('OpenAPI document', () => {
  let ctx: TestContext;
  let doc: Doc;

  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
    const res = await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    doc = res.json<Doc>();
  });
  after(async () => ctx.close());

  it('is valid OpenAPI 3.1 according to the official schema', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator["validate"]>[0]);
    assert.equal(result.valid, true, `schema errors: ${JSON.stringify(result.errors, null, 1)?.slice(0, 3000)}`);
    assert.equal(validator.version, '3.1');
  });

  it('every $ref resolves inside the document', () => {
    const refs: { ref: string; at: string }[] = [];
    collectRefs(doc, '#', refs);
    assert.ok(refs.length > 10, 'the document uses shared schemas');
    for (const { ref, at } of refs) {
      assert.ok(ref.startsWith('#/components/'), `${at}: $ref ${ref} is local to components`);
      assert.ok(resolvePointer(doc, ref) !== undefined, `${at}: $ref ${ref} resolves`);
    }
  });

  it('names the security schemes as the seed does, and the local server', () => {
    assert.deepEqual(
      { type: doc.components.securitySchemes.BearerAuth?.type, scheme: doc.components.securitySchemes.BearerAuth?.scheme, bearerFormat: doc.components.securitySchemes.BearerAuth?.bearerFormat },
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    );
    assert.deepEqual(
      { type: doc.components.securitySchemes.ApiKeyAuth?.type, in: doc.components.securitySchemes.ApiKeyAuth?.in, name: doc.components.securitySchemes.ApiKeyAuth?.name },
      { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
    );
    assert.ok(doc.servers?.some((s) => s.url === 'http://localhost:8080'), 'servers has http://localhost:8080');
    assert.deepEqual(doc.security, [], 'no global security: each operation says');
  });

  it('describes every operation of the contract', () => {
    const present = new Set(operations(doc).map((o) => `${o.method} ${o.path}`));
    const missing = CONTRACT_OPERATIONS.filter(([m, p]) => !present.has(`${m} ${p}`)).map(([m, p]) => `${m.toUpperCase()} ${p}`);
    assert.deepEqual(missing, [], 'operations missing from the document');
  });

  it('every operation has a unique operationId, a summary, known tags and a success response', () => {
    const tags = new Set((doc.tags ?? []).map((t) => t.name));
    const ids = new Set<string>();
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.ok(op.operationId, `${where} has an operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is unique`);
      ids.add(op.operationId);
      assert.ok(op.summary, `${where} has a summary`);
      assert.ok(op.tags?.length && op.tags.every((t) => tags.has(t)), `${where} has tags declared at the top level`);
      const codes = Object.keys(op.responses ?? {});
      assert.ok(codes.some((c) => /^2\d\d$/.test(c)), `${where} declares a 2xx response`);
      for (const [code, r] of Object.entries(op.responses ?? {})) assert.ok(r.description, `${where} ${code} has a description`);
      if (op.requestBody) assert.ok(op.requestBody.content?.['application/json'], `${where} takes application/json`);
    }
  });

  it('non-public operations declare their security and a 401; API routes accept a JWT or an API key', () => {
    const auth = new Map(CONTRACT_OPERATIONS.map(([m, p, a]) => [`${m} ${p}`, a]));
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const mode = auth.get(`${method} ${path}`) ?? (path.startsWith('/api/v1') ? 'user' : path.startsWith('/internal/') ? 'internal' : 'public');
      if (mode === 'public') {
        assert.ok(!op.security || op.security.length === 0, `${where} is public`);
        continue;
      }
      const expected = mode === 'user' ? [{ BearerAuth: [] }, { ApiKeyAuth: [] }] : [{ InternalToken: [] }];
      assert.deepEqual(op.security, expected, `${where} security`);
      assert.ok(op.responses?.['401'], `${where} declares 401`);
      for (const s of op.security ?? []) for (const name of Object.keys(s)) assert.ok(doc.components.securitySchemes[name], `${where}: scheme ${name} exists`);
    }
  });

  it('the seed operation PATCH /api/v1/byok/mode keeps the seed shape', () => {
    const op = doc.paths['/api/v1/byok/mode']?.patch;
    assert.ok(op);
    assert.equal(op.operationId, 'patch-v1-byok-mode');
    assert.deepEqual(op.tags, ['BYOK']);
    for (const code of ['200', '400', '401', '403', '500']) assert.ok(op.responses?.[code], `declares ${code}`);
    const body = op.requestBody?.content?.['application/json'] as { schema?: { $ref?: string; properties?: Record<string, { enum?: string[] }> } } | undefined;
    const schema = (body?.schema?.$ref ? resolvePointer(doc, body.schema.$ref) : body?.schema) as { properties?: Record<string, { enum?: string[] }>; required?: string[] };
    assert.deepEqual(schema.properties?.mode?.enum, ['neo', 'byok']);
    assert.deepEqual(schema.required, ['mode']);
  });

  it('no query parameter with a default is required (clients may leave it out)', () => {
    let withDefault = 0;
    for (const { method, path, op } of operations(doc)) {
      const params = ((op as { parameters?: unknown[] }).parameters ?? []).map((p) =>
        (p && typeof p === 'object' && '$ref' in p ? resolvePointer(doc, String(p.$ref)) : p) as {
          in?: string;
          name?: string;
          required?: boolean;
          schema?: { default?: unknown; $ref?: string };
        },
      );
      for (const p of params) {
        if (p.in !== 'query') continue;
        const schema = (p.schema?.$ref ? resolvePointer(doc, p.schema.$ref) : p.schema) as { default?: unknown } | undefined;
        if (schema?.default === undefined) continue;
        withDefault++;
        assert.notEqual(p.required, true, `${method.toUpperCase()} ${path}: query parameter ${p.name} has a default but is required`);
      }
    }
    assert.ok(withDefault >= 2, 'the check saw the audit paging parameters');
    const audit = (doc.paths['/api/v1/byok/audit']?.get as { parameters?: { name: string; required?: boolean; schema?: Record<string, unknown> }[] }).parameters ?? [];
    const byName = new Map(audit.map((p) => [p.name, p]));
    assert.deepEqual(
      { required: byName.get('limit')?.required ?? false, default: byName.get('limit')?.schema?.default, minimum: byName.get('limit')?.schema?.minimum, maximum: byName.get('limit')?.schema?.maximum },
      { required: false, default: 50, minimum: 1, maximum: 200 },
    );
    assert.deepEqual(
      { required: byName.get('offset')?.required ?? false, default: byName.get('offset')?.schema?.default, minimum: byName.get('offset')?.schema?.minimum },
      { required: false, default: 0, minimum: 0 },
    );
  });

  it('every operation that reads a body lists the answers to an oversized and to a non-JSON body', async () => {
    // Enumerated from the document, so a new route is covered without editing this test.
    // Fastify reads the body of every method but GET and HEAD, even on a route that takes none.
    const readsBody = operations(doc).filter(({ method, op }) => op.requestBody || !['get', 'head'].includes(method));
    assert.ok(operations(doc).filter(({ op }) => op.requestBody).length >= 10, 'the check saw the operations that take a body');
    const user = await ctx.bearer('body-limits@example.com');
    // Over every route's limit: 64 KiB, and 512 KiB for the runtime's batched reports.
    const oversized = JSON.stringify({ padding: 'x'.repeat(600 * 1024) });
    const unlisted: string[] = [];
    for (const { method, path, op } of readsBody) {
      // Any value fills a path parameter: the body is refused before the route's own checks.
      const url = path.replace(/\{provider\}/g, 'openai').replace(/\{[^}]+\}/g, 'x');
      const headers = path.startsWith('/internal/') ? { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` } : user;
      const sent = [
        { what: 'an oversized', expected: 413, payload: oversized, type: 'application/json' },
        { what: 'a non-JSON', expected: 415, payload: 'mode=byok', type: 'text/plain' },
      ];
      for (const { what, expected, payload, type } of sent) {
        const res = await ctx.app.inject({ method: method.toUpperCase() as 'POST', url, headers: { ...headers, 'content-type': type }, payload });
        const where = `${method.toUpperCase()} ${path} with ${what} body`;
        assert.equal(res.statusCode, expected, `${where}: ${res.body.slice(0, 200)}`);
        if (!op.responses?.[String(res.statusCode)]) unlisted.push(`${where} answers ${res.statusCode}, not listed`);
      }
    }
    assert.deepEqual(unlisted, [], 'answers missing from the document');
  });

  it('every operation with a path parameter lists the 400 it answers to a malformed or over-long value', async () => {
    const withParams = operations(doc).filter(({ path }) => path.includes('{'));
    assert.ok(withParams.some(({ method, path }) => method === 'get' && path === '/api/v1/models/{id}'), 'GET /api/v1/models/{id} is checked');
    const user = await ctx.bearer('path-params@example.com');
    const unlisted: string[] = [];
    for (const { method, path, op } of withParams) {
      for (const value of ['x'.repeat(201), '%zz']) {
        const url = path.replace(/\{[^}]+\}/g, value);
        const res = await ctx.app.inject({ method: method.toUpperCase() as 'GET', url, headers: user });
        const where = `${method.toUpperCase()} ${path} with ${value.slice(0, 10)}`;
        assert.equal(res.statusCode, 400, `${where}: ${res.body.slice(0, 200)}`);
        if (!op.responses?.['400']) unlisted.push(`${where} answers 400, not listed`);
      }
    }
    assert.deepEqual(unlisted, [], 'answers missing from the document');
  });

  it('the committed openapi/openapi.json is current', async () => {
    const expected = renderOpenApi(await servedOpenApi());
    let committed = '';
    try {
      committed = readFileSync(OPENAPI_FILE, 'utf8');
    } catch {
      /* missing: reported below */
    }
    assert.ok(committed === expected, 'openapi/openapi.json is stale or missing: run `npm run openapi` and commit the result');
    // The generator's configuration does not change the document: it equals what this
    // test server (other settings) serves.
    assert.equal(renderOpenApi(doc), expected, 'the served document depends on configuration');
  });
});
