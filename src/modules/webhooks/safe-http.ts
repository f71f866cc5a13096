/**
 * Outbound HTTP for webhooks: the URL is typed by a user and the server calls it, so
 * this is the one place that decides whether and where a delivery connects.
 *
 * - `https` only; plain `http` (and the address checks) are waived only for the exact
 *   `host:port` pairs an operator lists (`NEO_WEBHOOK_ALLOWED_HTTP_HOSTS`), meant for
 *   tests and local receivers. No user name or password in the URL.
 * - The host is resolved once; every resolved address must be global unicast
 *   ({@link classifyAddress}), else nothing is sent.
 * - The connection goes to an address that was checked: the request's `lookup` hands
 *   back the checked addresses instead of asking DNS again, so a rebinding DNS answer
 *   cannot swap one for an internal one between the check and the connect. TLS still verifies
 *   the certificate against the URL's host name (SNI and `Host` are the name).
 * - Redirects are never followed (a 3xx is only a status); one deadline (5 s) covers
 *   resolution, connect and the answer; at most 64 KiB of the answer is read and only a
 *   short printable excerpt of it is returned.
 *
 * Nothing here logs, and error texts never carry request headers (the signature).
 *
 * Not built on the providers' client (src/providers/outbound.ts), on purpose: that one
 * calls fixed, operator-configured provider hosts through `fetch`, which cannot pin a
 * connection to pre-checked addresses (no per-request `lookup`) — here the URL is a
 * user's, so the connect must go through node:http with the checked addresses. The
 * body rules differ too: a provider answer past its cap is a failure (a cut listing is
 * unusable), a receiver's answer is cut at 64 KiB and still a delivery (only its status
 * and an excerpt matter). And the failure vocabularies serve different readers: check
 * messages tell `dns` from `network` for a provider host, the delivery log tells refused,
 * reset, TLS and HTTP-parse failures apart for a receiver (its DNS was checked before).
 */
import { promises as dnsPromises } from 'node:dns';
import type { LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { canonicalIp, classifyAddress, describeRange } from './addresses.ts';
import { normalizeAllowedHttpHost } from '../../config/index.ts';

/** Resolves a host name to all its addresses (injected by tests; default: the OS resolver). */
export type LookupFn = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

export const systemLookup: LookupFn = (hostname) =>
  dnsPromises.lookup(hostname, { all: true, verbatim: true });

export const WEBHOOK_TIMEOUT_MS = 5000;
/** Most bytes of a receiver's answer ever read. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest excerpt of an answer kept (printable ASCII). */
export const EXCERPT_CHARS = 200;
const MAX_URL_LENGTH = 2048;

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };
export type DeliveryResult = { status?: number; excerpt: string; error?: string };

interface Target {
  url: URL;
  /** Host name without IPv6 brackets. */
  hostname: string;
  port: number;
  /** The operator allow-listed this host:port: http allowed, address checks waived. */
  allowListed: boolean;
}

