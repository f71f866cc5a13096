/**
 * Serves the BYOK settings page (`/`) and its static assets from this folder: plain ES
 * modules and CSS, no build step, nothing from a CDN. See docs/settings-page.md.
 *
 * - Every asset is read once at registration and kept in memory (the folder is small).
 * - The page's asset URLs carry a version (a hash over every asset), so
 *   `/assets/<version>/app.js` can be cached for a year as immutable while `/` is
 *   revalidated on every load (`no-cache` + ETag): a new deploy is picked up at once.
 *   Relative module imports inside the scripts resolve under the same versioned folder.
 * - Every response carries a strict Content-Security-Policy (no inline script or style,
 *   same-origin fetches only, no framing) and the usual hardening headers.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../errors/index.ts';
import { CSP_DIRECTIVES, PERMISSIONS_POLICY } from '../http/security.ts';

/** Defined (true) by the build (scripts/build.mjs): this module runs from the bundle in dist/. */
declare const NEO_BUNDLE: boolean | undefined;
/** The page's files: this folder when run from source, their copy in dist/web/ in the built server. */
export const WEB_DIR = fileURLToPath(new URL(typeof NEO_BUNDLE !== 'undefined' && NEO_BUNDLE ? './web/' : '.', import.meta.url));

/** The page's Content-Security-Policy: the one every response carries (http/security.ts). */
export const PAGE_CSP = Object.entries(CSP_DIRECTIVES)
  .map(([name, values]) => `${name} ${values.join(' ')}`)
  .join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': PERMISSIONS_POLICY,
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Every servable file under `dir` (relative POSIX paths), skipping server code and tests. */
function listAssets(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listAssets(full, `${prefix}${name}/`));
    else if (CONTENT_TYPES[extname(name)] && name !== 'index.html') out.push(`${prefix}${name}`);
  }
  return out;
}

function asset(body: Buffer, type: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, type, etag };
}

export interface WebBundle {
  version: string;
  page: Asset;
  assets: Map<string, Asset>;
}

/** Reads the page and its assets into memory and stamps asset URLs in the page with the version. */
export function loadWebBundle(dir = WEB_DIR): WebBundle {
  const assets = new Map<string, Asset>();
  const versionHash = createHash('sha256');
  for (const rel of listAssets(dir)) {
    const body = readFileSync(join(dir, rel));
    versionHash.update(rel).update('\0').update(body);
    assets.set(rel, asset(body, CONTENT_TYPES[extname(rel)]!));
  }
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  versionHash.update(html);
  const version = versionHash.digest('hex').slice(0, 12);
  // The one substitution this "no build step" page needs: versioned asset URLs.
  const stamped = html.replaceAll('"/assets/', `"/assets/${version}/`);
  return { version, page: asset(Buffer.from(stamped, 'utf8'), CONTENT_TYPES['.html']!), assets };
}

function send(request: FastifyRequest, reply: FastifyReply, a: Asset, cacheControl: string): FastifyReply {
  void reply.headers(SECURITY_HEADERS).header('cache-control', cacheControl).header('etag', a.etag).type(a.type);
  const inm = request.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === a.etag)) {
    return reply.status(304).send();
  }
  return reply.send(a.body);
}

const VERSION_RE = /^[0-9a-f]{12}$/;

/** The settings page at `/` and its assets under `/assets/`: public, and hidden from OpenAPI. */
export const webRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const bundle = loadWebBundle(opts.dir);
  const route = { config: { auth: 'public' as const }, schema: { hide: true } };

  app.get('/', route, async (request, reply) => send(request, reply, bundle.page, REVALIDATE));

  // /assets/<version>/<path>: immutable when the version is current. A page from an older
  // deploy gets today's file, revalidated, rather than a broken page.
  app.get('/assets/*', route, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    const slash = rest.indexOf('/');
    const first = slash > 0 ? rest.slice(0, slash) : '';
    const versioned = VERSION_RE.test(first);
    const rel = versioned ? rest.slice(slash + 1) : rest;
    const a = bundle.assets.get(rel);
    if (!a) throw notFound(`no asset named ${rel.slice(0, 100)}`);
    return send(request, reply, a, versioned && first === bundle.version ? IMMUTABLE : REVALIDATE);
  });
};
