/**
 * A fake of the six key-based LLM providers (openai, anthropic, google, xai,
 * openrouter, vercel-gateway) speaking their real wire contract for the key checks of
 * PROVIDERS.md: paths, auth headers, status codes and JSON error bodies.
 *
 * One HTTP server on 127.0.0.1 (random port); each provider lives under its own path
 * prefix, and `env` holds the six NEO_PROVIDER_URL_* variables pointing at it:
 *
 *   /openai/v1/models                       Authorization: Bearer
 *   /anthropic/v1/models?limit=…&after_id=… Authorization: Bearer + anthropic-version: 2026-10-21
 *   /google/v1beta/models?pageSize=…        x-goog-api-key
 *   /xai/v1/api-key, /xai/v1/models         Authorization: Bearer
 *   /openrouter/api/v1/key (auth), /openrouter/api/v1/models (public)
 *   /vercel-gateway/v1/credits, /vercel-gateway/v1/models   Authorization: Bearer
 *
 * A wrong or missing auth header gets that provider's own 401/403. Otherwise the
 * outcome is chosen by a marker contained in the submitted key:
 *
 *   -rejected     the provider's "bad key" answer: OpenAI 401 whose body echoes part of
 *                 the key, Anthropic 401 authentication_error, Google 400 API_KEY_INVALID,
 *                 xAI 400, OpenRouter 401, Vercel 401
 *   -blocked      xAI only: 200 with api_key_blocked true (also -disabled, -teamblocked)
 *   -restricted   OpenAI 401 "insufficient permissions … Missing scopes", Anthropic 403
 *                 permission_error, Google 403 PERMISSION_DENIED, xAI 403, Vercel 403
 *                 (OpenRouter has no such state: accepted)
 *   -forbidden    OpenAI 403;  -leaked  Google 403 "reported as leaked" (Google blocks the key)
 *   -billing      OpenAI 429 insufficient_quota, Anthropic 402 billing_error, Google 400
 *                 FAILED_PRECONDITION, OpenRouter 200 limit_remaining 0, Vercel balance
 *                 "0" (xAI has none: accepted)
 *   -ratelimited  429 with the provider's body;  -overloaded  Anthropic 529
 *   -down         503;  -redirect  302 to /elsewhere (must never be followed)
 *   -garbled      200 with an HTML page (a captive portal), not the provider's JSON
 *   -wrongshape   200 with JSON that is not the provider's documented answer
 *   -management   OpenRouter only: 200 whose `is_management_key` is true (cannot call models)
 *   -slow         answers after `slowMs` (default 12 s, past any allowed timeout; set
 *                 NEO_PROVIDER_TIMEOUT_MS low in tests)
 *   -paged        Anthropic and Google list models two per page
 *   anything else accepted, with a realistic model list (MODELS below).
 *
 * `requests` records method, provider, path, query and headers of every call (tests
 * assert the key travelled in the right header and never in the URL).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_PROVIDERS = ['openai', 'anthropic', 'google', 'xai', 'openrouter', 'vercel-gateway'] as const;
export type FakeProvider = (typeof FAKE_PROVIDERS)[number];

export const MODELS: Record<FakeProvider, string[]> = {
  openai: ['gpt-5', 'gpt-5-mini', 'gpt-4.1', 'gpt-4o', 'o3', 'text-embedding-3-large', 'dall-e-3', 'ft:gpt-4o-mini:acme::abc123'],
  anthropic: ['claude-sonnet-4-5-20250929', 'claude-opus-4-1-20250805', 'claude-haiku-4-5-20251001', 'claude-3-5-haiku-20241022', 'claude-2.1'],
  google: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash', 'text-embedding-004', 'imagen-3.0-generate-002'],
  xai: ['grok-4', 'grok-3', 'grok-3-mini', 'grok-2-image-1212'],
  openrouter: ['anthropic/claude-sonnet-4.5', 'openai/gpt-5', 'google/gemini-2.5-pro', 'x-ai/grok-4', 'meta-llama/llama-3.3-70b-instruct'],
  'vercel-gateway': ['anthropic/claude-sonnet-4.5', 'openai/gpt-5', 'google/gemini-2.5-flash', 'xai/grok-4', 'mistral/mistral-large'],
};

const ENV_VARS: Record<FakeProvider, string> = {
  openai: 'NEO_PROVIDER_URL_OPENAI',
  anthropic: 'NEO_PROVIDER_URL_ANTHROPIC',
  google: 'NEO_PROVIDER_URL_GOOGLE',
  xai: 'NEO_PROVIDER_URL_XAI',
  openrouter: 'NEO_PROVIDER_URL_OPENROUTER',
  'vercel-gateway': 'NEO_PROVIDER_URL_VERCEL_GATEWAY',
};

export interface RecordedRequest {
  provider: FakeProvider | 'unknown';
  method: string;
  /** Path below the provider prefix, without the query string. */
  path: string;
  query: string;
  headers: Record<string, string>;
}

