/**
 * A subset of the tcpdump / pcap-filter(7) expression language, compiled to a predicate over a
 * {@link Decoded} packet.
 *
 * Supported, with pcap-filter(7) semantics:
 * - `host A`, `net A/len`, `net A mask M`, `net A` (a partial dotted quad: `net 10` is 10.0.0.0/8,
 *   `net 192.168.1` is /24), `port N`, `portrange A-B`, `proto N` — each with an optional direction
 *   (`src`, `dst`, `src or dst`, `src and dst`) and protocol (`ip`, `ip6`, `arp`, `rarp` for addresses;
 *   `tcp`, `udp`, `sctp` for ports; `ip`, `ip6` for proto); a bare direction means `host`.
 * - protocols `ip` (IPv4 only), `ip6`, `arp`, `rarp`, `tcp`, `udp`, `sctp`, `icmp` (IPv4), `icmp6`;
 *   `vlan [ID]`; `less N` / `greater N` (wire length ≤ N / ≥ N, from {@link Decoded.wireLength}).
 * - `not` / `!` binds tightest; `and` / `&&` and `or` / `||` have equal precedence and associate left to
 *   right; parentheses. An address, port or number without qualifiers repeats the last qualifiers:
 *   `host 10.0.0.1 or 10.0.0.2`, `tcp port 80 or 443`, `host 10.0.0.1 and not 10.0.0.2`.
 * - numbers in C syntax (`80`, `0x50`, `0120`) and common service names (`http`, `https`, `ssh`, `domain`/`dns`, ...).
 *
 * Matching tcpdump: `host`/`net` with an IPv4 address also match ARP and RARP sender/target addresses;
 * `port` means a TCP, UDP or SCTP port over IPv4 or IPv6; IPv4 fragments after the first have no ports
 * (but still match `tcp`); `ip` is IPv4 only.
 *
 * Differences from tcpdump, on purpose (each pinned by a test against tcpdump in test/unit/filter.test.ts):
 * - VLAN tags are always seen through: `tcp` matches TCP inside 802.1Q tags (tcpdump needs `vlan and tcp`);
 *   `vlan ID` tests the next tag of the stack in the order `vlan` primitives appear in the expression.
 * - IPv6 extension headers are walked to the transport header (tcpdump only looks at the fixed header's
 *   next header, or one fragment header).
 * - Host names are not resolved; a service name means its port for TCP, UDP and SCTP alike.
 *
 * Anything else (`ether`, `gateway`, `tcp[13] & 2 != 0`, ...) is refused with SMIG_ERR_FILTER naming the
 * token and its column.
 */

import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { Decoded } from './decode.js';
import { parseAddress } from './decode.js';

/** A compiled filter: true when the packet matches. Allocation-free. */
export type PacketPredicate = (d: Decoded) => boolean;

const SUPPORTED =
  'host, net, mask, port, portrange, proto, src, dst, ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, vlan, less, greater, and, or, not, ( )';

/** Service names accepted where a port number is (IANA service-names registry; ports per /etc/services). */
const SERVICE_PORTS: ReadonlyMap<string, number> = new Map(
  Object.entries({
    'ftp-data': 20,
    ftp: 21,
    ssh: 22,
    telnet: 23,
    smtp: 25,
    domain: 53,
    dns: 53,
    bootps: 67,
    bootpc: 68,
    tftp: 69,
    http: 80,
    www: 80,
    kerberos: 88,
    pop3: 110,
    sunrpc: 111,
    ntp: 123,
    'netbios-ns': 137,
    'netbios-dgm': 138,
    'netbios-ssn': 139,
    imap: 143,
    snmp: 161,
    'snmp-trap': 162,
    bgp: 179,
    ldap: 389,
    https: 443,
    'microsoft-ds': 445,
    isakmp: 500,
    syslog: 514,
    submission: 587,
    ldaps: 636,
    imaps: 993,
    pop3s: 995,
    openvpn: 1194,
    mysql: 3306,
    'ms-wbt-server': 3389,
    'ipsec-nat-t': 4500,
    postgresql: 5432,
    'http-alt': 8080,
  }),
);

