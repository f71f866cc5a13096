/**
 * A request fuzzer driven by the served OpenAPI document: for every operation it builds
 * requests from the operation's own schemas (path and query parameters, JSON body) —
 * valid values, boundary values, invalid ones — and mixes in transport-level abuse:
 * wrong types, unknown fields, huge and deeply nested bodies, unicode and NUL bytes,
 * `__proto__`/`constructor` keys, invalid JSON, duplicate headers, bad content types,
 * odd methods and encoded paths. Deterministic for a seed (mulberry32).
 */
import type { InjectOptions } from 'fastify';

export interface Rng {
  seed: number;
  next(): number;
  int(min: number, max: number): number;
  bool(p?: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast, deterministic. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    bool: (p = 0.5) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

export type Schema = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, Record<string, unknown>>>; components?: { schemas?: Record<string, Schema> } };

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. `/api/v1/byok/providers/{provider}`. */
  path: string;
  operationId: string;
  params: Param[];
  body?: Schema;
  bodyRequired: boolean;
  auth: 'user' | 'internal' | 'public';
}

/** Every operation of the document. */
export function operationsOf(doc: Doc): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const security = (op.security as Record<string, unknown>[] | undefined) ?? [];
      const schemes = security.flatMap((s) => Object.keys(s));
      const auth = schemes.includes('InternalToken') ? 'internal' : schemes.length ? 'user' : 'public';
      const rb = op.requestBody as { required?: boolean; content?: Record<string, { schema?: Schema }> } | undefined;
      const body = rb?.content?.['application/json']?.schema;
      out.push({
        method: method.toUpperCase(),
        path,
        operationId: typeof op.operationId === 'string' ? op.operationId : `${method} ${path}`,
        params: ((op.parameters as Param[] | undefined) ?? []).map((p) => ({ name: p.name, in: p.in, required: Boolean(p.required), schema: p.schema ?? {} })),
        ...(body ? { body } : {}),
        bodyRequired: Boolean(rb?.required),
        auth,
      });
    }
  }
  return out;
}

export function deref(doc: Doc, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; i < 10 && typeof s.$ref === 'string'; i++) {
    const name = s.$ref.replace('#/components/schemas/', '');
    s = doc.components?.schemas?.[name] ?? {};
  }
  return s;
}

const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202Eevil\u202C',
  '\uFEFF',
  '\uD83D\uDE00',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'ä'.repeat(300),
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '%00',
  '%2e%2e%2f',
  '\r\nX-Injected: 1',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  '-0',
  '9'.repeat(400),
  'x'.repeat(20_000),
];

/** A string with a random mix of ASCII, controls, NUL, unicode planes and RTL marks. */
export function randomString(rng: Rng, maxLen = 40): string {
  const len = rng.int(0, maxLen);
  let s = '';
  for (let i = 0; i < len; i++) {
    const r = rng.next();
    if (r < 0.6) s += String.fromCharCode(rng.int(0x20, 0x7e));
    else if (r < 0.7) s += String.fromCharCode(rng.int(0, 0x1f));
    else if (r < 0.8) s += String.fromCharCode(rng.int(0xa0, 0x2fff));
    else if (r < 0.88) s += String.fromCodePoint(rng.int(0x1f300, 0x1faff));
    else if (r < 0.92) s += rng.pick(['\u202E', '\u200B', '\uFEFF', '\u0000']);
    else s += rng.pick(['-', '_', '.', '@', '/', ':', '%']);
  }
  return s;
}

export function weirdString(rng: Rng): string {
  return rng.bool(0.5) ? rng.pick(WEIRD_STRINGS) : randomString(rng);
}

export type Hints = Record<string, (rng: Rng, ctx: { op: Operation; pathValues: Record<string, string> }) => unknown>;