export interface FakeKeyProviders {
  url: string;
  env: Record<string, string>;
  requests: RecordedRequest[];
  /** Base URL of one provider (what NEO_PROVIDER_URL_* is set to). */
  base(provider: FakeProvider): string;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  body?: Json;
  /** A raw, non-JSON body (with its own content-type in `headers`). */
  text?: string;
  headers?: Record<string, string>;
}

/** A captive portal or a misrouted proxy: 200, but HTML instead of the provider's JSON. */
const PORTAL: Answer = { status: 200, text: '<!doctype html><html><body>Sign in to the guest network</body></html>', headers: { 'content-type': 'text/html' } };
/** Well-formed JSON that is not the provider's documented answer. */
const NOT_DOCUMENTED: Answer = { status: 200, body: { ok: true, status: 'healthy' } };

const has = (key: string, marker: string) => key.includes(marker);

/** The API version Anthropic's current SDK sends (and the only one this fake serves). */
export const ANTHROPIC_VERSION = '2026-10-21';

function bearer(h: Record<string, string>): string | undefined {
  const m = /^Bearer (\S+)$/.exec(h.authorization ?? '');
  return m?.[1];
}

/** OpenAI masks the key in its 401 message but keeps its start and end (a real leak risk). */
function openaiEcho(key: string): string {
  return `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;
}

function page<T>(items: T[], key: string, after: string | null): { items: T[]; next: string | null } {
  if (!has(key, '-paged')) return { items, next: null };
  const start = after ? items.findIndex((m) => String(m) === after || `models/${String(m)}` === after) + 1 : 0;
  const slice = items.slice(start, start + 2);
  const next = start + 2 < items.length ? String(slice[slice.length - 1]) : null;
  return { items: slice, next };
}

function common(key: string, rateBody: Json): Answer | 'slow' | undefined {
  if (has(key, '-slow')) return 'slow';
  if (has(key, '-down')) return { status: 503, body: { error: { message: 'Service Unavailable' } } };
  if (has(key, '-redirect')) return { status: 302, headers: { location: '/elsewhere' } };
  if (has(key, '-ratelimited')) return { status: 429, body: rateBody, headers: { 'retry-after': '20' } };
  if (has(key, '-garbled')) return PORTAL;
  if (has(key, '-wrongshape')) return NOT_DOCUMENTED;
  return undefined;
}

function openai(path: string, h: Record<string, string>): Answer | 'slow' {
  if (path !== '/v1/models') return { status: 404, body: { error: { message: 'Invalid URL', type: 'invalid_request_error', code: null } } };
  const key = bearer(h);
  if (!key) {
    return {
      status: 401,
      body: { error: { message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", type: 'invalid_request_error', param: null, code: null } },
    };
  }
  const c = common(key, { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
  if (c) return c;
  if (has(key, '-rejected')) {
    return {
      status: 401,
      body: {
        error: {
          message: `Incorrect API key provided: ${openaiEcho(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
    };
  }
  if (has(key, '-restricted')) {
    return {
      status: 401,
      body: { error: { message: 'You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you\'re using a restricted API key, that it has the necessary scopes.', type: 'invalid_request_error', param: null, code: null } },
    };
  }
  if (has(key, '-forbidden')) return { status: 403, body: { error: { message: 'Project does not have access to this resource.', type: 'invalid_request_error', param: null, code: 'unsupported_country_region_territory' } } };
  if (has(key, '-billing')) {
    return { status: 429, body: { error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } } };
  }
  return { status: 200, body: { object: 'list', data: MODELS.openai.map((id) => ({ id, object: 'model', created: 1754000000, owned_by: 'openai' })) } };
}

