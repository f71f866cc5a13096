/**
 * Request logging (src/server/request-log.ts): the access line written without pino is the
 * line pino writes for the same request, a request's logger makes a pino child only when
 * it logs, and the level still applies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { accessLine, RequestLogger } from '../src/server/request-log.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

type Line = Record<string, unknown> & { req?: Record<string, unknown>; res?: Record<string, unknown> };

const parse = (line: string): Line => JSON.parse(line) as Line;
const withoutTime = ({ time: _t, ...rest }: Line) => rest;

describe('request logging', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext();
  });
  after(async () => {
    await ctx.close();
  });

  it('writes one access line per request: method, path without the query, id, status, time', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/healthz?token=not-for-the-log' });
    assert.equal(res.statusCode, 200);
    const id = res.headers['x-request-id'];
    const lines = ctx.logs.filter((l) => l.includes(String(id))).map(parse);
    assert.equal(lines.length, 1, 'one line for the request');
    const line = lines[0]!;
    assert.equal(line.level, 30);
    assert.equal(line.msg, 'request completed');
    assert.equal(line.reqId, id);
    assert.deepEqual(line.req, { method: 'GET', url: '/healthz', id });
    assert.deepEqual(line.res, { statusCode: 200 });
    assert.equal(typeof line.responseTime, 'number');
    assert.equal(typeof line.time, 'number');
    assert.equal(line.pid, process.pid);
    assert.ok(!ctx.logs.join('').includes('not-for-the-log'), 'the query string is not logged');
  });

  it('is the line pino writes for the same request, bindings of nested children included', () => {
    const root = ctx.app.log;
    const request = { method: 'POST', url: '/internal/v1/credentials/resolve?x=1', id: 'req-1' } as unknown as FastifyRequest;
    const reply = { statusCode: 409, elapsedTime: 1.25 } as unknown as FastifyReply;
    const lazy = new RequestLogger(root, { reqId: 'req-1' }).child({ owner_type: 'team', owner_id: 'team-1' }) as RequestLogger;
    const fast = accessLine(lazy, request, reply);
    assert.ok(fast?.endsWith('}\n'));
    const before = ctx.logs.length;
    root.child({ reqId: 'req-1' }).child({ owner_type: 'team', owner_id: 'team-1' }).info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    const viaPino = ctx.logs.slice(before).map(parse);
    assert.equal(viaPino.length, 1);
    assert.deepEqual(withoutTime(parse(fast!)), withoutTime(viaPino[0]!));
    assert.deepEqual(Object.keys(parse(fast!)), Object.keys(viaPino[0]!), 'same fields in the same order');
  });

  it('a binding with a redacted name sends the line through pino (redacted there)', () => {
    const lazy = new RequestLogger(ctx.app.log, { reqId: 'req-2' }).child({ token: 'secret-value' }) as RequestLogger;
    const request = { method: 'GET', url: '/x', id: 'req-2' } as unknown as FastifyRequest;
    assert.equal(accessLine(lazy, request, { statusCode: 200, elapsedTime: 1 } as unknown as FastifyReply), undefined);
    const before = ctx.logs.length;
    lazy.warn('a warning');
    const lines = ctx.logs.slice(before);
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('secret-value'));
  });

  it("a request's logger writes through a pino child with its bindings, only at enabled levels", () => {
    const lazy = new RequestLogger(ctx.app.log, { reqId: 'req-3' }).child({ owner_type: 'user', owner_id: 'u-3' });
    const before = ctx.logs.length;
    lazy.debug('below the level');
    assert.equal(ctx.logs.length, before, 'debug is below info: nothing written');
    lazy.error({ event: 'x' }, 'an error');
    const line = parse(ctx.logs.at(-1)!);
    assert.equal(line.level, 50);
    assert.equal(line.reqId, 'req-3');
    assert.equal(line.owner_id, 'u-3');
    assert.equal(line.event, 'x');
    assert.equal(line.msg, 'an error');
  });
});

describe('request logging at NEO_LOG_LEVEL=warn', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext({ env: { NEO_LOG_LEVEL: 'warn' } });
  });
  after(async () => {
    await ctx.close();
  });

  it('writes no access line', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.ok(!ctx.logs.some((l) => l.includes('request completed')));
  });
});
