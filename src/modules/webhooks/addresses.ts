/**
 * Which IP addresses a webhook delivery may connect to. The rule is an allow-list of
 * kinds, not a deny-list of ranges: an address is allowed only when it is global
 * unicast; everything else (loopback, private, link-local, unique-local, multicast,
 * unspecified, broadcast, carrier-grade NAT, documentation and benchmarking ranges,
 * 240/4, unassigned IPv6 outside 2000::/3, Teredo, …) is refused with the name of
 * its range. IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
 * SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the
 * IPv4 address they carry; deprecated IPv4-compatible `::a.b.c.d` is refused outright.
 *
 * Parsing goes through the WHATWG host parser (the one `new URL` uses), so every
 * spelling a URL or getaddrinfo could turn into an address (`2130706433`, `0177.0.0.1`,
 * `0x7f.0.0.1`, `127.1`, `::ffff:7f00:1`) is first reduced to its canonical form, and
 * then classified by `ipaddr.js` (the range tables Fastify's proxy-addr relies on).
 *
 * Decision: carrier-grade NAT (100.64.0.0/10) is refused. It is shared address space
 * inside a provider's network (cloud metadata services and VPN overlays such as
 * Tailscale live there), never a public receiver.
 */
import ipaddr from 'ipaddr.js';

export type AddressVerdict =
  { allowed: true; address: string } | { allowed: false; address?: string; range: string };

/** Human names for the refused ranges, for error messages and the delivery log. */
const RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT (shared) address',
  private: 'a private address',
  reserved: 'a reserved address',
  as112: 'a reserved (AS112) address',
  amt: 'a reserved (AMT) address',
  uniqueLocal: 'a unique-local address',
  deprecatedSiteLocal: 'a site-local address',
  discard: 'a discard-only address',
  ipv4Compatible: 'an IPv4-compatible address',
  nat64Local: 'a local-use NAT64 address',
  teredo: 'a Teredo tunnel address',
  benchmarking: 'a benchmarking address',
  as112v6: 'a reserved (AS112) address',
  deprecatedOrchid: 'a reserved (ORCHID) address',
  orchid2: 'a reserved (ORCHID) address',
  droneRemoteIdProtocolEntityTags: 'a reserved (DRIP) address',
  segmentRouting: 'a segment-routing address',
  unallocated: 'an unallocated address',
  scoped: 'a scoped (zone) address',
  invalid: 'not an IP address',
};

/** A readable phrase for a range name from {@link classifyAddress} ("a loopback address"). */
export function describeRange(range: string): string {
  return RANGE_NAMES[range] ?? `a ${range} address`;
}

/**
 * Parses an IP literal in any spelling the WHATWG URL host parser accepts (IPv4 in
 * decimal, octal, hex and short forms; IPv6 with or without brackets) into its
 * canonical form, or undefined when `host` is not an IP literal (a DNS name).
 */
export function canonicalIp(host: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let h = host.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes(':')) {
    if (h.includes('%') || h.includes('[') || h.includes(']') || h.includes('/')) return undefined;
    let canonical: string;
    try {
      canonical = new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
    return ipaddr.IPv6.isValid(canonical) ? ipaddr.IPv6.parse(canonical) : undefined;
  }
  if (h === '' || /[/?#@\\\s]/.test(h)) return undefined;
  let hostname: string;
  try {
    hostname = new URL(`http://${h}/`).hostname;
  } catch {
    return undefined;
  }
  // Only a dotted-quad result is an address: anything else was a DNS name.
  return ipaddr.IPv4.isValidFourPartDecimal(hostname) ? ipaddr.IPv4.parse(hostname) : undefined;
}

/**
 * Whether a webhook may connect to `address` (an IP literal, any spelling; a zone
 * suffix such as `%eth0` is refused as `scoped`). A DNS name is refused as `invalid`:
 * names are resolved first, and each resolved address is classified.
 */
export function classifyAddress(address: string): AddressVerdict {
  if (address.includes('%')) return { allowed: false, range: 'scoped' };
  const ip = canonicalIp(address);
  if (!ip) return { allowed: false, range: 'invalid' };
  const range = ip.kind() === 'ipv4' ? ipv4Range(ip as ipaddr.IPv4) : ipv6Range(ip as ipaddr.IPv6);
  return range === undefined
    ? { allowed: true, address: ip.toString() }
    : { allowed: false, address: ip.toString(), range };
}

/** undefined when allowed, else the refused range's name. */
function ipv4Range(ip: ipaddr.IPv4): string | undefined {
  const range = ip.range();
  return range === 'unicast' ? undefined : range;
}

function ipv6Range(ip: ipaddr.IPv6): string | undefined {
  const p = ip.parts;
  const embedded = () => ipaddr.IPv4.parse(`${p[6]! >> 8}.${p[6]! & 0xff}.${p[7]! >> 8}.${p[7]! & 0xff}`);
  const range = ip.range();
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return ipv4Range(embedded());
    case 'rfc6052': {
      // 64:ff9b::/96 carries an IPv4 address; 64:ff9b:1::/48 is local-use NAT64.
      const wellKnown =
        p[0] === 0x64 && p[1] === 0xff9b && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0;
      return wellKnown ? ipv4Range(embedded()) : 'nat64Local';
    }
    case '6to4': // 2002:AABB:CCDD::/48 routes to a.b.c.d
      return ipv4Range(ipaddr.IPv4.parse(`${p[1]! >> 8}.${p[1]! & 0xff}.${p[2]! >> 8}.${p[2]! & 0xff}`));
    case 'unicast':
      // ::/96 (other than :: and ::1, named above) is deprecated IPv4-compatible;
      // global unicast is 2000::/3 only, the rest is unallocated.
      if (p.slice(0, 6).every((x) => x === 0)) return 'ipv4Compatible';
      return (p[0]! & 0xe000) === 0x2000 ? undefined : 'unallocated';
    default:
      return range;
  }
}
