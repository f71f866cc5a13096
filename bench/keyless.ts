/**
 * Resolve for keyless cloud connections (issue 18 item 6): does a resolve wait on the
 * cloud while a valid short-lived credential is cached? In one process: the real app
 * (buildApp, SQLite) listening as its own OIDC issuer, the AWS fake (STS + Bedrock, which
 * verifies the issuer's tokens over HTTP), one owner with a Bedrock IAM-role connection
 * and one with stored SigV4 keys. After one warm resolve each, STS is made to answer
 * every request only after STS_DELAY_MS, then both owners are resolved N times,
 * sequentially, through `inject` (service time, no client HTTP):
 *
 *   npm run bench:keyless                 # N = 2000
 *   node --import tsx bench/keyless.ts 5000
 *
 * It prints p50/p99/max per kind and the number of STS requests made during the
 * measured calls, and exits 1 if a keyless resolve took STS_DELAY_MS or more or any STS
 * request happened (resolve must answer from the cache and never wait on the cloud).
 * Figures on a loaded machine are relative: compare the two rows of one run.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { oidcSubject } from '../src/modules/oidc/issuer.ts';
import { startAwsFake } from '../test/fakes/cloud-providers.ts';
import { createTestContext, TEST_INTERNAL_TOKEN } from '../test/helpers/context.ts';
import { createUser, setByok, type TestUser } from '../test/helpers/fixtures.ts';

const N = Number(process.argv[2] ?? 2000);
const STS_DELAY_MS = 2000;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/neo-bench';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const aws = await startAwsFake();
  const ctx = await createTestContext({
    captureLogs: false,
    env: { NEO_OIDC_ISSUER: issuer, NEO_PROVIDER_URL_AWS_STS: aws.url, NEO_PROVIDER_URL_AMAZON_BEDROCK: aws.url, NEO_LOG_LEVEL: 'warn' },
  });
  await ctx.app.listen({ port, host: '127.0.0.1' });
  try {
    const save = async (u: TestUser, apiKey: string) => {
      await setByok(ctx, u.owner);
      const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/amazon-bedrock', headers: u.headers, payload: { api_key: apiKey, location: 'us-east-1' } });
      if (res.statusCode !== 200) throw new Error(`save: ${res.statusCode} ${res.body}`);
      const mode = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: u.headers, payload: { mode: 'byok' } });
      if (mode.statusCode !== 200) throw new Error(`mode: ${mode.body}`);
    };
    const keyless = await createUser(ctx);
    aws.roles.set(ROLE_ARN, { issuer, subject: oidcSubject(keyless.owner) });
    await save(keyless, JSON.stringify({ role_arn: ROLE_ARN }));
    const stored = await createUser(ctx);
    await save(stored, JSON.stringify(aws.addIdentity()));

    const resolve = (u: TestUser) =>
      ctx.app.inject({
        method: 'POST',
        url: '/internal/v1/credentials/resolve',
        headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
        payload: { user_id: u.id, model: 'claude-sonnet-4-5' },
      });
    // Warm: the keyless owner's first resolve makes the exchange (the only one that waits on STS).
    for (const u of [keyless, stored]) {
      const r = await resolve(u);
      if (r.statusCode !== 200) throw new Error(`warm resolve: ${r.statusCode} ${r.body}`);
    }
    aws.delayMs = STS_DELAY_MS;
    const stsBefore = aws.records.filter((r) => r.service === 'sts').length;
    const rows: [string, number[]][] = [];
    for (const [label, u] of [
      ['stored SigV4 keys (plain path)', stored],
      ['Bedrock IAM role, cached credential', keyless],
    ] as const) {
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        const t0 = performance.now();
        const r = await resolve(u);
        times.push(performance.now() - t0);
        if (r.statusCode !== 200) throw new Error(`resolve: ${r.statusCode} ${r.body}`);
      }
      rows.push([label, times.sort((a, b) => a - b)]);
    }
    const stsCalls = aws.records.filter((r) => r.service === 'sts').length - stsBefore;
    console.log(`resolve, ${N} sequential calls each, STS delayed by ${STS_DELAY_MS} ms during the measurement`);
    for (const [label, t] of rows) {
      console.log(`${label.padEnd(40)} p50 ${pct(t, 50).toFixed(3)} ms  p99 ${pct(t, 99).toFixed(3)} ms  max ${t.at(-1)!.toFixed(3)} ms`);
    }
    console.log(`STS requests during the measured calls: ${stsCalls}`);
    const worst = rows[1]![1].at(-1)!;
    if (stsCalls > 0 || worst >= STS_DELAY_MS) {
      console.error('FAIL: a keyless resolve waited on STS');
      process.exitCode = 1;
    }
  } finally {
    await ctx.close();
    await aws.close();
  }
}

await main();
