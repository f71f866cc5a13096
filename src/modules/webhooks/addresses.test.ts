/**
 * The webhook address classifier on every refused range and spelling, without any
 * network traffic (it only parses strings).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalIp, classifyAddress, describeRange } from './addresses.ts';

function refused(address: string, range: string) {
  const v = classifyAddress(address);
  assert.equal(v.allowed, false, `${address} is refused`);
  if (!v.allowed) assert.equal(v.range, range, `${address} is refused as ${range}`);
}

function allowed(address: string) {
  const v = classifyAddress(address);
  assert.equal(v.allowed, true, `${address} is allowed (got ${JSON.stringify(v)})`);
}

describe('classifyAddress: IPv4', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['169.254.0.1', 'linkLocal'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['192.0.0.1', 'reserved'],
    ['192.0.0.192', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.254', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
  ];
  for (const [address, range] of cases) it(`refuses ${address} (${range})`, () => refused(address, range));

  it('allows global unicast, including the neighbours of every refused range', () => {
    for (const a of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.216.34',
      '9.255.255.255',
      '11.0.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.167.255.255',
      '192.169.0.0',
      '169.253.255.255',
      '169.255.0.0',
      '100.63.255.255',
      '100.128.0.0',
      '126.255.255.255',
      '128.0.0.0',
      '198.17.255.255',
      '198.20.0.0',
      '223.255.255.255',
    ]) {
      allowed(a);
    }
  });
});

describe('classifyAddress: IPv4 spellings of 127.0.0.1 (and of others)', () => {
  for (const spelling of [
    '2130706433',
    '0177.0.0.1',
    '0x7f.0.0.1',
    '0x7F.0.0.1',
    '0x7f000001',
    '017700000001',
    '127.1',
    '127.0.1',
    '0x7f.1',
    '127.000.000.001',
  ]) {
    it(`refuses ${spelling} as loopback`, () => refused(spelling, 'loopback'));
  }
  it('refuses the decimal form of 169.254.169.254 and the hex form of 10.0.0.1', () => {
    refused('2852039166', 'linkLocal');
    refused('0xa.0.0.1', 'private');
    refused('012.0.0.1', 'private');
  });
  it('parses the forms canonically (as a URL host would)', () => {
    assert.equal(canonicalIp('2130706433')?.toString(), '127.0.0.1');
    assert.equal(canonicalIp('0177.0.0.1')?.toString(), '127.0.0.1');
    assert.equal(canonicalIp('0x7f.0.0.1')?.toString(), '127.0.0.1');
    assert.equal(canonicalIp('127.1')?.toString(), '127.0.0.1');
    assert.equal(canonicalIp('[::ffff:127.0.0.1]')?.toString(), '::ffff:7f00:1');
    assert.equal(canonicalIp('example.com'), undefined);
    assert.equal(canonicalIp('1.2.3.4.5'), undefined);
    assert.equal(canonicalIp('localhost'), undefined);
  });
});

describe('classifyAddress: IPv6', () => {
  const cases: [string, string][] = [
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456:789a::1', 'uniqueLocal'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'uniqueLocal'],
    ['fe80::1', 'linkLocal'],
    ['febf:ffff::1', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['ff02::1', 'multicast'],
    ['ff0e::1', 'multicast'],
    ['100::1', 'discard'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'teredo'],
    ['64:ff9b:1::a00:1', 'nat64Local'],
    ['4000::1', 'unallocated'],
    ['::2', 'ipv4Compatible'],
    ['fe80::1%eth0', 'scoped'],
  ];
  for (const [address, range] of cases) it(`refuses ${address} (${range})`, () => refused(address, range));

  it('allows global unicast (2000::/3)', () => {
    allowed('2606:4700:4700::1111');
    allowed('2a00:1450:4001:80b::200e');
    allowed('[2001:4860:4860::8888]');
  });
});

describe('classifyAddress: IPv6 forms carrying an IPv4 address are judged by it', () => {
  const refusedForms: [string, string][] = [
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:7F00:0001', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'linkLocal'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['64:ff9b::c0a8:1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'linkLocal'],
    ['2002:0a00:0001::1', 'private'],
    // IPv4-compatible (deprecated): refused whatever it carries.
    ['::127.0.0.1', 'ipv4Compatible'],
    ['::7f00:1', 'ipv4Compatible'],
    ['::8.8.8.8', 'ipv4Compatible'],
  ];
  for (const [address, range] of refusedForms)
    it(`refuses ${address} (${range})`, () => refused(address, range));

  it('allows the same forms carrying a public IPv4 address', () => {
    allowed('::ffff:8.8.8.8');
    allowed('64:ff9b::808:808');
    allowed('2002:808:808::1');
  });
});

describe('classifyAddress: not an address', () => {
  it('refuses DNS names and garbage as invalid (names are resolved first, then classified)', () => {
    for (const s of [
      'localhost',
      'example.com',
      '',
      ' ',
      '1.2.3.4.5',
      '::ffff:1.2.3',
      'http://127.0.0.1/',
      '127.0.0.1:80',
      '[::1]:80',
    ]) {
      refused(s, 'invalid');
    }
  });
  it('describes every range in words', () => {
    assert.equal(describeRange('loopback'), 'a loopback address');
    assert.equal(describeRange('linkLocal'), 'a link-local address');
    assert.equal(describeRange('carrierGradeNat'), 'a carrier-grade NAT (shared) address');
  });
});
