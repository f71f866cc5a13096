/**
 * Webhook outbound HTTP (src/modules/webhooks/safe-http.ts) against real local servers.
 * Every server listens on loopback; names other than `localhost` are answered by an
 * injected lookup, so no test sends a packet (not even a DNS query) off the machine.
 *
 * Refused URLs are aimed at a trap server on 127.0.0.1 that counts TCP connections:
 * after every refusal it must have seen none, neither at creation (checkWebhookUrl)
 * nor at delivery (postWebhook).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { normalizeAllowedHttpHost } from '../src/config/index.ts';
import { classifyAddress } from '../src/modules/webhooks/addresses.ts';
import {
  checkWebhookUrl,
  MAX_RESPONSE_BYTES,
  postWebhook,
  sanitizeExcerpt,
  type LookupFn,
} from '../src/modules/webhooks/safe-http.ts';
import { startReceiver, startTrap, type LocalServer } from './fakes/webhook-servers.ts';

/** A lookup that knows a few test names and fails every other one (no real DNS). */
function fakeLookup(table: Record<string, string[]>, calls: string[] = []): LookupFn {
  return async (hostname) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('postWebhook to an allow-listed local receiver', () => {
  let receiver: LocalServer;
  let answer: (res: import('node:http').ServerResponse) => void = (res) => res.writeHead(204).end();
  before(async () => {
    receiver = await startReceiver((_req, res) => answer(res));
  });
  after(() => receiver.close());
  const opts = () => ({ allowedHttpHosts: [receiver.hostPort] });

  it('sends the body and headers, and returns the status and a short excerpt', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    const body = JSON.stringify({ type: 'ping' });
    const result = await postWebhook(
      `${receiver.url}/hooks/neo?x=1`,
      body,
      { 'webhook-id': 'msg_1', 'user-agent': 'neo-byok-webhooks' },
      opts(),
    );
    assert.deepEqual(result, { status: 200, excerpt: 'thanks' });
    const got = receiver.requests.at(-1)!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/hooks/neo?x=1');
    assert.equal(got.body, body);
    assert.equal(got.headers['webhook-id'], 'msg_1');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(got.headers.host, receiver.hostPort);
  });

  it('cannot be made to send another Host or length than its own', async () => {
    answer = (res) => res.writeHead(204).end();
    await postWebhook(receiver.url, '{}', { Host: 'internal.example', 'Content-Length': '999' }, opts());
    const got = receiver.requests.at(-1)!;
    assert.equal(got.headers.host, receiver.hostPort);
    assert.equal(got.headers['content-length'], '2');
  });

  it('reports an error status as a status, with a sanitized excerpt of at most 200 printable characters', async () => {
    answer = (res) =>
      res
        .writeHead(500, { 'content-type': 'text/plain' })
        .end(`Oops\r\n\t\x00\x1b[31mred\x07 é ${'x'.repeat(1000)}`);
    const result = await postWebhook(receiver.url, '{}', {}, opts());
    assert.equal(result.status, 500);
    assert.equal(result.error, undefined);
    assert.equal(result.excerpt.length, 200);
    assert.match(result.excerpt, /^[\x20-\x7e]*$/);
    assert.ok(result.excerpt.startsWith('Oops ??[31mred? ? xxx'), result.excerpt);
  });

  it(
    'reads at most 64 KiB of an answer that never ends, and still returns its status',
    { timeout: 60_000 },
    async () => {
      let closed = false;
      answer = (res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.on('close', () => (closed = true));
        const chunk = Buffer.alloc(16 * 1024, 'a');
        const pump = () => {
          while (!closed && res.write(chunk));
          if (!closed) res.once('drain', pump);
        };
        pump();
      };
      // A deadline far away: only the cap can end this call.
      const result = await postWebhook(receiver.url, '{}', {}, { ...opts(), timeoutMs: 10 * 60_000 });
      assert.equal(result.status, 200);
      assert.equal(result.error, undefined);
      assert.equal(result.excerpt, 'a'.repeat(200));
      assert.equal(MAX_RESPONSE_BYTES, 64 * 1024);
    },
  );

  it('gives up at the deadline when the receiver never answers, with no status', async () => {
    answer = () => undefined; // never answers
    const result = await postWebhook(receiver.url, '{}', {}, { ...opts(), timeoutMs: 300 });
    assert.equal(result.status, undefined);
    assert.match(result.error ?? '', /^timeout/);
  });

  it('says so when nothing listens', async () => {
    const gone = await startReceiver();
    const { hostPort, url } = gone;
    await gone.close();
    const result = await postWebhook(url, '{}', {}, { allowedHttpHosts: [hostPort] });
    assert.deepEqual(result, { excerpt: '', error: 'connection refused' });
  });

  it('an https URL to a host that does not speak TLS fails before any status', async () => {
    const result = await postWebhook(
      `https://${receiver.hostPort}/`,
      '{}',
      {},
      { ...opts(), timeoutMs: 5000 },
    );
    assert.equal(result.status, undefined);
    assert.ok(result.error, 'an error is reported');
    assert.doesNotMatch(result.error, /refused:/);
  });
});