/** IP protocol names accepted after `proto` (IANA protocol numbers). */
const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map(
  Object.entries({
    icmp: 1,
    igmp: 2,
    tcp: 6,
    udp: 17,
    gre: 47,
    esp: 50,
    ah: 51,
    icmp6: 58,
    sctp: 132,
  }),
);

/** pcap-filter(7) keywords this subset does not implement: named in the error instead of "not an address". */
const UNSUPPORTED = new Set([
  'ether',
  'fddi',
  'tr',
  'wlan',
  'link',
  'gateway',
  'broadcast',
  'multicast',
  'len',
  'inbound',
  'outbound',
  'ifname',
  'on',
  'rnr',
  'rulenum',
  'reason',
  'rset',
  'ruleset',
  'srnr',
  'subrulenum',
  'action',
  'type',
  'subtype',
  'dir',
  'ra',
  'ta',
  'addr1',
  'addr2',
  'addr3',
  'addr4',
  'mpls',
  'pppoed',
  'pppoes',
  'geneve',
  'llc',
  'protochain',
  'igmp',
  'igrp',
  'pim',
  'vrrp',
  'carp',
  'ah',
  'esp',
  'atalk',
  'aarp',
  'decnet',
  'iso',
  'esis',
  'isis',
  'clnp',
  'stp',
  'ipx',
  'netbeui',
  'lat',
  'moprc',
  'mopdl',
  'sca',
  'radio',
  'l1',
  'l2',
  'iih',
  'lsp',
  'snp',
  'csnp',
  'psnp',
  'vpi',
  'vci',
  'lane',
  'oamf4',
  'oamf4ec',
  'oamf4sc',
  'metac',
  'bcc',
  'sc',
  'ilmic',
  'connectmsg',
  'metaconnect',
  'fisu',
  'lssu',
  'msu',
  'sio',
  'opc',
  'dpc',
  'sls',
  'hfisu',
  'hlssu',
  'hmsu',
  'hsio',
  'hopc',
  'hdpc',
  'hsls',
  'slip',
  'arcnet',
]);

type Proto = 'ip' | 'ip6' | 'arp' | 'rarp' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6';
type Dir = 'any' | 'src' | 'dst' | 'both';
type Kind = 'host' | 'net' | 'port' | 'portrange' | 'proto';

/** The qualifiers of a primitive (pcap-filter(7): proto, dir, type), with the tokens for messages. */
interface Qual {
  proto: Proto | undefined;
  protoTok: Token | undefined;
  dir: Dir;
  kind: Kind;
}

const PROTOS: ReadonlySet<string> = new Set<Proto>(['ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'sctp', 'icmp', 'icmp6']);
const KINDS: ReadonlySet<string> = new Set<Kind>(['host', 'net', 'port', 'portrange', 'proto']);
const KEYWORDS: ReadonlySet<string> = new Set([
  ...PROTOS,
  ...KINDS,
  'src',
  'dst',
  'and',
  'or',
  'not',
  'mask',
  'vlan',
  'less',
  'greater',
]);

interface Token {
  /** 'word', or the operator itself: ( ) ! && || / ; 'bad' for a character outside the language; 'end'. */
  type: 'word' | '(' | ')' | '!' | '&&' | '||' | '/' | 'bad' | 'end';
  text: string;
  /** 1-based column of the first character. */
  col: number;
}

const WORD_CHAR = /[A-Za-z0-9_.:\\-]/;

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    const col = i + 1;
    if (/\s/.test(c)) {
      i++;
    } else if (WORD_CHAR.test(c)) {
      let j = i + 1;
      while (j < expr.length && WORD_CHAR.test(expr[j]!)) j++;
      tokens.push({ type: 'word', text: expr.slice(i, j), col });
      i = j;
    } else if ((c === '&' || c === '|') && expr[i + 1] === c) {
      tokens.push({ type: c === '&' ? '&&' : '||', text: c + c, col });
      i += 2;
    } else if (c === '(' || c === ')' || c === '!' || c === '/') {
      tokens.push({ type: c, text: c, col });
      i++;
    } else {
      tokens.push({ type: 'bad', text: c, col });
      i++;
    }
  }
  tokens.push({ type: 'end', text: '', col: expr.length + 1 });
  return tokens;
}

