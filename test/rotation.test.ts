/**
 * Master-key rotation (`neo-byok admin rotate-master-key`, src/crypto/rotate.ts) on
 * 10,000 owners, run as the real CLI process: a partial run (--max-batches) stops
 * halfway, a second run is killed with SIGKILL mid-batch, a third one resumes and
 * completes. Throughout, a server configured with NEO_MASTER_KEY=new +
 * NEO_MASTER_KEY_PREVIOUS=old starts and reads every key; at the end every key opens
 * with the new key alone, the check value was replaced, and the old key alone no
 * longer starts a server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { decryptSecret, encryptSecret, generateDataKey, masterKeyId, unwrapDataKey, wrapDataKey } from '../src/crypto/envelope.ts';
import { MasterKeyMismatchError } from '../src/crypto/vault.ts';
import { nowIso, type Db } from '../src/db/index.ts';
import { uuidv7 } from '../src/db/ids.ts';
import { main } from '../src/cli/main.ts';
import { buildApp, type App } from '../src/app.ts';
import type { ProviderName } from '../src/providers/types.ts';
import {
  createTestContext,
  TEST_INTERNAL_TOKEN,
  TEST_JWT_SECRET,
  TEST_MASTER_KEY,
  testDialects,
  UNTHROTTLED_ENV,
  type TestContext,
} from './helpers/context.ts';

const BIN = new URL('../bin/neo-byok', import.meta.url).pathname;
const OWNERS = 10_000;
const PROVIDERS: ProviderName[] = ['openai', 'anthropic', 'openrouter', 'google', 'xai'];
const OLD_KEY = Buffer.from(TEST_MASTER_KEY, 'base64');
const NEW_KEY = randomBytes(32);
const NEW_B64 = NEW_KEY.toString('base64');

interface Seeded {
  ownerType: 'user' | 'team';
  ownerId: string;
  provider: ProviderName;
  secret: string;
}

/** `owners` owners (10,000 by default) with one data key (wrapped by the old master key) and one provider key each. */
async function seed(db: Db, owners = OWNERS): Promise<Seeded[]> {
  const out: Seeded[] = [];
  const now = nowIso();
  for (let start = 0; start < owners; start += 500) {
    const dataKeys = [];
    const providerKeys = [];
    for (let i = start; i < Math.min(owners, start + 500); i++) {
      const ownerType = i % 3 === 0 ? ('team' as const) : ('user' as const);
      const ownerId = uuidv7();
      const provider = PROVIDERS[i % PROVIDERS.length]!;
      const secret = `sk-rot-${i}-${randomBytes(12).toString('hex')}`;
      const dk = generateDataKey();
      const dkId = uuidv7();
      dataKeys.push({
        id: dkId,
        owner_type: ownerType,
        owner_id: ownerId,
        version: 1,
        wrapped_key: wrapDataKey(OLD_KEY, dk, { ownerType, ownerId, dataKeyId: dkId }),
        master_key_id: masterKeyId(OLD_KEY),
        created_at: now,
        updated_at: now,
      });
      providerKeys.push({
        id: uuidv7(),
        owner_type: ownerType,
        owner_id: ownerId,
        provider,
        display_name: null,
        location: null,
        key_hint: '…xx',
        ciphertext: encryptSecret(dk, dkId, secret, { ownerType, ownerId, provider, location: null }),
        data_key_id: dkId,
        is_validated: 1,
        validated_at: now,
        models: null,
        models_discovered_at: null,
        created_at: now,
        updated_at: now,
      });
      out.push({ ownerType, ownerId, provider, secret });
    }
    await db.insertInto('data_keys').values(dataKeys).execute();
    await db.insertInto('provider_keys').values(providerKeys).execute();
  }
  return out;
}