function anthropic(path: string, query: URLSearchParams, h: Record<string, string>): Answer | 'slow' {
  const err = (status: number, type: string, message: string): Answer => ({ status, body: { type: 'error', error: { type, message } } });
  if (path !== '/v1/models') return err(404, 'not_found_error', 'Not found');
  // What the current official SDK (1.x) sends: the key as a bearer token, API version 2026-10-21
  // (the older x-api-key + 2023-06-01 pair is not offered to new organisations).
  const key = bearer(h);
  if (!key) return err(401, 'authentication_error', 'Authorization: Bearer header is required');
  if (!h['anthropic-version']) return err(400, 'invalid_request_error', 'anthropic-version: header is required');
  if (h['anthropic-version'] !== ANTHROPIC_VERSION) return err(400, 'invalid_request_error', `anthropic-version: ${h['anthropic-version']} is not available to this organization`);
  const c = common(key, { type: 'error', error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' } });
  if (c) return c;
  if (has(key, '-overloaded')) return err(529, 'overloaded_error', 'Overloaded');
  if (has(key, '-rejected')) return err(401, 'authentication_error', 'invalid x-api-key');
  if (has(key, '-restricted')) return err(403, 'permission_error', 'Your API key does not have permission to use the specified resource.');
  if (has(key, '-billing')) return err(402, 'billing_error', 'Your credit balance is too low to access the Anthropic API.');
  const { items, next } = page(MODELS.anthropic, key, query.get('after_id'));
  return {
    status: 200,
    body: {
      data: items.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-09-29T00:00:00Z' })),
      has_more: next !== null,
      first_id: items[0] ?? null,
      last_id: items[items.length - 1] ?? null,
    },
  };
}

function googleError(status: number, rpc: string, message: string, reason?: string): Answer {
  return {
    status,
    body: {
      error: {
        code: status,
        message,
        status: rpc,
        ...(reason
          ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } }] }
          : {}),
      },
    },
  };
}