function fail(message: string): SmigError {
  return smigError('SMIG_ERR_FILTER', `filter: ${message}`);
}

function unsupported(t: Token): SmigError {
  return fail(`'${t.text}' at column ${t.col} is not supported (supported: ${SUPPORTED})`);
}

const MATCH_ALL: PacketPredicate = () => true;

/**
 * Compile a tcpdump-style filter expression (see the module comment for the supported subset).
 * An empty or all-blank expression matches every packet.
 *
 * @throws SmigError SMIG_ERR_FILTER with a one-line message naming the offending token and its column.
 * @example
 * const match = compileFilter('tcp port 443 and not host 10.0.0.1');
 * if (match(decodePacket(p.linktype, p.data, d, p.origLen))) n++;
 */
export function compileFilter(expr: string): PacketPredicate {
  if (expr.trim() === '') return MATCH_ALL;
  return new Parser(tokenize(expr)).parseProgram();
}

/** Recursive descent over pcap-filter(7)'s grammar (libpcap grammar.y, the subset above). */
class Parser {
  private pos = 0;
  /** Qualifiers a bare id inherits (libpcap passes `$<blk>0.q` along and/or/not/parens); undefined after a protocol-only primitive. */
  private last: Qual | undefined;
  /** How many `vlan` primitives came before, lexically: each one tests the next tag (pcap-filter(7) "vlan"). */
  private vlanDepth = 0;

  private readonly tokens: Token[];

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  parseProgram(): PacketPredicate {
    const p = this.expr();
    const t = this.peek();
    if (t.type !== 'end') {
      if (t.type === 'bad' || (t.type === 'word' && UNSUPPORTED.has(t.text))) throw unsupported(t);
      throw fail(`unexpected '${t.text}' at column ${t.col} (expected 'and', 'or' or the end of the filter)`);
    }
    return p;
  }