/** Opens every provider key with exactly `keys` (by master_key_id), without the vault's cache. */
async function openAll(db: Db, keys: Buffer[]): Promise<Map<string, string>> {
  const byId = new Map(keys.map((k) => [masterKeyId(k), k]));
  const rows = await db
    .selectFrom('provider_keys as p')
    .innerJoin('data_keys as d', 'd.id', 'p.data_key_id')
    .select(['p.owner_type', 'p.owner_id', 'p.provider', 'p.ciphertext', 'p.location', 'd.id as dk_id', 'd.wrapped_key', 'd.master_key_id'])
    .execute();
  const out = new Map<string, string>();
  for (const r of rows) {
    const mk = byId.get(r.master_key_id);
    assert.ok(mk, `data key ${r.dk_id} is wrapped by ${r.master_key_id}, not by a configured key`);
    const dk = unwrapDataKey(mk, r.wrapped_key, { ownerType: r.owner_type, ownerId: r.owner_id, dataKeyId: r.dk_id });
    out.set(`${r.owner_type}:${r.owner_id}`, decryptSecret(dk, r.ciphertext, { ownerType: r.owner_type, ownerId: r.owner_id, provider: r.provider, location: r.location }));
  }
  return out;
}

async function countByMasterKey(db: Db): Promise<Record<string, number>> {
  const rows = await db.selectFrom('data_keys').select(['master_key_id', (eb) => eb.fn.countAll<string | number>().as('n')]).groupBy('master_key_id').execute();
  return Object.fromEntries(rows.map((r) => [r.master_key_id, Number(r.n)]));
}

function cliEnv(ctx: TestContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k];
  return {
    ...env,
    NEO_DATA_DIR: ctx.dataDir,
    NEO_DATABASE_URL: ctx.config.databaseUrl,
    NEO_JWT_SECRET: TEST_JWT_SECRET,
    NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
    NEO_MASTER_KEY: NEW_B64,
    NEO_MASTER_KEY_PREVIOUS: TEST_MASTER_KEY,
  };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `killWhen` sees each stderr line and may ask for a SIGKILL. */
