/**
 * Short-lived credentials of a connection that was deleted or replaced are not refreshed
 * in the background any more: after a change of the owner's BYOK state (the bus's `owner`
 * message), the periodic sweep stops calling the cloud for that owner's cached entries
 * until a resolve uses one again (only the current key is resolved). Without this the
 * service kept assuming a role the customer had just disconnected for up to an hour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBus } from '../src/lib/bus.ts';
import { ownerKey, type Owner } from '../src/modules/auth/owner.ts';
import { REFRESH_AHEAD_MS, ShortLivedCredentials } from '../src/modules/internal/short-lived.ts';
import type { ProviderAdapter, ProviderName } from '../src/providers/types.ts';

describe('short-lived credentials and owner changes', () => {
  it('an owner change stops the background refresh of its cached entries until a resolve uses them again', async () => {
    let now = Date.parse('2026-11-30T12:00:00Z');
    let exchanges = 0;
    const adapter = {
      shortLived: async () => {
        exchanges += 1;
        return { ok: true as const, credential: { kind: 'aws_access_keys' as const, apiKey: `temp-${exchanges}`, expiresAtMs: now + 3600_000 } };
      },
    } as unknown as ProviderAdapter;
    const providers = new Map<ProviderName, ProviderAdapter>([['amazon-bedrock', adapter]]);
    const bus = new LocalBus();
    const sl = new ShortLivedCredentials({
      providers,
      bus,
      decrypt: async () => '{"role_arn":"arn:aws:iam::123456789012:role/x"}',
      fetch: globalThis.fetch,
      providerUrls: {},
      providerTimeoutMs: 5000,
      clock: () => now,
    });
    const alice: Owner = { type: 'team', id: '01a22dd4-0000-7000-8000-000000000001' };
    const bob: Owner = { type: 'team', id: '01a22dd4-0000-7000-8000-000000000002' };
    const key = (id: string) => ({ id, version: 1, ciphertext: 'c', location: 'us-east-1' });
    const secret = '{"role_arn":"arn:aws:iam::123456789012:role/x"}';

    await sl.get(alice, 'amazon-bedrock', key('k-alice'), secret);
    await sl.get(bob, 'amazon-bedrock', key('k-bob'), secret);
    assert.equal(exchanges, 2);

    // Alice's connection is deleted (any BYOK write publishes `owner`).
    bus.publish('owner', ownerKey(alice));

    now += 3600_000 - REFRESH_AHEAD_MS + 1000;
    await sl.refreshDue();
    assert.equal(exchanges, 3, "only Bob's entry is refreshed; Alice's deleted connection is not exchanged again");

    // A resolve that uses Alice's (current) entry again refreshes it as before.
    const c = await sl.get(alice, 'amazon-bedrock', key('k-alice'), secret);
    assert.equal(c?.api_key, 'temp-1', 'served from the cache');
    await sl.settled();
    assert.equal(exchanges, 4);
    await sl.stop();
  });
});

describe('short-lived credentials: the periodic sweep', () => {
  it('refreshes many due entries a few at a time, not all at once', async () => {
    const SWEEP_CONCURRENCY = 8;
    let now = Date.parse('2026-11-30T12:00:00Z');
    let running = 0;
    let most = 0;
    let exchanges = 0;
    const adapter = {
      shortLived: async () => {
        exchanges += 1;
        running += 1;
        most = Math.max(most, running);
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        running -= 1;
        return { ok: true as const, credential: { kind: 'aws_access_keys' as const, apiKey: `temp-${exchanges}`, expiresAtMs: now + 3600_000 } };
      },
    } as unknown as ProviderAdapter;
    const sl = new ShortLivedCredentials({
      providers: new Map<ProviderName, ProviderAdapter>([['amazon-bedrock', adapter]]),
      decrypt: async () => '{"role_arn":"arn:aws:iam::123456789012:role/x"}',
      fetch: globalThis.fetch,
      providerUrls: {},
      providerTimeoutMs: 5000,
      clock: () => now,
    });
    const n = SWEEP_CONCURRENCY * 5;
    for (let i = 0; i < n; i++) {
      const owner: Owner = { type: 'team', id: `01a22dd4-0000-7000-8000-${String(i).padStart(12, '0')}` };
      await sl.get(owner, 'amazon-bedrock', { id: `k-${i}`, version: 1, ciphertext: 'c', location: 'us-east-1' }, '{"role_arn":"arn:aws:iam::123456789012:role/x"}');
    }
    assert.equal(exchanges, n);
    most = 0;
    now += 3600_000 - REFRESH_AHEAD_MS + 1000;
    await Promise.all([sl.refreshDue(), sl.refreshDue()]);
    assert.equal(exchanges, 2 * n, 'every due entry refreshed once');
    assert.ok(most <= SWEEP_CONCURRENCY, `at most ${SWEEP_CONCURRENCY} at once (saw ${most})`);
    await sl.stop();
  });
});