/** A value that satisfies the schema (or comes close). */
export function validValue(doc: Doc, schema: Schema, rng: Rng, depth = 0, name = '', hints: Hints = {}, hctx?: { op: Operation; pathValues: Record<string, string> }): unknown {
  const s = deref(doc, schema);
  if (hints[name] && hctx && rng.bool(0.85)) return hints[name](rng, hctx);
  if (Array.isArray(s.enum)) return rng.pick(s.enum as unknown[]);
  if ('const' in s) return s.const;
  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const options = (s.anyOf ?? s.oneOf) as Schema[];
    return validValue(doc, rng.pick(options), rng, depth + 1, name, hints, hctx);
  }
  const type = Array.isArray(s.type) ? rng.pick(s.type as string[]) : (s.type as string | undefined);
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return rng.bool();
    case 'integer':
    case 'number': {
      const min = typeof s.minimum === 'number' ? s.minimum : -1000;
      const max = typeof s.maximum === 'number' ? s.maximum : 1000;
      const v = rng.int(Math.ceil(min), Math.floor(max));
      return type === 'number' && rng.bool(0.3) ? v + 0.5 : v;
    }
    case 'string': {
      const minLen = typeof s.minLength === 'number' ? s.minLength : 0;
      const maxLen = typeof s.maxLength === 'number' ? Math.min(s.maxLength, 64) : 64;
      if (s.format === 'email') return `fuzz${rng.int(0, 1e6)}@example.com`;
      if (s.format === 'uuid') return '0190' + [8, 4, 4, 4, 12].map((n) => Array.from({ length: n }, () => rng.int(0, 15).toString(16)).join('')).join('-').slice(4);
      if (s.format === 'date-time') return new Date(rng.int(0, 2e12)).toISOString();
      if (s.format === 'uri') return `https://127.0.0.1/${rng.int(0, 1000)}`;
      let out = '';
      const len = rng.int(Math.max(minLen, 1), Math.max(minLen, maxLen, 1));
      for (let i = 0; i < len; i++) out += String.fromCharCode(rng.int(0x61, 0x7a));
      return out;
    }
    case 'array': {
      const n = rng.int(typeof s.minItems === 'number' ? s.minItems : 0, Math.min(typeof s.maxItems === 'number' ? s.maxItems : 3, 3));
      return Array.from({ length: n }, () => validValue(doc, (s.items as Schema) ?? {}, rng, depth + 1, '', hints, hctx));
    }
    case 'object':
    default: {
      if (depth > 6) return {};
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      const required = new Set((s.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props)) {
        if (required.has(k) || rng.bool(0.5)) out[k] = validValue(doc, v, rng, depth + 1, k, hints, hctx);
      }
      return out;
    }
  }
}

/** Values at and just past the schema's limits. */
export function boundaryValue(doc: Doc, schema: Schema, rng: Rng): unknown {
  const s = deref(doc, schema);
  if (Array.isArray(s.anyOf)) return boundaryValue(doc, rng.pick(s.anyOf as Schema[]), rng);
  const type = Array.isArray(s.type) ? rng.pick(s.type as string[]) : s.type;
  if (type === 'string') {
    const lens = [0, 1];
    if (typeof s.minLength === 'number') lens.push(s.minLength, Math.max(0, s.minLength - 1));
    if (typeof s.maxLength === 'number') lens.push(s.maxLength, s.maxLength + 1);
    const ch = rng.pick(['a', 'é', '\u0000', '😀', ' ']);
    return ch.repeat(rng.pick(lens));
  }
  if (type === 'integer' || type === 'number') {
    const vals: number[] = [0, -1, 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 31, 1e308];
    if (typeof s.minimum === 'number') vals.push(s.minimum, s.minimum - 1);
    if (typeof s.maximum === 'number') vals.push(s.maximum, s.maximum + 1);
    return rng.pick(vals);
  }
  if (type === 'array') return rng.pick([[], Array.from({ length: 1000 }, () => 1)]);
  if (Array.isArray(s.enum)) return rng.pick([...(s.enum as unknown[]), String(rng.pick(s.enum as unknown[])).toUpperCase(), ` ${String(rng.pick(s.enum as unknown[]))}`]);
  return validValue(doc, s, rng);
}

/** A value of the wrong type or shape. */
export function wrongValue(rng: Rng): unknown {
  return rng.pick<unknown>([
    null,
    true,
    0,
    -1.5,
    1e309 === Infinity ? 1e300 : 0,
    '',
    weirdString(rng),
    [],
    [null],
    {},
    { nested: { deeper: [1, '2', null] } },
    [weirdString(rng)],
  ]);
}