  private peek(k = 0): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.type !== 'end') this.pos++;
    return t;
  }

  private isWord(t: Token, ...words: string[]): boolean {
    return t.type === 'word' && words.includes(t.text);
  }

  private isAnd(t: Token): boolean {
    return t.type === '&&' || this.isWord(t, 'and');
  }

  private isOr(t: Token): boolean {
    return t.type === '||' || this.isWord(t, 'or');
  }

  private isNot(t: Token): boolean {
    return t.type === '!' || this.isWord(t, 'not');
  }

  /** expr := term (('and' | 'or') term)*  — equal precedence, left-associative (pcap-filter(7)). */
  private expr(): PacketPredicate {
    let left = this.term();
    for (;;) {
      const op = this.peek();
      if (this.isAnd(op)) {
        this.next();
        const l = left;
        const r = this.term();
        left = (d) => l(d) && r(d);
      } else if (this.isOr(op)) {
        this.next();
        const l = left;
        const r = this.term();
        left = (d) => l(d) || r(d);
      } else {
        return left;
      }
    }
  }

  /** term := ('not' | '!') term | primary  — negation binds tightest. */
  private term(): PacketPredicate {
    if (this.isNot(this.peek())) {
      this.next();
      const p = this.term();
      return (d) => !p(d);
    }
    return this.primary();
  }

  private primary(): PacketPredicate {
    const t = this.peek();
    switch (t.type) {
      case '(': {
        this.next();
        const p = this.expr();
        const close = this.peek();
        if (close.type !== ')') {
          if (close.type === 'bad' || (close.type === 'word' && UNSUPPORTED.has(close.text))) throw unsupported(close);
          throw fail(`expected ')' to close the '(' at column ${t.col}, found ${describe(close)}`);
        }
        this.next();
        return p;
      }
      case 'word':
        break;
      case 'bad':
        throw unsupported(t);
      default:
        throw fail(`expected a primitive (host, net, port, tcp, ...) at column ${t.col}, found ${describe(t)}`);
    }
    const w = t.text;
    if (PROTOS.has(w)) {
      this.next();
      const after = this.peek();
      if (this.isWord(after, 'src', 'dst') || (after.type === 'word' && KINDS.has(after.text))) {
        return this.qualified(w as Proto, t);
      }
      this.last = undefined;
      return protocolPredicate(w as Proto);
    }
    if (w === 'src' || w === 'dst' || KINDS.has(w)) return this.qualified(undefined, undefined);
    if (w === 'less' || w === 'greater') {
      this.next();
      const n = this.next();
      const v = n.type === 'word' ? parseNumber(n.text) : undefined;
      if (v === undefined) throw fail(`expected a length after '${w}' at column ${n.col}, found ${describe(n)}`);
      this.last = undefined;
      return w === 'less' ? (d) => d.wireLength <= v : (d) => d.wireLength >= v;
    }
    if (w === 'vlan') return this.vlan();
    if (UNSUPPORTED.has(w)) throw unsupported(t);
    if (KEYWORDS.has(w))
      throw fail(`expected a primitive (host, net, port, tcp, ...) at column ${t.col}, found '${w}'`);
    // A bare id repeats the last qualifiers (pcap-filter(7): "tcp dst port ftp or ftp-data or domain")
    if (this.last) {
      this.next();
      return this.id(this.last, t);
    }
    if (/^[0-9]/.test(w) || w.includes(':') || w.includes('.')) {
      throw fail(`'${w}' at column ${t.col} needs a qualifier before it (host, net, port, portrange)`);
    }
    throw unsupported(t);
  }

  /** `vlan [ID]`: IEEE 802.1Q VLAN id 0–4095. */
  private vlan(): PacketPredicate {
    this.next();
    const depth = this.vlanDepth++;
    this.last = undefined;
    const t = this.peek();
    if (t.type !== 'word' || !/^[0-9]/.test(t.text)) return (d) => d.vlanIds.length > depth;
    this.next();
    const id = parseNumber(t.text);
    if (id === undefined || id > 4095)
      throw fail(`VLAN id '${t.text}' at column ${t.col} is not a number from 0 to 4095`);
    return (d) => d.vlanIds.length > depth && d.vlanIds[depth] === id;
  }

  /** [proto] [dir] [kind] id — at least one of dir and kind present (libpcap `head id`). */
  private qualified(proto: Proto | undefined, protoTok: Token | undefined): PacketPredicate {
    let dir: Dir = 'any';
    let kindTok = protoTok;
    let t = this.peek();
    if (this.isWord(t, 'src', 'dst')) {
      kindTok = t;
      this.next();
      dir = t.text as Dir;
      const other = t.text === 'src' ? 'dst' : 'src';
      const op = this.peek();
      if ((this.isAnd(op) || this.isOr(op)) && this.isWord(this.peek(1), other)) {
        this.next();
        this.next();
        dir = this.isAnd(op) ? 'both' : 'any';
      }
    }
    let kind: Kind = 'host';
    t = this.peek();
    if (t.type === 'word' && KINDS.has(t.text)) {
      this.next();
      kind = t.text as Kind;
      kindTok = t;
      if (kind === 'proto' && dir !== 'any') throw fail(`'proto' at column ${t.col} takes no direction`);
    }
    const q: Qual = { proto, protoTok, dir, kind };
    this.last = q;
    // libpcap `head id` where id may also be `not id` or a parenthesised list: `host (a or b)`
    const n = this.peek();
    if (this.isNot(n) || n.type === '(') return this.term();
    const isId =
      n.type === 'word' &&
      ((!KEYWORDS.has(n.text) && !UNSUPPORTED.has(n.text)) || (kind === 'proto' && PROTOCOL_NUMBERS.has(n.text)));
    if (!isId) throw fail(`expected ${WHAT[kind]} after '${kindTok!.text}' at column ${n.col}, found ${describe(n)}`);
    this.next();
    return this.id(q, n);
  }

  /** The id of a primitive under its qualifiers. */
  private id(q: Qual, t: Token): PacketPredicate {
    switch (q.kind) {
      case 'host':
      case 'net':
        return this.address(q, t);
      case 'port':
      case 'portrange': {
        if (q.proto !== undefined && q.proto !== 'tcp' && q.proto !== 'udp' && q.proto !== 'sctp') {
          throw fail(`'${q.proto}' at column ${q.protoTok!.col} cannot qualify '${q.kind}' (only tcp, udp, sctp can)`);
        }
        let lo: number;
        let hi: number;
        if (q.kind === 'port') {
          lo = hi = portValue(t.text, t);
        } else {
          [lo, hi] = portRange(t);
        }
        return portPredicate(q.proto, q.dir, lo, hi);
      }
      case 'proto': {
        if (q.proto !== undefined && q.proto !== 'ip' && q.proto !== 'ip6') {
          throw fail(`'${q.proto}' at column ${q.protoTok!.col} cannot qualify 'proto' (only ip, ip6 can)`);
        }
        const name = t.text.startsWith('\\') ? t.text.slice(1) : t.text;
        const v = PROTOCOL_NUMBERS.get(name) ?? parseNumber(name);
        if (v === undefined || v > 255)
          throw fail(`'${t.text}' at column ${t.col} is not an IP protocol number or name`);
        if (q.proto === 'ip') return (d) => d.network === 'ipv4' && d.protocol === v;
        if (q.proto === 'ip6') return (d) => d.network === 'ipv6' && d.protocol === v;
        return (d) => (d.network === 'ipv4' || d.network === 'ipv6') && d.protocol === v;
      }
    }
  }

  /** host / net: an IPv4 (possibly partial) or IPv6 address, for net with `/len` or `mask M`. */
  private address(q: Qual, t: Token): PacketPredicate {
    if (q.proto !== undefined && q.proto !== 'ip' && q.proto !== 'ip6' && q.proto !== 'arp' && q.proto !== 'rarp') {
      throw fail(`'${q.proto}' at column ${q.protoTok!.col} cannot qualify '${q.kind}' (only ip, ip6, arp, rarp can)`);
    }
    const v6 = t.text.includes(':');
    let value: Uint8Array;
    let bits: number;
    if (v6) {
      const a = parseAddress(t.text);
      if (!a || a.length !== 16) throw fail(`'${t.text}' at column ${t.col} is not an IPv6 address`);
      value = a;
      bits = 128;
    } else {
      const a = parseIPv4Prefix(t.text, q.kind === 'net');
      if (!a) throw fail(`'${t.text}' at column ${t.col} is not an IP address (host names are not resolved)`);
      value = a.value;
      bits = a.bits;
    }
    let maskBytes: Uint8Array | undefined;
    const n = this.peek();
    if (n.type === '/' || this.isWord(n, 'mask')) {
      if (q.kind !== 'net') throw fail(`'${n.text}' at column ${n.col}: a mask is for networks only (use 'net')`);
      this.next();
      const m = this.next();
      if (n.type === '/') {
        const len = m.type === 'word' ? parseNumber(m.text) : undefined;
        if (len === undefined)
          throw fail(`expected a prefix length after '/' at column ${m.col}, found ${describe(m)}`);
        if (len > value.length * 8)
          throw fail(`prefix length ${len} at column ${m.col} is longer than ${value.length * 8}`);
        bits = len;
      } else {
        const mask = m.type === 'word' ? parseAddress(m.text) : undefined;
        if (v6 || !mask || mask.length !== 4)
          throw fail(`expected an IPv4 netmask after 'mask' at column ${m.col}, found ${describe(m)}`);
        maskBytes = mask;
      }
    }
    maskBytes ??= prefixMask(bits, value.length);
    for (let i = 0; i < value.length; i++) {
      if ((value[i]! & ~maskBytes[i]!) !== 0) throw fail(`non-network bits set in '${t.text}' at column ${t.col}`);
    }
    if (v6 ? q.proto !== undefined && q.proto !== 'ip6' : q.proto === 'ip6') {
      throw fail(
        `'${q.proto}' at column ${q.protoTok!.col} does not apply to the ${v6 ? 'IPv6' : 'IPv4'} address '${t.text}'`,
      );
    }
    return addressPredicate(q.proto, q.dir, value, maskBytes);
  }
}

