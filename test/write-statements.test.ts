/**
 * What one BYOK write costs the database, counted (SQLite): the statements a request
 * runs on each connection and the COMMITs (each one an fsync with synchronous=FULL).
 * A benchmark-free guard for the write path of docs/benchmarks.md ("The write path"):
 * a write that gains a statement, a second transaction or a re-read fails here, and the
 * list below is updated only with the reason written in docs/benchmarks.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OpenOptions } from '../src/db/index.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';
import { createUser, setByok, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';

/** Every statement executed on either connection, as `<role>: <sql>` (the per-request data_version probe left out). */
function statementRecorder() {
  const log: string[] = [];
  const wrap: NonNullable<OpenOptions['sqliteWrap']> = (conn, role) => {
    const prepare = conn.prepare.bind(conn);
    conn.prepare = ((text: string) => {
      const stmt = prepare(text);
      if (/data_version/i.test(text)) return stmt;
      return new Proxy(stmt, {
        get(target, prop) {
          const v: unknown = Reflect.get(target, prop, target);
          if (typeof v !== 'function') return v;
          if (prop === 'run' || prop === 'all' || prop === 'get' || prop === 'iterate') {
            return (...args: unknown[]) => {
              log.push(`${role}: ${text.replace(/\s+/g, ' ').trim()}`);
              return (v as (...a: unknown[]) => unknown).apply(target, args);
            };
          }
          return (v as (...a: unknown[]) => unknown).bind(target);
        },
      });
    }) as typeof conn.prepare;
    return conn;
  };
  return { log, wrap };
}

/** `insert into "audit_events" (…) values (…)` → `insert audit_events`: the kind of statement and its (first) table. */
function shape(line: string): string {
  const [role, text] = line.split(': ', 2) as [string, string];
  if (/^(begin|commit|rollback|savepoint|release)\b/i.test(text)) return `${role}: ${text.toLowerCase()}`;
  const verb = text.split(' ')[0]!.toLowerCase();
  // The last table named: a subquery's table comes before the outer FROM in a select list.
  const table = [...text.matchAll(/\b(?:from|into|update)\s+"(\w+)"/gi)].at(-1)?.[1] ?? '?';
  return `${role}: ${verb} ${table}`;
}

describe('statements of one BYOK write (SQLite)', () => {
  let ctx: TestContext;
  let fakes: ProviderFakes;
  const rec = statementRecorder();

  before(async () => {
    fakes = await startProviderFakes();
    ctx = await createTestContext({ env: { ...fakes.env, NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: '127.0.0.1:9' }, databaseOptions: { sqliteWrap: rec.wrap } });
  });
  after(async () => {
    await ctx?.close();
    await fakes?.close();
  });

  async function record(fn: () => Promise<void>): Promise<string[]> {
    rec.log.length = 0;
    await fn();
    return rec.log.map(shape);
  }
  async function patch(user: TestUser, url: string, payload: object): Promise<void> {
    const res = await ctx.app.inject({ method: 'PATCH', url, headers: user.headers, payload });
    assert.equal(res.statusCode, 200, res.body);
  }

  it('a mode change of an owner without webhook endpoints: one transaction, one COMMIT, no outbox row, nothing read twice', async () => {
    const user = await createUser(ctx);
    await setByok(ctx, user.owner);
    await patch(user, '/api/v1/byok/providers/openai', { api_key: acceptedCredential(fakes, 'openai').api_key });
    await patch(user, '/api/v1/byok/mode', { mode: 'byok' });
    await patch(user, '/api/v1/byok/mode', { mode: 'neo' });
    // Warm: the same write again, as in the benchmark's set-mode scenario.
    const statements = await record(() => patch(user, '/api/v1/byok/mode', { mode: 'byok' }));
    assert.deepEqual(
      statements,
      [
        'writer: begin immediate',
        'writer: savepoint neo_group_job',
        'writer: select byok_settings', // the owner lock, the mode under it and whether an enabled webhook endpoint exists (the row exists: no insert)
        'writer: select team_members', // authority re-check: membership
        'writer: select features', // authority re-check: the byok flag as committed
        'writer: select provider_keys', // byok needs a key: count
        'writer: update byok_settings',
        'writer: insert audit_events',
        'writer: release savepoint neo_group_job',
        'writer: commit',
      ],
      rec.log.join('\n'),
    );
  });

  it('a key save (replacing the key) of an owner without webhook endpoints', async () => {
    const user = await createUser(ctx);
    await setByok(ctx, user.owner);
    const body = { api_key: acceptedCredential(fakes, 'openai').api_key };
    await patch(user, '/api/v1/byok/providers/openai', body);
    await patch(user, '/api/v1/byok/providers/openai', body);
    const statements = await record(() => patch(user, '/api/v1/byok/providers/openai', body));
    assert.deepEqual(
      statements,
      [
        'reader: select provider_keys', // the stored location the key is checked against (before the provider call)
        'writer: begin immediate',
        'writer: savepoint neo_group_job',
        'writer: select byok_settings', // the owner lock (and the webhook-endpoint check)
        'writer: select team_members', // authority re-check
        'writer: select features',
        'writer: select provider_keys', // the key under the lock (defaults of omitted fields)
        'writer: select data_keys', // the owner's data key (its unwrapped copy is cached)
        'writer: update provider_keys', // RETURNING the row as stored: no second read
        'writer: insert audit_events',
        'writer: release savepoint neo_group_job',
        'writer: commit',
      ],
      rec.log.join('\n'),
    );
  });

  it('with an enabled endpoint the event is written in the same transaction', async () => {
    const user = await createUser(ctx);
    await setByok(ctx, user.owner);
    await patch(user, '/api/v1/byok/providers/openai', { api_key: acceptedCredential(fakes, 'openai').api_key });
    // Nothing is delivered here (the worker is off in tests): the endpoint only has to exist.
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/byok/webhooks',
      headers: user.headers,
      payload: { url: 'http://127.0.0.1:9/neo', events: ['mode.changed'] },
    });
    assert.equal(created.statusCode, 201, created.body);
    const statements = await record(() => patch(user, '/api/v1/byok/mode', { mode: 'byok' }));
    const writes = statements.filter((s) => /insert (outbox|audit_events)|commit/.test(s));
    assert.deepEqual(writes, ['writer: insert outbox', 'writer: insert audit_events', 'writer: commit'], rec.log.join('\n'));
  });
});