describe('postWebhook connects to the address it checked (DNS rebinding)', () => {
  it('resolves the name once and connects to that answer, with the name as Host', async () => {
    const receiver = await startReceiver();
    const trap = await startTrap('127.0.0.2').catch(() => undefined);
    try {
      const calls: string[] = [];
      // First answer the receiver, every later answer the trap: a second lookup would show.
      let n = 0;
      const lookup: LookupFn = async (hostname) => {
        calls.push(hostname);
        return [{ address: n++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
      };
      const result = await postWebhook(
        `http://hooks.example.test:${receiver.port}/in`,
        '{}',
        {},
        { allowedHttpHosts: [`hooks.example.test:${receiver.port}`], lookup },
      );
      assert.equal(result.status, 204);
      assert.deepEqual(calls, ['hooks.example.test']);
      assert.equal(receiver.requests.length, 1);
      assert.equal(receiver.requests[0]!.headers.host, `hooks.example.test:${receiver.port}`);
      assert.equal(trap?.connections ?? 0, 0);
    } finally {
      await receiver.close();
      await trap?.close();
    }
  });
  it('tries the next checked address when the first does not answer (dual-stack hosts), still without a second lookup', async () => {
    const receiver = await startReceiver();
    try {
      const calls: string[] = [];
      // Nothing listens on 127.0.0.3: the connection falls through to 127.0.0.1.
      const lookup = fakeLookup({ 'dual.example.test': ['127.0.0.3', '127.0.0.1'] }, calls);
      const result = await postWebhook(
        `http://dual.example.test:${receiver.port}/`,
        '{}',
        {},
        { allowedHttpHosts: [`dual.example.test:${receiver.port}`], lookup },
      );
      assert.equal(result.status, 204);
      assert.deepEqual(calls, ['dual.example.test']);
      assert.equal(receiver.requests.length, 1);
    } finally {
      await receiver.close();
    }
  });
});

describe('postWebhook never follows a redirect', () => {
  it('a 3xx to a loopback trap is only a failed status; the trap sees no connection', async () => {
    const trap = await startTrap();
    let status = 302;
    const receiver = await startReceiver((_req, res) =>
      res.writeHead(status, { location: `${trap.url}/internal` }).end('moved'),
    );
    try {
      for (status of [301, 302, 303, 307, 308]) {
        const result = await postWebhook(
          receiver.url,
          '{}',
          {},
          { allowedHttpHosts: [receiver.hostPort, trap.hostPort] },
        );
        assert.equal(result.status, status);
        assert.equal(result.error, undefined);
      }
      assert.equal(receiver.requests.length, 5);
      assert.equal(trap.connections, 0);
    } finally {
      await receiver.close();
      await trap.close();
    }
  });
});

describe('refused URLs never reach the network', () => {
  let trap: LocalServer;
  let trap6: LocalServer | undefined;
  before(async () => {
    trap = await startTrap();
    trap6 = await startTrap('::1').catch(() => undefined); // where IPv6 loopback exists
  });
  after(async () => {
    await trap.close();
    await trap6?.close();
  });

  /** Refused at creation and at delivery, with a reason naming `url`; no connection to any trap. */
  async function assertRefused(
    url: string,
    reason: RegExp,
    opts: { allowedHttpHosts?: string[]; lookup?: LookupFn } = {},
  ) {
    const o = { allowedHttpHosts: opts.allowedHttpHosts ?? [], lookup: opts.lookup ?? fakeLookup({}) };
    const check = await checkWebhookUrl(url, o);
    assert.equal(check.ok, false, `${url} is refused at creation`);
    if (!check.ok) {
      assert.match(check.reason, /^url /);
      assert.match(check.reason, reason);
    }
    const sent = await postWebhook(url, '{}', { 'webhook-id': 'msg' }, o);
    assert.equal(sent.status, undefined, `${url} is refused at delivery`);
    assert.match(sent.error ?? '', /^refused: url /);
    assert.match(sent.error ?? '', reason);
    assert.equal(trap.connections, 0, `the trap saw no connection for ${url}`);
    assert.equal(trap6?.connections ?? 0, 0);
  }

  it('plain http that is not allow-listed (even to a public name)', async () => {
    await assertRefused(`http://127.0.0.1:${trap.port}/`, /must use https/);
    await assertRefused(`http://hooks.example.com/`, /must use https/, {
      lookup: fakeLookup({ 'hooks.example.com': ['93.184.216.34'] }),
    });
    // Allow-listing is per host:port: another port of the same host is not listed.
    await assertRefused(`http://127.0.0.1:${trap.port}/`, /must use https/, {
      allowedHttpHosts: [`127.0.0.1:${trap.port + 1}`],
    });
  });

  it('other schemes', async () => {
    for (const url of [
      `ftp://127.0.0.1:${trap.port}/`,
      'file:///etc/passwd',
      `ws://127.0.0.1:${trap.port}/`,
      'gopher://127.0.0.1/',
    ]) {
      await assertRefused(url, /must use https/);
    }
    await assertRefused('not a url', /absolute https URL/);
  });

  it('localhost (resolved by the system resolver from the hosts file)', async () => {
    const check = await checkWebhookUrl(`https://localhost:${trap.port}/`, { allowedHttpHosts: [] });
    assert.equal(check.ok, false);
    const sent = await postWebhook(`https://localhost:${trap.port}/`, '{}', {}, { allowedHttpHosts: [] });
    assert.match(
      sent.error ?? '',
      /^refused: url must point to a public address; its host is a loopback address$/,
    );
    assert.equal(trap.connections, 0);
  });

  it('loopback, unspecified and link-local literals, in every spelling', async () => {
    const loopbacks = [
      '127.0.0.1',
      '[::1]',
      '2130706433',
      '0177.0.0.1',
      '0x7f.0.0.1',
      '0x7f000001',
      '127.1',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[64:ff9b::7f00:1]',
      '127.0.0.1.',
    ];
    for (const host of loopbacks)
      await assertRefused(`https://${host}:${trap.port}/`, /its host is a loopback address/);
    await assertRefused(`https://0.0.0.0:${trap.port}/`, /an unspecified address/);
    await assertRefused(`https://0:${trap.port}/`, /an unspecified address/);
    await assertRefused(`https://[::]:${trap.port}/`, /an unspecified address/);
    await assertRefused('https://169.254.169.254/latest/meta-data/', /a link-local address/);
    await assertRefused('https://[fd00::1]/', /a unique-local address/);
    await assertRefused('https://10.0.0.1/', /a private address/);
  });

  it('a name that resolves to 127.0.0.1, or to a public and a loopback address', async () => {
    await assertRefused(`https://inward.example.com:${trap.port}/`, /a loopback address/, {
      lookup: fakeLookup({ 'inward.example.com': ['127.0.0.1'] }),
    });
    await assertRefused(`https://mixed.example.com:${trap.port}/`, /a loopback address/, {
      lookup: fakeLookup({ 'mixed.example.com': ['93.184.216.34', '127.0.0.1'] }),
    });
    await assertRefused(`https://mapped.example.com:${trap.port}/`, /a loopback address/, {
      lookup: fakeLookup({ 'mapped.example.com': ['::ffff:127.0.0.1'] }),
    });
    await assertRefused(`https://meta.example.com/`, /a link-local address/, {
      lookup: fakeLookup({ 'meta.example.com': ['169.254.169.254'] }),
    });
  });

  it('a name that does not resolve', async () => {
    await assertRefused('https://nowhere.example.com/', /does not resolve/);
    await assertRefused('https://empty.example.com/', /does not resolve/, {
      lookup: fakeLookup({ 'empty.example.com': [] }),
    });
  });

  it('userinfo, even towards an allow-listed receiver', async () => {
    const allowedHttpHosts = [trap.hostPort];
    for (const url of [
      `http://user:pass@${trap.hostPort}/`,
      `http://user@${trap.hostPort}/`,
      `http://:pass@${trap.hostPort}/`,
      `http://@${trap.hostPort}/`,
      `https://user:pass@hooks.example.com/`,
    ]) {
      await assertRefused(url, /must not contain a user name or password/, {
        allowedHttpHosts,
        lookup: fakeLookup({ 'hooks.example.com': ['93.184.216.34'] }),
      });
    }
  });
});

describe('checkWebhookUrl accepts', () => {
  it('https to a name that resolves to public addresses only (no traffic: injected lookup)', async () => {
    const calls: string[] = [];
    const check = await checkWebhookUrl('https://hooks.example.com/neo', {
      allowedHttpHosts: [],
      lookup: fakeLookup({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] }, calls),
    });
    assert.equal(check.ok, true);
    if (check.ok) assert.equal(check.url.href, 'https://hooks.example.com/neo');
    assert.deepEqual(calls, ['hooks.example.com']);
  });

  it('an allow-listed host:port over http, without resolving it', async () => {
    const calls: string[] = [];
    const check = await checkWebhookUrl('http://receiver.local:8080/in', {
      allowedHttpHosts: ['receiver.local:8080'],
      lookup: fakeLookup({}, calls),
    });
    assert.equal(check.ok, true);
    assert.deepEqual(calls, []);
  });

  it('normalizes allow-list entries, and rejects entries without a port', () => {
    assert.equal(normalizeAllowedHttpHost(' 127.0.0.1:8080 '), '127.0.0.1:8080');
    assert.equal(normalizeAllowedHttpHost('Receiver.Local:80'), 'receiver.local:80');
    assert.equal(normalizeAllowedHttpHost('[::1]:9000'), '[::1]:9000');
    for (const bad of [
      '127.0.0.1',
      'http://127.0.0.1:80',
      'a@b:80',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      '',
      'host:80/path',
    ]) {
      assert.equal(normalizeAllowedHttpHost(bad), undefined, bad);
    }
  });

  it('sanitizeExcerpt keeps printable ASCII only', () => {
    assert.equal(sanitizeExcerpt(Buffer.from('  a\nb\x00c\u2028d  ')), 'a b?c d');
  });
});

describe('docs/security.md lists only ranges the classifier refuses', () => {
  it('every CIDR range in "Webhook URLs" is refused (its first address and one inside it)', () => {
    const doc = readFileSync(new URL('../docs/security.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## Webhook URLs');
    const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
    // Every range named in the section, but global unicast (`2000::/3`), the one allowed.
    const ranges = [...section.matchAll(/`([0-9a-f:.]+)\/(\d+)`/g)]
      .map((m) => [m[1]!, Number(m[2])] as const)
      .filter(([net]) => net !== '2000::');
    assert.ok(ranges.length >= 20, `found ${ranges.length} ranges`);
    for (const [net] of ranges) {
      const v4 = !net.includes(':');
      const first = v4 ? [...net.split('.'), '0', '0', '0'].slice(0, 4).join('.') : net;
      // One address inside: the last byte (IPv4) or the last group (IPv6) set to 1.
      const inside = v4 ? first.replace(/\.\d+$/, '.1') : `${net.replace(/::$/, '')}::1`.replace(':::', '::');
      for (const a of [first, inside])
        assert.equal(classifyAddress(a).allowed, false, `${a} (from ${net}) is refused`);
    }
  });
});
