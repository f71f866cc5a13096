/**
 * A failed exchange is remembered briefly (issue 18's resolve, hardened): with nothing valid
 * cached, a runtime resolves before every LLM call, so without this each call waited on
 * the cloud again (up to the exchange's time limit while the cloud is unreachable) and a
 * refused trust policy cost one token-service request per call, until the cloud throttled
 * the service. Within the window the same error is answered at once, without a cloud call;
 * a change of the owner's BYOK state (the bus's `owner` message, e.g. the connection
 * re-saved) forgets it at once, and a new key version is a new entry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../src/errors/index.ts';
import { LocalBus } from '../src/lib/bus.ts';
import { ownerKey, type Owner } from '../src/modules/auth/owner.ts';
import { FAILED_EXCHANGE_MS, REJECTED_EXCHANGE_MS, ShortLivedCredentials } from '../src/modules/internal/short-lived.ts';
import type { ProviderAdapter, ProviderName, ShortLivedResult } from '../src/providers/types.ts';

describe('short-lived credentials: failed exchanges', () => {
  function world() {
    const w = {
      now: Date.parse('2026-12-01T12:00:00Z'),
      exchanges: 0,
      answer: { ok: false, result: { outcome: 'unavailable', message: 'AWS STS is unavailable (HTTP 503); try again later' } } as ShortLivedResult,
    };
    const adapter = {
      shortLived: async () => {
        w.exchanges += 1;
        return w.answer;
      },
    } as unknown as ProviderAdapter;
    const bus = new LocalBus();
    const sl = new ShortLivedCredentials({
      providers: new Map<ProviderName, ProviderAdapter>([['amazon-bedrock', adapter]]),
      bus,
      decrypt: async () => secret,
      fetch: globalThis.fetch,
      providerUrls: {},
      providerTimeoutMs: 5000,
      clock: () => w.now,
    });
    return { w, sl, bus };
  }
  const alice: Owner = { type: 'team', id: '01a22dd4-0000-7000-8000-00000000000a' };
  const key = (version = 1) => ({ id: 'k-alice', version, ciphertext: 'c', location: 'us-east-1' });
  const secret = '{"role_arn":"arn:aws:iam::123456789012:role/x"}';
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => assert.fail('expected an error'),
      (err: unknown) => {
        assert.ok(err instanceof AppError);
        return err;
      },
    );

  it('cloud unreachable: 503 with Retry-After, then the same at once without a cloud call until the window ends', async () => {
    const { w, sl } = world();
    const first = await failure(sl.get(alice, 'amazon-bedrock', key(), secret));
    assert.equal(first.code, 'cloud_credential_unavailable');
    assert.equal(w.exchanges, 1);
    w.now += FAILED_EXCHANGE_MS - 1000;
    const again = await failure(sl.get(alice, 'amazon-bedrock', key(), secret));
    assert.equal(again.code, 'cloud_credential_unavailable');
    assert.equal(again.retryAfter, 1, 'Retry-After: what is left of the window, in whole seconds');
    assert.equal(w.exchanges, 1, 'no cloud call within the window');
    w.now += 1000;
    w.answer = { ok: true, credential: { kind: 'aws_access_keys', apiKey: 'temp', expiresAtMs: w.now + 3600_000 } };
    assert.equal((await sl.get(alice, 'amazon-bedrock', key(), secret))?.api_key, 'temp');
    assert.equal(w.exchanges, 2);
    await sl.stop();
  });

  it('cloud refused: 409, remembered longer; an owner change or a new key version asks the cloud again at once', async () => {
    const { w, sl, bus } = world();
    w.answer = { ok: false, result: { outcome: 'rejected', message: 'AWS refused to let this service assume the role' } };
    assert.equal((await failure(sl.get(alice, 'amazon-bedrock', key(), secret))).code, 'cloud_credential_rejected');
    w.now += REJECTED_EXCHANGE_MS - 1000;
    const again = await failure(sl.get(alice, 'amazon-bedrock', key(), secret));
    assert.equal(again.code, 'cloud_credential_rejected');
    assert.match(again.message, /assume the role/, 'the same explanation');
    assert.equal(w.exchanges, 1);
    // The team admin fixes the connection and re-saves it: a BYOK write publishes `owner`.
    bus.publish('owner', ownerKey(alice));
    await failure(sl.get(alice, 'amazon-bedrock', key(), secret));
    assert.equal(w.exchanges, 2, 'asked again after the owner changed');
    // A replaced credential (a new version) is never answered from the old one's failure.
    await failure(sl.get(alice, 'amazon-bedrock', key(2), secret));
    assert.equal(w.exchanges, 3);
    await sl.stop();
  });
});
