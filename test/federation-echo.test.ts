/**
 * A token endpoint's refusal is never quoted beyond its documented codes: an Entra answer
 * whose `error` is not an OAuth error code (a proxy's page, an odd body) is not echoed
 * into the check message (which reaches the API answer, the key-health audit and webhook
 * payloads).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entraClientAssertion } from '../src/providers/federation.ts';
import type { CheckContext } from '../src/providers/types.ts';

describe('federation exchange errors', () => {
  it('an Entra error that is not an OAuth code is not quoted', async () => {
    const leak = 'token=eyJhbGciOiJSUzI1NiJ9.secret-part <b>proxy</b>';
    const fakeFetch = (async () => new Response(JSON.stringify({ error: leak }), { status: 400, headers: { 'content-type': 'application/json' } })) as typeof fetch;
    const ctx: CheckContext = { fetch: fakeFetch, timeoutMs: 5000, signal: AbortSignal.timeout(5000), baseUrl: (_a, f) => f, clock: Date.now };
    const r = await entraClientAssertion(ctx, { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientId: '72f988bf-86f1-41af-91ab-2d7cd011db47', token: 'x.y.z' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.result.outcome, 'rejected');
    assert.doesNotMatch(r.result.message, /secret-part|proxy|eyJ/);
    assert.match(r.result.message, /HTTP 400/);
  });
});
