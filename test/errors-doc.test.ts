/**
 * One error model in three places that must agree: the code table in
 * src/errors/index.ts, docs/errors.md, and the served OpenAPI document (the
 * ErrorResponse `code` enum and every operation's error responses). Adding a code to
 * one and not the others fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ERROR_CODES } from '../src/errors/index.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

const DOC_PATH = new URL('../docs/errors.md', import.meta.url);

interface DocRow {
  status: number;
  kind: string;
  code: string;
  when: string;
  action: string;
}

/** Rows of the "Codes" table: | 400 | `invalid request` | `invalid_request` | when | what to do | */
function docRows(markdown: string): DocRow[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Codes'));
  assert.ok(section, 'docs/errors.md has a "## Codes" section');
  const rows: DocRow[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d{3})\s*\|\s*`([^`]+)`\s*\|\s*`([a-z_]+)`\s*\|(.*)\|(.*)\|\s*$/.exec(line);
    if (m) rows.push({ status: Number(m[1]), kind: m[2]!, code: m[3]!, when: m[4]!.trim(), action: m[5]!.trim() });
    else if (/^\|\s*\d{3}/.test(line)) assert.fail(`docs/errors.md: a table row does not parse: ${line}`);
  }
  return rows;
}

type Operation = { operationId?: string; responses?: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> };

describe('error codes: table, docs/errors.md and OpenAPI agree', () => {
  let ctx: TestContext;
  let doc: { components: { schemas: Record<string, { properties: Record<string, { type?: string; enum?: string[]; description?: string }> }> }; paths: Record<string, Record<string, Operation>> };
  const table = Object.entries(ERROR_CODES).map(([code, d]) => ({ code, status: d.status, kind: d.kind }));

  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
    doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  });
  after(async () => ctx.close());

  it('docs/errors.md has one row per code, with the same status and kind, and says what to do', () => {
    const rows = docRows(readFileSync(DOC_PATH, 'utf8'));
    const codes = rows.map((r) => r.code);
    assert.equal(new Set(codes).size, codes.length, 'no code is listed twice');
    assert.deepEqual([...codes].sort(), table.map((t) => t.code).sort(), 'docs/errors.md lists exactly the codes of src/errors/index.ts');
    for (const row of rows) {
      const def = ERROR_CODES[row.code as keyof typeof ERROR_CODES];
      assert.equal(row.status, def.status, `${row.code}: status`);
      assert.equal(row.kind, def.kind, `${row.code}: kind`);
      assert.ok(row.when.length >= 20, `${row.code}: says when it happens`);
      assert.ok(row.action.length >= 10, `${row.code}: says what a client should do`);
    }
  });

  it('the OpenAPI ErrorResponse code is an open string whose description names every code of the table', () => {
    const er = doc.components.schemas.ErrorResponse;
    assert.ok(er, 'ErrorResponse is a component schema');
    const code = er.properties.code;
    // As in the seed: a closed enum would break clients generated with strict enums when a code is added.
    assert.equal(code?.type, 'string');
    assert.equal(code?.enum, undefined, 'code is not a closed enum');
    const known = (code?.description ?? '').split('Known codes')[1] ?? '';
    const named = [...known.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(named)].sort(), table.map((t) => t.code).sort(), 'the description lists exactly the known codes');
    for (const f of ['error', 'code', 'error_id', 'kind', 'message']) assert.ok(er.properties[f], `ErrorResponse has ${f}`);
  });

  it("every operation's error responses reference ErrorResponse, with statuses the table knows", () => {
    const statuses = new Set(table.map((t) => String(t.status)));
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        operations++;
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          if (Number(status) < 400) continue;
          const where = `${method.toUpperCase()} ${path} ${status}`;
          assert.ok(statuses.has(status), `${where}: no error code has status ${status}`);
          assert.equal(response.content?.['application/json']?.schema?.$ref, '#/components/schemas/ErrorResponse', `${where} refers to ErrorResponse`);
        }
      }
    }
    assert.ok(operations >= 3, 'the document has operations');
  });

  it('the server-level table of docs/errors.md uses known codes only', () => {
    const md = readFileSync(DOC_PATH, 'utf8');
    const section = md.split(/^## /m).find((s) => s.startsWith('Server-level failures'));
    assert.ok(section, 'docs/errors.md has a "## Server-level failures" section');
    const used = [...section.matchAll(/\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|/g)];
    assert.ok(used.length >= 5);
    for (const m of used) {
      const def = ERROR_CODES[m[2] as keyof typeof ERROR_CODES];
      assert.ok(def, `unknown code ${m[2]}`);
      assert.equal(def.status, Number(m[1]), `${m[2]} has status ${def.status}`);
    }
  });
});
