import { describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import { formatHostPort, isHostPort, parseHostList, parseHostPort } from '../../src/net/address.js';
import { hasControlChar, replaceControlChars } from '../../src/util/text.js';

function badAddress(fn: () => unknown): SmigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SmigError);
    expect((err as SmigError).code).toBe('SMIG_ERR_BAD_ADDRESS');
    expect((err as SmigError).message).not.toContain('\n');
    return err as SmigError;
  }
  throw new Error('expected SMIG_ERR_BAD_ADDRESS');
}

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:7000', '127.0.0.1', 7000],
    ['[::1]:7000', '::1', 7000],
    ['[fe80::1%eth0]:22', 'fe80::1%eth0', 22],
    ['[2001:db8::a:b]:65535', '2001:db8::a:b', 65535],
    ['host:0', 'host', 0],
    ['relay-1.lab:7000', 'relay-1.lab', 7000],
    ['localhost.:80', 'localhost.', 80],
    ['  10.0.0.2:443 ', '10.0.0.2', 443],
    ['0.0.0.0:00080', '0.0.0.0', 80],
  ])('%s', (text, host, port) => {
    expect(parseHostPort(text, '--listen')).toEqual({ host, port });
  });

  it.each([
    ['127.0.0.1', 'port missing'],
    ['[::1]', 'port missing'],
    ['[::1:7000', "no ']'"],
    ['::1:7000', 'IPv6 address must be in brackets'],
    [':7000', 'host missing'],
    ['[10.0.0.1]:7000', "'10.0.0.1' is not an IPv6 address"],
    ['10.0.0.256:7000', "'10.0.0.256' is not a valid host"],
    ['bad_host:7000', "'bad_host' is not a valid host"],
    ['-x.lab:7000', "'-x.lab' is not a valid host"],
    ['host:65536', "port '65536' is not a number from 0 to 65535"],
    ['host:-1', "port '-1'"],
    ['host:', "port ''"],
    ['host:7e3', "port '7e3'"],
    ['host:123456', "port '123456'"],
    ['', 'port missing'],
  ])('rejects %j', (text, why) => {
    const err = badAddress(() => parseHostPort(text, '--dest'));
    expect(err.message).toContain(why);
    expect(err.message.startsWith(`--dest: '${text}' is not HOST:PORT (`)).toBe(true);
  });

  it('names the flag and gives examples', () => {
    expect(badAddress(() => parseHostPort('x', '--leader')).message).toBe(
      "--leader: 'x' is not HOST:PORT (port missing; examples: 127.0.0.1:7000, [::1]:7000, relay-1.lab:7000)",
    );
  });
});

describe('formatHostPort', () => {
  it('brackets IPv6 only', () => {
    expect(formatHostPort({ host: '::1', port: 7000 })).toBe('[::1]:7000');
    expect(formatHostPort({ host: '127.0.0.1', port: 0 })).toBe('127.0.0.1:0');
    expect(formatHostPort({ host: 'relay.lab', port: 1 })).toBe('relay.lab:1');
  });

  it('round-trips through parseHostPort', () => {
    for (const text of ['[::1]:7000', '127.0.0.1:1', 'a.b:65535', '[fe80::1%eth0]:9']) {
      expect(formatHostPort(parseHostPort(text, 'x'))).toBe(text);
    }
  });
});

describe('parseHostList', () => {
  it('splits on commas and trims', () => {
    expect(parseHostList('127.0.0.1:7001, [::1]:7002 ,relay:7003', '--data-relays')).toEqual([
      { host: '127.0.0.1', port: 7001 },
      { host: '::1', port: 7002 },
      { host: 'relay', port: 7003 },
    ]);
    expect(parseHostList('a:1', '--key-relays')).toEqual([{ host: 'a', port: 1 }]);
  });

  it('names the entry that is wrong', () => {
    expect(badAddress(() => parseHostList('a:1,b', '--data-relays')).message).toMatch(
      /^--data-relays entry 2: 'b' is not HOST:PORT/,
    );
    expect(badAddress(() => parseHostList('a:1,,b:2', '--data-relays')).message).toBe(
      "--data-relays: entry 2 of 'a:1,,b:2' is empty",
    );
    expect(badAddress(() => parseHostList(' ', '--key-relays')).message).toBe(
      '--key-relays: expected a comma-separated list of HOST:PORT, got nothing',
    );
  });

  it('rejects the same peer twice (host names compare case-insensitively)', () => {
    expect(badAddress(() => parseHostList('Relay:1,relay:1', '--data-relays')).message).toBe(
      "--data-relays: 'relay:1' is listed twice",
    );
    expect(parseHostList('relay:1,relay:2', 'x')).toHaveLength(2);
  });
});

describe('isHostPort (a peer address on the wire: the one check of SESSION, the envelope and agent registration)', () => {
  it('accepts what parseHostPort reads, with a port from 1', () => {
    for (const a of ['127.0.0.1:7000', '[::1]:1', 'relay-1.lab:65535']) expect(isHostPort(a)).toBe(true);
  });

  it('refuses port 0, spaces, unbracketed IPv6, bad hosts and out-of-range ports', () => {
    for (const a of ['127.0.0.1:0', ' 127.0.0.1:7000', '::1:7000', '10.0.0.256:1', 'a_b:1', 'h:65536', 'h:', ''])
      expect(isHostPort(a)).toBe(false);
  });
});

describe('control characters (one definition for the wire, the envelope and file names)', () => {
  it('finds C0, DEL and C1 but not ordinary or non-Latin text', () => {
    for (const s of ['a\nb', 'x\u0000', 'del\u007f', 'c1\u0085', '\u009f']) expect(hasControlChar(s)).toBe(true);
    for (const s of ['plain', 'é ü', '中文', 'tab-free']) expect(hasControlChar(s)).toBe(false);
  });

  it('replaces every control character', () => {
    expect(replaceControlChars('a\r\nb\u0085c')).toBe('a  b c');
    expect(replaceControlChars('a\tb', '_')).toBe('a_b');
  });
});