function google(path: string, query: URLSearchParams, h: Record<string, string>): Answer | 'slow' {
  if (path !== '/v1beta/models') return googleError(404, 'NOT_FOUND', 'Requested entity was not found.');
  const key = h['x-goog-api-key'];
  if (!key) return googleError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
  const c = common(key, googleError(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).').body!);
  if (c) return c;
  if (has(key, '-rejected')) return googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', 'API_KEY_INVALID');
  if (has(key, '-leaked')) return googleError(403, 'PERMISSION_DENIED', 'Your API key was reported as leaked. Please use another API key.');
  if (has(key, '-restricted')) return googleError(403, 'PERMISSION_DENIED', 'Generative Language API has not been used in project 123 before or it is disabled.', 'SERVICE_DISABLED');
  if (has(key, '-billing')) return googleError(400, 'FAILED_PRECONDITION', 'User location is not supported for the API use without a billing account linked.');
  const names = MODELS.google.map((m) => `models/${m}`);
  const { items, next } = page(names, key, query.get('pageToken'));
  return {
    status: 200,
    body: {
      models: items.map((name) => ({ name, displayName: name.slice(7), supportedGenerationMethods: ['generateContent', 'countTokens'] })),
      ...(next ? { nextPageToken: next } : {}),
    },
  };
}

function xai(path: string, h: Record<string, string>): Answer | 'slow' {
  const key = bearer(h);
  if (path !== '/v1/api-key' && path !== '/v1/models') return { status: 404, body: { code: 'Not found', error: 'Not found' } };
  if (!key) return { status: 401, body: { code: 'Client specified an invalid argument', error: 'No API key provided. Specify your API key in an Authorization header using Bearer auth.' } };
  const c = common(key, { code: 'Too many requests', error: 'Your team has reached its rate limit.' });
  if (c) return c;
  if (has(key, '-rejected')) return { status: 400, body: { code: 'Client specified an invalid argument', error: 'Incorrect API key provided. You can obtain an API key from https://console.x.ai.' } };
  if (has(key, '-restricted')) return { status: 403, body: { code: 'The caller does not have permission to execute the specified operation', error: 'Your API key does not have the required permission.' } };
  if (path === '/v1/api-key') {
    return {
      status: 200,
      body: {
        redacted_api_key: `${key.slice(0, 4)}****${key.slice(-4)}`,
        user_id: 'b6a1c0a0-0000-4000-8000-000000000001',
        name: 'fake key',
        create_time: '2025-01-01T00:00:00Z',
        modify_time: '2025-01-01T00:00:00Z',
        modified_by: 'b6a1c0a0-0000-4000-8000-000000000001',
        team_id: 'b6a1c0a0-0000-4000-8000-000000000002',
        acls: ['api-key:model:*', 'api-key:endpoint:*'],
        api_key_id: 'b6a1c0a0-0000-4000-8000-000000000003',
        team_blocked: has(key, '-teamblocked'),
        api_key_blocked: has(key, '-blocked'),
        api_key_disabled: has(key, '-disabled'),
      },
    };
  }
  return { status: 200, body: { object: 'list', data: MODELS.xai.map((id) => ({ id, object: 'model', created: 1752000000, owned_by: 'xai' })) } };
}

function openrouter(path: string, h: Record<string, string>): Answer | 'slow' {
  if (path === '/api/v1/models') {
    return { status: 200, body: { data: MODELS.openrouter.map((id) => ({ id, name: id, context_length: 200000 })) } };
  }
  if (path !== '/api/v1/key') return { status: 404, body: { error: { code: 404, message: 'Not Found' } } };
  const key = bearer(h);
  if (!key) return { status: 401, body: { error: { code: 401, message: 'No auth credentials found' } } };
  const c = common(key, { error: { code: 429, message: 'Rate limit exceeded' } });
  if (c) return c;
  if (has(key, '-rejected')) return { status: 401, body: { error: { code: 401, message: 'User not found.' } } };
  const billing = has(key, '-billing');
  return {
    status: 200,
    body: {
      data: {
        label: `${key.slice(0, 9)}...${key.slice(-3)}`,
        usage: billing ? 10 : 1.25,
        limit: 10,
        is_free_tier: false,
        limit_remaining: billing ? 0 : 8.75,
        is_provisioning_key: has(key, '-management'),
        is_management_key: has(key, '-management'),
        rate_limit: { requests: 200, interval: '10s' },
      },
    },
  };
}

function vercel(path: string, h: Record<string, string>): Answer | 'slow' {
  if (path !== '/v1/credits' && path !== '/v1/models') return { status: 404, body: { error: { message: 'Not found', type: 'not_found' } } };
  const key = bearer(h);
  if (!key) return { status: 401, body: { error: { message: 'Missing authentication', type: 'authentication_error' } } };
  const c = common(key, { error: { message: 'Rate limit exceeded', type: 'rate_limit_exceeded' } });
  if (c) return c;
  if (has(key, '-rejected')) return { status: 401, body: { error: { message: 'Invalid API key', type: 'authentication_error' } } };
  if (has(key, '-restricted')) return { status: 403, body: { error: { message: 'Forbidden', type: 'forbidden' } } };
  if (path === '/v1/credits') return { status: 200, body: { balance: has(key, '-billing') ? '0' : '42.50', total_used: '7.50' } };
  return { status: 200, body: { object: 'list', data: MODELS['vercel-gateway'].map((id) => ({ id, object: 'model', created: 1755000000, owned_by: id.split('/')[0], type: 'language' })) } };
}

export async function startFakeKeyProviders(options: { slowMs?: number } = {}): Promise<FakeKeyProviders> {
  const slowMs = options.slowMs ?? 12_000;
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/([a-z-]+)(\/.*)?$/.exec(u.pathname);
    const provider = (FAKE_PROVIDERS as readonly string[]).includes(m?.[1] ?? '') ? (m![1] as FakeProvider) : 'unknown';
    const path = provider === 'unknown' ? u.pathname : (m?.[2] ?? '/');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    requests.push({ provider, method: req.method ?? 'GET', path, query: u.search, headers });
    req.resume();

    let answer: Answer | 'slow';
    if (req.method !== 'GET') answer = { status: 405, body: { error: 'method not allowed' } };
    else {
      switch (provider) {
        case 'openai':
          answer = openai(path, headers);
          break;
        case 'anthropic':
          answer = anthropic(path, u.searchParams, headers);
          break;
        case 'google':
          answer = google(path, u.searchParams, headers);
          break;
        case 'xai':
          answer = xai(path, headers);
          break;
        case 'openrouter':
          answer = openrouter(path, headers);
          break;
        case 'vercel-gateway':
          answer = vercel(path, headers);
          break;
        default:
          answer = { status: 404, body: { error: 'not found' } };
      }
    }
    const send = (a: Answer) => {
      if (res.destroyed) return;
      res.writeHead(a.status, { ...(a.body ? { 'content-type': 'application/json' } : {}), ...(a.headers ?? {}) });
      res.end(a.body ? JSON.stringify(a.body) : a.text);
    };
    if (answer === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        send({ status: 200, body: { data: [] } });
      }, slowMs);
      timers.add(t);
      return;
    }
    send(answer);
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const base = (p: FakeProvider) => `${url}/${p}`;
  const env: Record<string, string> = {};
  for (const p of FAKE_PROVIDERS) env[ENV_VARS[p]] = base(p);
  return {
    url,
    env,
    requests,
    base,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