function runRotate(ctx: TestContext, args: string[], killWhen?: (line: string) => boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'admin', 'rotate-master-key', ...args], { env: cliEnv(ctx), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      partial += d;
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (killWhen?.(line)) child.kill('SIGKILL');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A server as an operator runs it during the rotation (same database). */
async function serverWith(ctx: TestContext, env: Record<string, string>): Promise<App> {
  const config = loadConfig({
    NEO_DATA_DIR: ctx.dataDir,
    NEO_DATABASE_URL: ctx.config.databaseUrl,
    NEO_JWT_SECRET: TEST_JWT_SECRET,
    NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
    ...UNTHROTTLED_ENV,
    ...env,
  });
  const app = await buildApp({ config, database: ctx.database, quiet: true });
  await app.ready();
  return app;
}

/** Reads a sample of keys through the app's own vault (what resolve uses). */
async function readsThroughVault(app: App, db: Db, seeded: Seeded[], sample: number): Promise<void> {
  for (let i = 0; i < seeded.length; i += Math.ceil(seeded.length / sample)) {
    const s = seeded[i]!;
    const row = await db
      .selectFrom('provider_keys')
      .select(['ciphertext', 'location'])
      .where('owner_type', '=', s.ownerType)
      .where('owner_id', '=', s.ownerId)
      .executeTakeFirstOrThrow();
    assert.equal(await app.services.vault.decrypt({ type: s.ownerType, id: s.ownerId }, s.provider, row.ciphertext, row.location), s.secret);
  }
}

for (const dialect of testDialects()) {
  describe(`master-key rotation on ${OWNERS} owners [${dialect}]`, { timeout: 600_000 }, () => {
    let ctx: TestContext;
    let seeded: Seeded[];
    const oldId = masterKeyId(OLD_KEY);
    const newId = masterKeyId(NEW_KEY);

    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
      seeded = await seed(ctx.database.db);
    });
    after(async () => ctx.close());

    it('a partial run (--max-batches) leaves half the data keys rewrapped and the rest untouched', async () => {
      const keyFile = join(ctx.dataDir, 'new.key');
      writeFileSync(keyFile, NEW_B64 + '\n', { mode: 0o600 });
      const r = await runRotate(ctx, ['--new-key', `@${keyFile}`, '--batch-size', '250', '--max-batches', '20']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.total, OWNERS);
      assert.equal(out.rewrapped, 5000);
      assert.equal(out.remaining, 5000);
      assert.equal(out.complete, false);
      assert.equal(out.check_updated, false);
      // Not a TTY: a plain progress line per batch.
      assert.match(r.stderr, /rotate-master-key: 5000\/10000 data keys under the new key \(50%\)/);
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [oldId]: 5000, [newId]: 5000 });
      // The new key's bytes never appear in the output.
      assert.ok(!r.stdout.includes(NEW_B64) && !r.stderr.includes(NEW_B64));
    });

    it('halfway, a server with NEO_MASTER_KEY=new + NEO_MASTER_KEY_PREVIOUS=old starts and reads every key', async () => {
      const all = await openAll(ctx.database.db, [OLD_KEY, NEW_KEY]);
      assert.equal(all.size, OWNERS);
      for (const s of seeded) assert.equal(all.get(`${s.ownerType}:${s.ownerId}`), s.secret);
      const app = await serverWith(ctx, { NEO_MASTER_KEY: NEW_B64, NEO_MASTER_KEY_PREVIOUS: TEST_MASTER_KEY });
      try {
        await readsThroughVault(app, ctx.database.db, seeded, 300);
      } finally {
        await app.close();
      }
    });

    it('a run killed with SIGKILL mid-way leaves every row whole, under the old or the new key', async () => {
      let killed = false;
      const r = await runRotate(ctx, ['--new-key', NEW_B64, '--batch-size', '25'], (line) => {
        const m = /: (\d+)\/10000 data keys/.exec(line);
        if (!killed && m && Number(m[1]) >= 5500) {
          killed = true;
          return true;
        }
        return false;
      });
      assert.equal(r.signal, 'SIGKILL', `the run should have been killed mid-way (exit ${r.code}): ${r.stderr.slice(-500)}`);
      const counts = await countByMasterKey(ctx.database.db);
      assert.equal((counts[oldId] ?? 0) + (counts[newId] ?? 0), OWNERS, 'every row is under one of the two keys');
      assert.ok((counts[newId] ?? 0) >= 5500 && (counts[oldId] ?? 0) > 0, `interrupted mid-way: ${JSON.stringify(counts)}`);
      const all = await openAll(ctx.database.db, [OLD_KEY, NEW_KEY]);
      for (const s of seeded) assert.equal(all.get(`${s.ownerType}:${s.ownerId}`), s.secret);
    });

    it('a rerun resumes, skips the rows already rewrapped and completes', async () => {
      const before = (await countByMasterKey(ctx.database.db))[newId]!;
      const r = await runRotate(ctx, ['--new-key', NEW_B64]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.already_rotated, before);
      assert.equal(out.rewrapped, OWNERS - before);
      assert.equal(out.remaining, 0);
      assert.equal(out.complete, true);
      assert.equal(out.check_updated, true);
      assert.deepEqual(out.failed, []);
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [newId]: OWNERS });
    });

    it('afterwards every key decrypts with the new key alone, and the old key alone is refused', async () => {
      const all = await openAll(ctx.database.db, [NEW_KEY]);
      assert.equal(all.size, OWNERS);
      for (const s of seeded) assert.equal(all.get(`${s.ownerType}:${s.ownerId}`), s.secret);
      const app = await serverWith(ctx, { NEO_MASTER_KEY: NEW_B64 });
      try {
        await readsThroughVault(app, ctx.database.db, seeded, 300);
      } finally {
        await app.close();
      }
      await assert.rejects(serverWith(ctx, { NEO_MASTER_KEY: TEST_MASTER_KEY }), MasterKeyMismatchError);
      // Running it again is a no-op.
      const again = await runRotate(ctx, ['--new-key', NEW_B64]);
      assert.equal(again.code, 0, again.stderr);
      const out = JSON.parse(again.stdout);
      assert.equal(out.rewrapped, 0);
      assert.equal(out.complete, true);
      assert.equal(out.check_updated, false);
    });

    it('draws a progress bar on a terminal', async () => {
      let stderr = '';
      let stdout = '';
      const code = await main(['admin', 'rotate-master-key', '--new-key', NEW_B64], {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: cliEnv(ctx),
        isTTY: true,
      });
      assert.equal(code, 0, stderr);
      assert.match(stderr, /\r\[#{30}\] 100% 10000\/10000 data keys/);
      assert.equal(JSON.parse(stdout).complete, true);
    });

    it('refuses keys that do not open the database, and a malformed --new-key', async () => {
      const stranger = randomBytes(32).toString('base64');
      const env = cliEnv(ctx);
      const r = await new Promise<Run>((resolve) => {
        // --force: NEO_MASTER_KEY is not the new key either; the database check still refuses.
        const child = spawn(process.execPath, [BIN, 'admin', 'rotate-master-key', '--new-key', randomBytes(32).toString('base64'), '--force'], {
          env: { ...env, NEO_MASTER_KEY: stranger, NEO_MASTER_KEY_PREVIOUS: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /none of the keys/);
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [newId]: OWNERS }, 'nothing was changed');
      const bad = await runRotate(ctx, ['--new-key', 'not-base64!!']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--new-key must be base64/);
    });
  });
}

for (const dialect of testDialects()) {
  describe(`rotate-master-key refuses to run before step 2 (NEO_MASTER_KEY is still the old key) [${dialect}]`, () => {
    let ctx: TestContext;
    let seeded: Seeded[];
    const oldId = masterKeyId(OLD_KEY);
    const newId = masterKeyId(NEW_KEY);

    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
      seeded = await seed(ctx.database.db, 20);
    });
    after(async () => ctx.close());

    /** The CLI in this process, with the operator's environment as given. */
    async function rotate(env: Record<string, string>, ...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = '';
      let stderr = '';
      const code = await main(['admin', 'rotate-master-key', '--new-key', NEW_B64, ...extra], {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: { ...cliEnv(ctx), NEO_MASTER_KEY_PREVIOUS: '', ...env },
        isTTY: false,
      });
      return { code, stdout, stderr };
    }

    it('exit 1, says exactly what to configure first, and changes nothing', async () => {
      const r = await rotate({ NEO_MASTER_KEY: TEST_MASTER_KEY });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.startsWith(`neo-byok admin rotate-master-key: refused: NEO_MASTER_KEY here (id ${oldId}) is not the new key (id ${newId})`), r.stderr);
      assert.match(r.stderr, /servers? that still has only the old key as NEO_MASTER_KEY unable to start/);
      assert.ok(r.stderr.includes(`  NEO_MASTER_KEY=<the new key>            (id ${newId}, the --new-key value)\n`), r.stderr);
      assert.ok(r.stderr.includes(`  NEO_MASTER_KEY_PREVIOUS=<the old key>   (today's NEO_MASTER_KEY; here id ${oldId})\n`), r.stderr);
      assert.match(r.stderr, /Nothing was changed\. To rewrap anyway, add --force/);
      assert.ok(!r.stderr.includes(NEW_B64) && !r.stderr.includes(TEST_MASTER_KEY), 'no key value in the output');
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [oldId]: 20 });
      // Swapped variables are named as such.
      const swapped = await rotate({ NEO_MASTER_KEY: TEST_MASTER_KEY, NEO_MASTER_KEY_PREVIOUS: NEW_B64 });
      assert.equal(swapped.code, 1);
      assert.match(swapped.stderr, /refused: NEO_MASTER_KEY and NEO_MASTER_KEY_PREVIOUS are swapped/);
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [oldId]: 20 });
    });

    it('--force rewraps anyway, with a warning', async () => {
      const r = await rotate({ NEO_MASTER_KEY: TEST_MASTER_KEY }, '--force');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`warning \\(--force\\): .*servers without NEO_MASTER_KEY=<new key> \\(id ${newId}\\) refuse to start`));
      assert.equal(JSON.parse(r.stdout).complete, true);
      assert.deepEqual(await countByMasterKey(ctx.database.db), { [newId]: 20 });
      const all = await openAll(ctx.database.db, [NEW_KEY]);
      for (const s of seeded) assert.equal(all.get(`${s.ownerType}:${s.ownerId}`), s.secret);
    });
  });
}