function deepNesting(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

export interface FuzzCase {
  label: string;
  request: InjectOptions;
  /** Strings that must not come back in a 4xx body (submitted secrets). */
  secrets: string[];
}

export interface FuzzContext {
  doc: Doc;
  /** Headers of an authenticated caller (Bearer) and of its API key, and the internal token. */
  auth: { bearer: Record<string, string>; apiKey: () => Record<string, string>; internal: Record<string, string> };
  hints: Hints;
}

function encodePathValue(rng: Rng, v: string): string {
  const r = rng.next();
  if (r < 0.8) return encodeURIComponent(v);
  return rng.pick(['%00', '%2F', '..', '%2e%2e', '%E0%A4%A', '%', 'x'.repeat(300), '%F0%9F%98%80', '\u00e9']);
}

/** One fuzz request for `op`. */
export function fuzzCase(op: Operation, rng: Rng, fx: FuzzContext): FuzzCase {
  const { doc } = fx;
  const strategy = rng.pick([
    'valid',
    'valid',
    'valid',
    'boundary',
    'wrong-type',
    'missing-required',
    'unknown-field',
    'proto',
    'huge',
    'nested',
    'unicode',
    'bad-json',
    'content-type',
    'dup-headers',
    'auth',
    'method',
    'path',
    'query',
  ] as const);
  const secrets: string[] = [];

  // Path parameters.
  const pathValues: Record<string, string> = {};
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const v = strategy === 'path' || rng.bool(0.05) ? weirdString(rng) : String(validValue(doc, p.schema, rng, 0, p.name, fx.hints, { op, pathValues }));
    pathValues[p.name] = v;
  }
  let url = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    strategy === 'path' ? encodePathValue(rng, pathValues[name] ?? 'x') : encodeURIComponent(pathValues[name] ?? 'x'),
  );

  // Query parameters.
  const query: string[] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (!p.required && rng.bool(0.4)) continue;
    const v = strategy === 'query' ? (rng.bool() ? boundaryValue(doc, p.schema, rng) : wrongValue(rng)) : validValue(doc, p.schema, rng);
    query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v))}`);
    if (strategy === 'query' && rng.bool(0.3)) query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(weirdString(rng))}`);
  }
  if (strategy === 'query') query.push(rng.pick(['__proto__[x]=1', 'constructor[prototype][x]=1', 'a[]=1&a[]=2', '%00=%00', `${'q'.repeat(100)}=${'v'.repeat(5000)}`, '=&&=', '%E0%A4%A=1']));
  if (query.length) url += `?${query.join('&')}`;

  // Headers (auth first).
  const headers: Record<string, string | string[]> = {};
  const authFor = () => (op.auth === 'internal' ? fx.auth.internal : op.auth === 'user' ? (rng.bool(0.8) ? fx.auth.bearer : fx.auth.apiKey()) : {});
  Object.assign(headers, authFor());
  if (strategy === 'auth') {
    const variants: Record<string, string | string[]>[] = [
      {},
      { authorization: 'Bearer ' },
      { authorization: 'Basic Zm9vOmJhcg==' },
      { authorization: `Bearer ${weirdString(rng).replace(/[^\x21-\x7e]/g, 'x') || 'x'}` },
      { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
      { 'x-api-key': 'neo_sk_' + 'A'.repeat(32) },
      { 'x-api-key': ['neo_sk_' + 'A'.repeat(32), 'neo_sk_' + 'B'.repeat(32)] },
      { ...fx.auth.bearer, 'x-api-key': 'garbage' },
      { authorization: [String(fx.auth.bearer.authorization), 'Bearer other'] },
    ];
    for (const k of Object.keys(headers)) delete headers[k];
    Object.assign(headers, rng.pick(variants));
  }
  if (strategy === 'dup-headers') {
    const which = rng.pick(['content-type', 'x-request-id', 'authorization', 'accept', 'content-encoding', 'transfer-encoding']);
    if (which === 'content-type') headers['content-type'] = ['application/json', 'text/plain'];
    else if (which === 'x-request-id') headers['x-request-id'] = ['a', 'b'];
    else if (which === 'authorization' && typeof headers.authorization === 'string') headers.authorization = [headers.authorization, headers.authorization];
    else if (which === 'accept') headers.accept = ['application/xml', 'text/html'];
    else if (which === 'content-encoding') headers['content-encoding'] = rng.pick(['gzip', 'br', 'identity, gzip']);
    else headers['x-forwarded-for'] = ['1.2.3.4', '5.6.7.8'];
  }
  if (rng.bool(0.1)) headers['x-request-id'] = rng.bool() ? `fz-${rng.int(0, 1e9)}` : weirdString(rng).replace(/[\r\n]/g, '');

  // Body.
  let payload: string | undefined;
  const hctx = { op, pathValues };
  const bodyValue = (): unknown => {
    if (!op.body) return rng.bool(0.5) ? { unexpected: true } : undefined;
    const v = validValue(doc, op.body, rng, 0, '', fx.hints, hctx);
    const s = deref(doc, op.body);
    const props = Object.keys((s.properties as Record<string, unknown>) ?? {});
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (strategy === 'boundary' && props.length) {
        const k = rng.pick(props);
        o[k] = boundaryValue(doc, (s.properties as Record<string, Schema>)[k]!, rng);
      }
      if (strategy === 'wrong-type' && props.length) o[rng.pick(props)] = wrongValue(rng);
      if (strategy === 'missing-required') for (const r of (s.required as string[] | undefined) ?? []) if (rng.bool(0.7)) delete o[r];
      if (strategy === 'unknown-field') o[rng.pick(['extra', 'is_admin', 'role', 'owner_id', 'API_KEY', '', ' ', 'a'.repeat(500), weirdString(rng)])] = wrongValue(rng);
      if (strategy === 'unicode' && props.length) o[rng.pick(props)] = weirdString(rng);
      if (typeof o.api_key === 'string' && o.api_key.length >= 8) secrets.push(o.api_key);
      if (typeof o.invite_token === 'string' && o.invite_token.length >= 8) secrets.push(o.invite_token);
    }
    return strategy === 'wrong-type' && rng.bool(0.3) ? wrongValue(rng) : v;
  };
  const method = strategy === 'method' ? rng.pick(['PUT', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT', 'PROPFIND', op.method === 'GET' ? 'POST' : 'GET']) : op.method;
  if (!['GET', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'].includes(method) || rng.bool(0.05)) {
    if (strategy === 'proto') {
      const base = (bodyValue() as Record<string, unknown> | undefined) ?? {};
      const json = JSON.stringify(base);
      const inject = rng.pick([
        '"__proto__":{"polluted":"yes","is_admin":true}',
        '"constructor":{"prototype":{"polluted":"yes"}}',
        '"__proto__":null',
        '"prototype":{"polluted":"yes"}',
      ]);
      payload = json === '{}' ? `{${inject}}` : `{${inject},${json.slice(1)}`;
    } else if (strategy === 'huge') {
      const size = rng.pick([60 * 1024, 64 * 1024 - 10, 64 * 1024 + 1, 200 * 1024, 1024 * 1024]);
      payload = JSON.stringify({ api_key: 'k'.repeat(size), name: 'n', mode: 'neo' });
    } else if (strategy === 'nested') {
      payload = rng.bool() ? deepNesting(rng.pick([100, 1000, 10_000, 30_000]), rng.pick(['array', 'object'] as const)) : JSON.stringify({ mode: 'neo', nested: JSON.parse(deepNesting(500, 'object')) });
    } else if (strategy === 'bad-json') {
      payload = rng.pick([
        '{',
        '{"mode":"neo",}',
        "{'mode':'neo'}",
        '{"mode":NaN}',
        '\uFEFF{"mode":"neo"}',
        '{"mode":"neo"} trailing',
        '{"mode":"neo" /* c */}',
        '{"a":"\\ud800"}',
        '{"a":"\u0000"}',
        '\u0000',
        'null',
        '[]',
        '"str"',
        '123',
        '{"a":1e99999}',
        '{"a":"\\u0000\\u0000"}',
        '',
      ]);
    } else {
      const v = bodyValue();
      payload = v === undefined ? undefined : JSON.stringify(v);
    }
    if (payload !== undefined && headers['content-type'] === undefined) {
      headers['content-type'] =
        strategy === 'content-type'
          ? rng.pick(['text/plain', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'application/json; charset=utf-16', 'application/merge-patch+json', 'application/xml', '', 'application/json;;', 'APPLICATION/JSON', '*/*', 'application/jsonx'])
          : 'application/json';
      if (headers['content-type'] === '') delete headers['content-type'];
    }
  }
  const request: InjectOptions = { method, url, headers, ...(payload !== undefined ? { payload } : {}) };
  return { label: `${strategy} ${method} ${url.slice(0, 120)}`, request, secrets };
}
