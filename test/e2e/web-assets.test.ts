/**
 * The settings page's HTTP side (no browser): served from the package with the right
 * content types, cache headers and Content-Security-Policy, no inline script or style,
 * and hidden from the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PAGE_CSP, WEB_DIR } from '../../src/web/web.routes.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

const EXPECTED_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

describe('settings page assets', () => {
  let ctx: TestContext;
  let html: string;
  let version: string;

  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
    const res = await ctx.app.inject({ method: 'GET', url: '/' });
    html = res.body;
    version = /"\/assets\/([0-9a-f]{12})\/app\.js"/.exec(html)?.[1] ?? '';
  });
  after(async () => ctx.close());

  it('GET / serves the page as HTML with the strict CSP and revalidation', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(PAGE_CSP, EXPECTED_CSP);
    assert.equal(res.headers['content-security-policy'], EXPECTED_CSP);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.match(String(res.headers.etag), /^"[A-Za-z0-9_-]{22}"$/);
    assert.match(res.body, /<title>BYOK settings · Neo<\/title>/);
    // No credentials are needed to load the page itself.
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await ctx.app.inject({ method: 'GET', url: '/' });
    const again = await ctx.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(first.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    const other = await ctx.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': '"something-else"' } });
    assert.equal(other.statusCode, 200);
  });

  it('the HTML has no inline script, no inline style and no external URL', () => {
    assert.ok(version, 'asset URLs carry a 12-hex version');
    // Every <script> has a same-origin src and no body.
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1]!, /\ssrc="\/assets\/[0-9a-f]{12}\/[a-z-]+\.js"/);
      assert.equal(m[2]!.trim(), '');
    }
    assert.doesNotMatch(html, /\sstyle\s*=/i);
    assert.doesNotMatch(html, /<style\b/i);
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'nothing from another origin');
  });

  it('the scripts never use innerHTML, eval or inline styles', () => {
    for (const name of readdirSync(WEB_DIR).filter((n) => n.endsWith('.js'))) {
      const src = readFileSync(join(WEB_DIR, name), 'utf8');
      assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, name);
      assert.doesNotMatch(src, /\.style\.|setAttribute\(\s*['"]style/, name);
      assert.doesNotMatch(src, /localStorage\s*[.[]/, `${name} keeps nothing in localStorage`);
      assert.doesNotMatch(src, /(fetch|import)\(\s*['"`](https?:)?\/\//, `${name} calls no other origin`);
      assert.doesNotMatch(src, /from\s+['"](https?:)?\/\//, `${name} imports nothing from another origin`);
    }
  });

  it('serves every asset with its content type; versioned URLs are immutable', async () => {
    const cases: [string, string][] = [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['api.js', 'text/javascript; charset=utf-8'],
      ['styles.css', 'text/css; charset=utf-8'],
      ['favicon.svg', 'image/svg+xml'],
    ];
    for (const [name, type] of cases) {
      const res = await ctx.app.inject({ method: 'GET', url: `/assets/${version}/${name}` });
      assert.equal(res.statusCode, 200, name);
      assert.equal(res.headers['content-type'], type, name);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', name);
      assert.equal(res.headers['content-security-policy'], EXPECTED_CSP, name);
      assert.equal(res.body, readFileSync(join(WEB_DIR, name), 'utf8'), name);
    }
    // Unversioned or stale-version URLs still work but are revalidated.
    const plain = await ctx.app.inject({ method: 'GET', url: '/assets/app.js' });
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.headers['cache-control'], 'no-cache');
    const stale = await ctx.app.inject({ method: 'GET', url: '/assets/000000000000/app.js' });
    assert.equal(stale.statusCode, 200);
    assert.equal(stale.headers['cache-control'], 'no-cache');
  });

  it('serves only the page assets: server code, unknown names and traversal are 404', async () => {
    for (const url of [
      `/assets/${version}/web.routes.ts`,
      '/assets/web.routes.ts',
      '/assets/index.html',
      '/assets/nope.js',
      `/assets/${version}/../web.routes.ts`,
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/..%2fweb.routes.ts',
    ]) {
      const res = await ctx.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().code, 'not_exists', url);
    }
  });

  it('HEAD works and the page is not part of the OpenAPI document', async () => {
    const head = await ctx.app.inject({ method: 'HEAD', url: '/' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-type'], 'text/html; charset=utf-8');
    const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const paths = Object.keys(doc.paths as Record<string, unknown>);
    assert.ok(paths.length > 0);
    assert.ok(!paths.includes('/'), 'the page is hidden');
    assert.ok(!paths.some((p) => p.startsWith('/assets')), 'assets are hidden');
  });
});