function parseTarget(
  raw: string,
  allowedHttpHosts: readonly string[],
): { ok: true; target: Target } | { ok: false; reason: string } {
  if (raw.length > MAX_URL_LENGTH)
    return { ok: false, reason: `url must be at most ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'url must be an absolute https URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, reason: 'url must use https' };
  // Userinfo, even an empty `@`: the WHATWG authority ends at /, \, ? or #.
  const authority = /^[a-z][a-z0-9+.-]*:[/\\]*([^/\\?#]*)/i.exec(raw.trim())?.[1] ?? '';
  if (url.username || url.password || authority.includes('@')) {
    return { ok: false, reason: 'url must not contain a user name or password' };
  }
  if (!url.hostname) return { ok: false, reason: 'url must name a host' };
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const allowed = new Set(
    allowedHttpHosts.map(normalizeAllowedHttpHost).filter((x): x is string => x !== undefined),
  );
  const allowListed = allowed.has(`${url.hostname}:${port}`);
  if (url.protocol === 'http:' && !allowListed) return { ok: false, reason: 'url must use https' };
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { ok: true, target: { url, hostname, port, allowListed } };
}

/** `addresses`: every address the host resolved to, each checked (in the resolver's order). */
type Resolved =
  | { ok: true; target: Target; addresses: { address: string; family: 4 | 6 }[] }
  | { ok: false; reason: string };

/** Resolves the target once and checks every address (unless allow-listed). */
async function resolveTarget(
  raw: string,
  allowedHttpHosts: readonly string[],
  lookup: LookupFn,
  signal: AbortSignal,
): Promise<Resolved> {
  const parsed = parseTarget(raw, allowedHttpHosts);
  if (!parsed.ok) return parsed;
  const { target } = parsed;
  let addresses: readonly { address: string; family: number }[];
  const literal = canonicalIp(target.hostname);
  if (literal) {
    addresses = [{ address: literal.toString(), family: literal.kind() === 'ipv6' ? 6 : 4 }];
  } else {
    try {
      addresses = await abortable(lookup(target.hostname), signal);
    } catch (err) {
      if (signal.aborted) return { ok: false, reason: 'url host name did not resolve in time' };
      void err;
      return { ok: false, reason: 'url host name does not resolve' };
    }
  }
  if (addresses.length === 0) return { ok: false, reason: 'url host name does not resolve' };
  if (!target.allowListed) {
    for (const a of addresses) {
      const verdict = classifyAddress(a.address);
      // The message names the kind of address, never the address itself: a user must
      // not learn the layout of the server's internal DNS from error messages.
      if (!verdict.allowed)
        return {
          ok: false,
          reason: `url must point to a public address; its host is ${describeRange(verdict.range)}`,
        };
    }
  }
  return {
    ok: true,
    target,
    addresses: addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
  };
}

/**
 * The creation-time check of a webhook URL: scheme, userinfo, host, and every address
 * the host resolves to now. A later change of DNS is caught again at each delivery.
 */
export async function checkWebhookUrl(
  url: string,
  opts: { allowedHttpHosts: readonly string[]; lookup?: LookupFn },
): Promise<UrlCheck> {
  const parsed = parseTarget(url, opts.allowedHttpHosts);
  if (!parsed.ok) return parsed;
  // An allow-listed pair is trusted as configured; it need not even resolve yet.
  if (parsed.target.allowListed) return { ok: true, url: parsed.target.url };
  const resolved = await resolveTarget(
    url,
    opts.allowedHttpHosts,
    opts.lookup ?? systemLookup,
    AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  );
  return resolved.ok ? { ok: true, url: resolved.target.url } : resolved;
}

/**
 * POSTs one webhook delivery (see the module comment for the rules). Never throws:
 * a refusal or a failure before any status is `error`; otherwise `status` is the
 * receiver's status code (a 3xx is not followed) and `excerpt` the start of its answer.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { allowedHttpHosts: readonly string[]; timeoutMs?: number; lookup?: LookupFn },
): Promise<DeliveryResult> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
  const resolved = await resolveTarget(url, opts.allowedHttpHosts, opts.lookup ?? systemLookup, signal);
  if (!resolved.ok) return { excerpt: '', error: `refused: ${resolved.reason}` };
  return send(resolved, body, headers, signal);
}

function send(
  resolved: Extract<Resolved, { ok: true }>,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  const { target, addresses } = resolved;
  const first = addresses[0]!;
  // The checked addresses, whatever the name: no second DNS query for rebinding to answer.
  // Asked for all (Node's default happy-eyeballs connect), it gets every checked address
  // and tries them in turn, so a dual-stack host still works when one family is unreachable.
  const pinned: LookupFunction = (_hostname: string, options: LookupOptions, callback) => {
    if (options?.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  };
  const outgoing: Record<string, string | number> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (
      lower === 'host' ||
      lower === 'content-length' ||
      lower === 'transfer-encoding' ||
      lower === 'connection'
    )
      continue;
    outgoing[lower] = value;
  }
  outgoing['content-length'] = Buffer.byteLength(body);

  return new Promise<DeliveryResult>((resolve) => {
    let done = false;
    const finish = (result: DeliveryResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(result);
    };
    let status: number | undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    const answered = () => ({ status, excerpt: sanitizeExcerpt(Buffer.concat(chunks)) });
    const onAbort = () =>
      finish(status === undefined ? { excerpt: '', error: 'timeout: no answer in time' } : answered());

    const request = target.url.protocol === 'https:' ? https.request : http.request;
    const req = request({
      method: 'POST',
      hostname: target.hostname,
      port: target.port,
      path: `${target.url.pathname}${target.url.search}`,
      headers: outgoing,
      agent: false,
      lookup: pinned,
      ...(target.url.protocol === 'https:' && canonicalIp(target.hostname) === undefined
        ? { servername: target.hostname }
        : {}),
    });
    req.on('response', (res) => {
      status = res.statusCode;
      res.on('data', (chunk: Buffer) => {
        const room = MAX_RESPONSE_BYTES - received;
        if (room <= 0) return;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        received += part.length;
        // Enough read: stop here, whatever the receiver still sends.
        if (received >= MAX_RESPONSE_BYTES) finish(answered());
      });
      res.on('end', () => finish(answered()));
      res.on('error', () => finish(answered()));
      res.on('close', () => finish(answered()));
    });
    req.on('error', (err) =>
      finish(status === undefined ? { excerpt: '', error: failure(err, signal) } : answered()),
    );
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

/** A short, fixed description of a failure before any status (never the error's own text). */
function failure(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timeout: no answer in time';
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' ? raw : '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'ETIMEDOUT') return 'timeout: no answer in time';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (code.startsWith('HPE_')) return 'invalid HTTP response';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL/i.test(code) || code === 'EPROTO')
    return `TLS handshake failed (${code})`;
  return /^[A-Z0-9_]{1,40}$/.test(code) ? `connection failed (${code})` : 'connection failed';
}

/** The start of an answer as printable ASCII: whitespace runs become one space, other bytes `?`. */
export function sanitizeExcerpt(bytes: Buffer): string {
  return bytes
    .subarray(0, EXCERPT_CHARS * 4)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, EXCERPT_CHARS);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error('lookup failed'));
      },
    );
  });
}