const WHAT: Record<Kind, string> = {
  host: 'an address',
  net: 'a network',
  port: 'a port',
  portrange: 'a port range',
  proto: 'a protocol',
};

function describe(t: Token): string {
  return t.type === 'end' ? 'the end of the filter' : `'${t.text}'`;
}

/** C-style unsigned integer as libpcap's lexer reads it: decimal, 0x hex, leading-0 octal. */
function parseNumber(text: string): number | undefined {
  let v: number;
  if (/^[1-9][0-9]*$/.test(text) || text === '0') v = Number(text);
  else if (/^0[xX][0-9a-fA-F]+$/.test(text)) v = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) v = parseInt(text.slice(1), 8);
  else return undefined;
  return v <= 0xffffffff ? v : undefined;
}

function portValue(text: string, t: Token): number {
  const v = SERVICE_PORTS.get(text) ?? parseNumber(text);
  if (v === undefined) throw fail(`unknown port '${text}' at column ${t.col}`);
  if (v > 65535) throw fail(`port ${text} at column ${t.col} is out of range (0-65535)`);
  return v;
}

/** `A-B` with numbers or names (names may contain '-': every split is tried); A > B is swapped like libpcap. */
function portRange(t: Token): [number, number] {
  const text = t.text;
  const ports = (s: string): number | undefined => SERVICE_PORTS.get(s) ?? parseNumber(s);
  if (ports(text) !== undefined) {
    const v = portValue(text, t);
    return [v, v];
  }
  for (let i = text.indexOf('-'); i > 0; i = text.indexOf('-', i + 1)) {
    const a = ports(text.slice(0, i));
    const b = ports(text.slice(i + 1));
    if (a !== undefined && b !== undefined) {
      const lo = portValue(text.slice(0, i), t);
      const hi = portValue(text.slice(i + 1), t);
      return lo <= hi ? [lo, hi] : [hi, lo];
    }
  }
  throw fail(`'${text}' at column ${t.col} is not a port range (expected A-B)`);
}

