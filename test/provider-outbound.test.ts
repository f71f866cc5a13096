/**
 * Every adapter's failure classes through the one outbound client (src/providers/outbound.ts):
 * a call that gets no usable answer (the deadline passed, the host name did not resolve,
 * the connection failed, a redirect, an answer too large to read) never throws and never
 * accepts or rejects the key, except where the adapter documents otherwise (Azure's
 * user-typed endpoint: an unresolvable host or a redirect is a wrong endpoint).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_BODY_BYTES } from '../src/providers/outbound.ts';
import { createProviderRegistry } from '../src/providers/registry.ts';
import { PROVIDERS, type CheckOutcome } from '../src/providers/types.ts';
import { checkContext, credentialFor, dnsFailureFor } from './fakes/cloud-providers.ts';

const BASE = 'https://provider.test';

/** Each failure class: a fetch that produces it, and the words its message carries. */
const FAILURES: Record<string, { fetch: typeof fetch; message: RegExp; signal?: AbortSignal }> = {
  timeout: {
    // The whole check's deadline has passed: the call is abandoned as the fetch sees the abort.
    signal: AbortSignal.abort(),
    fetch: (_input, init) => Promise.reject(init?.signal?.aborted ? new DOMException('aborted', 'AbortError') : new Error('not aborted')),
    message: /did not answer in time/,
  },
  dns: { fetch: (input) => Promise.reject(dnsFailureFor(input)), message: /host name did not resolve/ },
  network: {
    fetch: () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })),
    message: /could not be reached/,
  },
  redirect: { fetch: async () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.test/' } }), message: /redirect, which is never followed/ },
  too_large: {
    fetch: async () => {
      const chunk = new Uint8Array(1024 * 1024).fill(0x20);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > MAX_BODY_BYTES) return controller.close();
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    },
    message: /too large to read/,
  },
};

/** Where an adapter decides otherwise than `unavailable`, and why. */
const EXCEPTIONS: Partial<Record<string, Partial<Record<string, { outcome: CheckOutcome; message: RegExp }>>>> = {
  'azure-foundry': {
    dns: { outcome: 'rejected', message: /wrong endpoint: no Azure resource answers at this host name/ },
    redirect: { outcome: 'rejected', message: /wrong endpoint: it answered with a redirect/ },
  },
};

for (const provider of PROVIDERS) {
  describe(`${provider}: failure classes of the outbound client`, () => {
    for (const [reason, failure] of Object.entries(FAILURES)) {
      it(reason, async () => {
        const adapter = createProviderRegistry({ azureAllowedHosts: [new URL(BASE).host] }).get(provider)!;
        const apis = ['openai', 'anthropic', 'google', 'xai', 'openrouter', 'vercel-gateway', 'google-vertex', 'google-oauth', 'amazon-bedrock', 'aws-sts'];
        const ctx = checkContext(Object.fromEntries(apis.map((api) => [api, BASE])), { inner: failure.fetch, timeoutMs: 5000, ...(failure.signal ? { signal: failure.signal } : {}) });
        const result = await adapter.check(adapter.prepare(credentialFor(provider, BASE)), ctx);
        assert.ok(ctx.calls.length >= 1, 'the provider was called');
        const expected = EXCEPTIONS[provider]?.[reason] ?? { outcome: 'unavailable', message: failure.message };
        assert.equal(result.outcome, expected.outcome, result.message);
        assert.match(result.message, expected.message);
        assert.equal(result.models, undefined);
      });
    }
  });
}
