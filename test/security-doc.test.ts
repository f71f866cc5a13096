/**
 * The operator docs say what the code does on security matters users rely on: how to
 * report a vulnerability (privately, no invented contact), that the failed-login limit
 * never refuses valid credentials, and that NEO_TRUST_PROXY=on lets clients spoof their IP.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The text of a `## heading` section, up to the next `## `. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `section "## ${heading}" exists`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** Markdown reflowed to single spaces, without emphasis marks. */
const flat = (text: string) => text.replace(/\*\*/g, '').replace(/\s+/g, ' ');

describe('docs/security.md', () => {
  const doc = read('docs/security.md');

  it('"Reporting a vulnerability": private advisory, never a public issue, what to include, 3 working days, no invented address', () => {
    const text = flat(section(doc, 'Reporting a vulnerability'));
    assert.match(text, /private security advisory/);
    assert.match(text, /Security tab and choose Report a vulnerability/);
    assert.match(text, /Never report it in a public issue/);
    for (const item of [/version or commit/, /steps to reproduce/, /what an attacker gains/]) assert.match(text, item);
    assert.match(text, /Never send real provider keys/);
    assert.match(text, /acknowledge every report within 3 working days/);
    assert.doesNotMatch(text, /[\w.+-]+@[\w-]+\.[\w.]+/, 'no email address');
    assert.doesNotMatch(text, /mailto:/i);
  });

  it('the failed-login limit refuses failures only, never valid credentials', () => {
    const text = flat(section(doc, 'Rate limits'));
    assert.match(text, /whose credentials fail is answered `429` instead of `401`/);
    assert.match(text, /requests with valid credentials always pass/);
    assert.doesNotMatch(text, /valid credentials included/);
  });
});

describe('NEO_TRUST_PROXY docs', () => {
  it('configuration.md and deployment.md warn that `on` lets clients spoof X-Forwarded-For, and name the safer forms', () => {
    const config = flat(read('docs/configuration.md'));
    const row = /\| `NEO_TRUST_PROXY` \|[^\n]*/.exec(read('docs/configuration.md'))?.[0] ?? '';
    assert.match(flat(row), /which the client itself writes/);
    assert.match(flat(row), /can spoof its address/);
    assert.match(flat(row), /A hop count/);
    assert.match(flat(row), /A list of the proxies' addresses or CIDRs/);
    assert.ok(config.includes('NEO_TRUST_PROXY'));
    const deployment = flat(read('docs/deployment.md'));
    assert.match(deployment, /Not `on`: it trusts every hop/);
    assert.match(deployment, /NEO_TRUST_PROXY=10\.0\.0\.0\/8/);
  });
});
