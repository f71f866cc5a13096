/**
 * PROVIDERS.md rule 0, for all nine providers: a 200 whose body is not the JSON the
 * provider documents (a captive portal's HTML page, a proxy's own JSON) proves nothing,
 * so the check is `unavailable` (the key is saved unverified), never `accepted`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createProviderRegistry } from '../src/providers/registry.ts';
import { PROVIDERS } from '../src/providers/types.ts';
import { checkContext, credentialFor } from './fakes/cloud-providers.ts';

const ANSWERS = {
  'an HTML page (captive portal)': { type: 'text/html', body: '<!doctype html><html><body>Sign in to the guest network</body></html>' },
  'JSON that is not the documented answer': { type: 'application/json', body: '{"ok":true,"status":"healthy"}' },
} as const;

for (const [what, answer] of Object.entries(ANSWERS)) {
  describe(`every provider: a 200 with ${what} is unavailable`, () => {
    let server: Server;
    let base: string;
    let hits = 0;
    before(async () => {
      server = createServer((req, res) => {
        hits++;
        req.resume();
        res.writeHead(200, { 'content-type': answer.type });
        res.end(answer.body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    for (const provider of PROVIDERS) {
      it(provider, async () => {
        const registry = createProviderRegistry({ azureAllowedHosts: [new URL(base).host] });
        const adapter = registry.get(provider)!;
        const overrides = Object.fromEntries(
          ['openai', 'anthropic', 'google', 'xai', 'openrouter', 'vercel-gateway', 'google-vertex', 'google-oauth', 'amazon-bedrock', 'aws-sts'].map((api) => [api, base]),
        );
        const before = hits;
        const result = await adapter.check(adapter.prepare(credentialFor(provider, base)), checkContext(overrides, { timeoutMs: 5000 }));
        assert.ok(hits > before, 'the provider was asked');
        assert.equal(result.outcome, 'unavailable', result.message);
        assert.equal(result.models, undefined);
        assert.doesNotMatch(result.message, /guest network|healthy/, "the body's text is never passed on");
      });
    }
  });
}
