/** Rates and sizes as tc(8) writes them (RATES, SIZES), and smig's own explicit forms; formatRate reads back. */
import { describe, expect, it } from 'vitest';
import { formatRate, parseRate, parseSize } from '../../src/util/units.js';

describe('parseRate: tc(8) RATES', () => {
  it.each([
    // a bare number or bit: bits per second
    ['8000', 1000],
    ['8000bit', 1000],
    ['128kbit', 16_000],
    ['16kbit', 2000],
    ['10mbit', 1_250_000],
    ['1gbit', 125e6],
    ['1tbit', 125e9],
    // bps: BYTES per second (tc's kbps is kilobytes per second, 8× kbit)
    ['1000bps', 1000],
    ['16kbps', 16_000],
    ['6mbps', 6e6],
    ['1gbps', 1e9],
    ['1tbps', 1e12],
    // IEC: replace the SI prefix with ki, mi, gi, ti
    ['8kibit', 1024],
    ['1mibit', 1024 ** 2 / 8],
    ['1kibps', 1024],
    ['2mibps', 2 * 1024 ** 2],
    ['1gibps', 1024 ** 3],
    ['1tibit', 1024 ** 4 / 8],
    // case does not matter (tc compares with strcasecmp)
    ['16KBPS', 16_000],
    ['10Mbit', 1_250_000],
    ['1Gbps', 1e9],
    ['8KiBit', 1024],
    ['1.5mbit', 187_500],
    // smig's explicit forms
    ['16kB/s', 16_000],
    ['6MB/s', 6e6],
    ['500KiB/s', 512_000],
    ['10Mbit/s', 1_250_000],
    ['8kbit/s', 1000],
    ['100B/s', 100],
    [' 16 kB/s ', 16_000],
  ])('%s = %d bytes/s', (text, bytes) => {
    expect(parseRate(text)).toBeCloseTo(bytes, 6);
  });

  it.each(['fast', '16kb', '16k', '16 kb/s', '-1kbit', '0kbit', '1xbit', '5%', 'kbit', '1e', '16kbits'])(
    'refuses %j with one line naming the option',
    (text) => {
      expect(() => parseRate(text, '--rate')).toThrow(
        expect.objectContaining({
          code: expect.stringMatching(/^SMIG_ERR_BAD_RATE$/),
          message: expect.stringMatching(/^--rate: /),
        }),
      );
    },
  );
});

describe('parseSize: bytes with SI/IEC prefixes, and tc(8) SIZES', () => {
  it.each([
    ['1500', 1500],
    ['1500B', 1500],
    ['1500b', 1500],
    ['64kB', 64_000],
    ['64KB', 64_000],
    ['256MB', 256e6],
    ['1GB', 1e9],
    ['64KiB', 65_536],
    ['1GiB', 1024 ** 3],
    ['32MiB', 32 * 1024 ** 2],
    ['64Ki', 65_536],
    // tc: kb or k, mb or m, gb or g are powers of 1024 (tc's get_size); kbit, mbit, gbit are bits
    ['64k', 65_536],
    ['64kb', 65_536],
    ['10Kb', 10_240],
    ['1m', 1024 ** 2],
    ['1mb', 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1gb', 1024 ** 3],
    ['8kbit', 1024],
    ['1mbit', 1024 ** 2 / 8],
    ['1gbit', 1024 ** 3 / 8],
  ])('%s = %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['big', '1.5.5MB', '12parsecs', '-1', '1 K B', '1KIB'])('refuses %j', (text) => {
    expect(() => parseSize(text, '--size')).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_BAD_SIZE', message: expect.stringMatching(/^--size: /) }),
    );
  });
});

describe('formatRate', () => {
  it.each([
    [16_150, '16.15 kB/s'],
    [999, '999 B/s'],
    [1e6, '1 MB/s'],
    [5461.3, '5.461 kB/s'],
    [125e6, '125 MB/s'],
  ])('%d → %s, read back the same', (bytes, text) => {
    expect(formatRate(bytes)).toBe(text);
    expect(parseRate(text)).toBeCloseTo(Number(Number(bytes).toPrecision(4)), 6);
  });
  it('tc form: bits as tc prints them', () => {
    expect(formatRate(16_000, { tc: true })).toBe('128kbit');
    expect(formatRate(1_250_000, { tc: true })).toBe('10mbit');
    expect(parseRate(formatRate(2000, { tc: true }))).toBe(2000);
  });
});
