/**
 * The dependency gate (scripts/audit.mjs, run by .ci/run): judged on saved
 * `npm audit --json` reports so the policy is tested without the network.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'neo-audit-'));

function advisory(source: number, ghsa: string, severity: string, name: string) {
  return { source, name, dependency: name, title: `${name} is vulnerable`, url: `https://github.com/advisories/${ghsa}`, severity, range: '<9.9.9' };
}

function report(vias: ReturnType<typeof advisory>[]) {
  const vulnerabilities: Record<string, unknown> = {};
  for (const v of vias) {
    vulnerabilities[v.name] = { name: v.name, severity: v.severity, isDirect: false, via: [v], effects: ['dependent'], range: v.range, nodes: [], fixAvailable: true };
  }
  // A transitive entry that only points at another package (a string `via`).
  vulnerabilities.dependent = { name: 'dependent', severity: 'high', isDirect: true, via: vias.map((v) => v.name), effects: [], range: '*', nodes: [], fixAvailable: true };
  return { auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: vias.length, critical: 0, total: vias.length } } };
}

let n = 0;
function run(rep: unknown, allow: unknown, env: Record<string, string> = {}) {
  n += 1;
  const input = join(dir, `report-${n}.json`);
  const allowlist = join(dir, `allow-${n}.json`);
  writeFileSync(input, JSON.stringify(rep));
  writeFileSync(allowlist, JSON.stringify(allow));
  const r = spawnSync(process.execPath, [join(root, 'scripts/audit.mjs'), '--input', input, '--allowlist', allowlist], {
    encoding: 'utf8',
    env: { ...process.env, NEO_AUDIT_STRICT: '', ...env },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('dependency audit gate (scripts/audit.mjs)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes a report with no advisories', () => {
    const r = run({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: {} } }, []);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /audit: ok/);
  });

  it('fails on a high advisory that is not allow-listed, naming it', () => {
    const r = run(report([advisory(1101234, 'GHSA-aaaa-bbbb-cccc', 'high', 'left-pad')]), []);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /HIGH left-pad/);
    assert.match(r.out, /GHSA-aaaa-bbbb-cccc/);
  });

  it('fails on a critical advisory too, and lets moderate and low ones pass', () => {
    assert.equal(run(report([advisory(2, 'GHSA-cccc-dddd-eeee', 'critical', 'evil')]), []).status, 1);
    const ok = run(report([advisory(3, 'GHSA-dddd-eeee-ffff', 'moderate', 'meh'), advisory(4, 'GHSA-eeee-ffff-gggg', 'low', 'tiny')]), []);
    assert.equal(ok.status, 0, ok.out);
  });

  it('accepts an advisory allow-listed by GHSA id, by npm number or by URL, printing the reason', () => {
    const rep = report([
      advisory(11, 'GHSA-1111-2222-3333', 'high', 'a'),
      advisory(12, 'GHSA-4444-5555-6666', 'critical', 'b'),
      advisory(13, 'GHSA-7777-8888-9999', 'high', 'c'),
    ]);
    const r = run(rep, [
      { id: 'GHSA-1111-2222-3333', reason: 'only reachable from the CLI with trusted input' },
      { id: '12', reason: 'the vulnerable function is never called here' },
      { url: 'https://github.com/advisories/GHSA-7777-8888-9999', reason: 'fixed by our own input validation' },
    ]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /only reachable from the CLI/);
  });

  it('fails when one of several advisories is not accepted', () => {
    const rep = report([advisory(21, 'GHSA-aaaa-1111-aaaa', 'high', 'x'), advisory(22, 'GHSA-bbbb-2222-bbbb', 'high', 'y')]);
    const r = run(rep, [{ id: 'GHSA-aaaa-1111-aaaa', reason: 'accepted for a good reason' }]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /HIGH y/);
    assert.doesNotMatch(r.out, /HIGH x/);
  });

  it('refuses an allow-list entry without a reason, and ignores an expired one', () => {
    const rep = report([advisory(31, 'GHSA-cccc-3333-cccc', 'high', 'z')]);
    const noReason = run(rep, [{ id: 'GHSA-cccc-3333-cccc' }]);
    assert.equal(noReason.status, 1);
    assert.match(noReason.out, /needs a "reason"/);
    const expired = run(rep, [{ id: 'GHSA-cccc-3333-cccc', reason: 'was accepted until the fix', expires: '2000-01-01' }]);
    assert.equal(expired.status, 1, expired.out);
    assert.match(expired.out, /expired/);
  });

  it('warns and passes when the audit endpoint is unavailable, and fails in strict mode', () => {
    const unreachable = { message: '405 Method Not Allowed - POST https://registry.example/-/npm/v1/security/advisories/bulk', statusCode: 405, error: { summary: '', detail: '' } };
    const lenient = run(unreachable, []);
    assert.equal(lenient.status, 0, lenient.out);
    assert.match(lenient.out, /WARNING: the registry's audit endpoint is unavailable/);
    assert.match(lenient.out, /NOT audited/);
    const strict = run(unreachable, [], { NEO_AUDIT_STRICT: '1' });
    assert.equal(strict.status, 1, strict.out);
  });

  it("the repository's allow-list is well-formed", () => {
    const list: unknown = JSON.parse(readFileSync(join(root, '.npm-audit-allowlist.json'), 'utf8'));
    assert.ok(Array.isArray(list));
    for (const e of list as { reason?: unknown }[]) assert.equal(typeof e.reason, 'string');
    const r = run({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: {} } }, list);
    assert.equal(r.status, 0, r.out);
  });
});