/**
 * IPv4 address as libpcap's lexer takes it: 1 to 4 dotted decimal parts, the missing low parts zero
 * and the prefix 8 bits per part (`192.168.1` = 192.168.1.0/24). A single number is a 32-bit host
 * value for host, and for net is promoted to its leading octets (`net 10` = 10.0.0.0/8).
 */
function parseIPv4Prefix(text: string, isNet: boolean): { value: Uint8Array; bits: number } | undefined {
  let v: number;
  let bits: number;
  if (!text.includes('.')) {
    const n = parseNumber(text);
    if (n === undefined) return undefined;
    v = n;
    bits = 32;
    if (isNet) {
      for (bits = 32; v !== 0 && v < 0x1000000; bits -= 8) v *= 256;
    }
  } else {
    const parts = text.split('.');
    if (parts.length > 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    v = 0;
    for (const p of parts) v = v * 256 + Number(p);
    bits = parts.length * 8;
    v *= 2 ** (32 - bits);
  }
  const value = new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
  return { value, bits };
}

function prefixMask(bits: number, length: number): Uint8Array {
  const m = new Uint8Array(length);
  for (let i = 0; i < length; i++) m[i] = 0xff & (0xff << Math.max(0, 8 - Math.max(0, bits - 8 * i)));
  return m;
}

function protocolPredicate(p: Proto): PacketPredicate {
  switch (p) {
    case 'ip':
      return (d) => d.network === 'ipv4';
    case 'ip6':
      return (d) => d.network === 'ipv6';
    case 'arp':
      return (d) => d.network === 'arp';
    case 'rarp':
      return (d) => d.ethertype === 0x8035;
    // protocol is only ever set from an IPv4 or IPv6 header
    case 'tcp':
      return (d) => d.protocol === 6;
    case 'udp':
      return (d) => d.protocol === 17;
    case 'sctp':
      return (d) => d.protocol === 132;
    case 'icmp':
      return (d) => d.network === 'ipv4' && d.protocol === 1;
    case 'icmp6':
      return (d) => d.network === 'ipv6' && d.protocol === 58;
  }
}

/** Ports are only set for TCP/UDP/SCTP over IP, and only on a first (or whole) fragment. */
function portPredicate(proto: Proto | undefined, dir: Dir, lo: number, hi: number): PacketPredicate {
  const wanted = proto === 'tcp' ? 6 : proto === 'udp' ? 17 : proto === 'sctp' ? 132 : -1;
  const inRange = (p: number): boolean => p >= lo && p <= hi;
  let ports: PacketPredicate;
  if (lo === hi) {
    if (dir === 'src') ports = (d) => d.srcPort === lo;
    else if (dir === 'dst') ports = (d) => d.dstPort === lo;
    else if (dir === 'both') ports = (d) => d.srcPort === lo && d.dstPort === lo;
    else ports = (d) => d.srcPort === lo || d.dstPort === lo;
  } else {
    if (dir === 'src') ports = (d) => inRange(d.srcPort);
    else if (dir === 'dst') ports = (d) => inRange(d.dstPort);
    else if (dir === 'both') ports = (d) => inRange(d.srcPort) && inRange(d.dstPort);
    else ports = (d) => inRange(d.srcPort) || inRange(d.dstPort);
  }
  if (wanted < 0) return ports; // -1 never equals a port, and lo >= 0
  return (d) => d.protocol === wanted && ports(d);
}

/**
 * host / net. An IPv4 address with no protocol qualifier matches IPv4 headers and ARP/RARP protocol
 * addresses (libpcap gen_host: Q_DEFAULT = ip or arp or rarp); 4-byte addresses are only ever filled
 * for those, 16-byte ones only for IPv6.
 */
function addressPredicate(proto: Proto | undefined, dir: Dir, value: Uint8Array, mask: Uint8Array): PacketPredicate {
  const len = value.length;
  let at: (data: Uint8Array, off: number) => boolean;
  if (len === 4) {
    const v = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
    const m = ((mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!) >>> 0;
    at = (data, off) =>
      (((data[off]! << 24) | (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) & m) >>> 0 === v;
  } else {
    at = (data, off) => {
      for (let i = 0; i < 16; i++) if ((data[off + i]! & mask[i]!) !== value[i]) return false;
      return true;
    };
  }
  let family: PacketPredicate;
  if (proto === 'ip') family = (d) => d.network === 'ipv4' && d.addrLength === 4;
  else if (proto === 'arp') family = (d) => d.network === 'arp' && d.addrLength === 4;
  else if (proto === 'rarp') family = (d) => d.ethertype === 0x8035 && d.addrLength === 4;
  else family = (d) => d.addrLength === len;
  switch (dir) {
    case 'src':
      return (d) => family(d) && at(d.data, d.srcOffset);
    case 'dst':
      return (d) => family(d) && at(d.data, d.dstOffset);
    case 'both':
      return (d) => family(d) && at(d.data, d.srcOffset) && at(d.data, d.dstOffset);
    case 'any':
      return (d) => family(d) && (at(d.data, d.srcOffset) || at(d.data, d.dstOffset));
  }
}
