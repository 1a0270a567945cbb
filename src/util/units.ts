/**
 * Parsing and formatting of the units on smig's command line: durations (`1s`, `10ms`, `250us`),
 * rates (tc's `128kbit`, `16kbps` = 16 kB/s, and `6MB/s`, `10Mbit/s`) and sizes (`256MB`, `1GiB`, tc's `64kb`).
 * Rates follow tc(8) exactly (`bps` is bytes, `bit` bits, a bare number bits per second).
 */
import { smigError } from '../errors.js';

const NS_PER: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  min: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * Parses a duration into integer nanoseconds. A bare number means seconds.
 * @throws SmigError SMIG_ERR_BAD_DURATION
 * @example parseDuration('250us') === 250_000n
 */
export function parseDuration(text: string, what = 'duration'): bigint {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|min|h)?\s*$/.exec(text);
  if (!m)
    throw smigError('SMIG_ERR_BAD_DURATION', `${what}: '${text}' is not a duration (examples: 1s, 10ms, 250us, 2m)`);
  const unit = NS_PER[m[2] ?? 's']!;
  const [intPart, fracPart = ''] = m[1]!.split('.');
  // exact decimal arithmetic: integer part and fraction scaled separately, no float rounding
  const scale = 10n ** BigInt(fracPart.length);
  const total = (BigInt(intPart!) * scale + BigInt(fracPart === '' ? '0' : fracPart)) * unit;
  if (total % scale !== 0n) {
    throw smigError('SMIG_ERR_BAD_DURATION', `${what}: '${text}' is finer than a nanosecond`);
  }
  return total / scale;
}

/** Formats nanoseconds the way the parser reads them back (`1s`, `250us`, `1.5ms`). */
export function formatDuration(ns: bigint): string {
  const units: [string, bigint][] = [
    ['h', NS_PER.h!],
    ['m', NS_PER.m!],
    ['s', NS_PER.s!],
    ['ms', NS_PER.ms!],
    ['us', NS_PER.us!],
  ];
  for (const [name, size] of units) {
    if (ns >= size && ns % size === 0n) return `${ns / size}${name}`;
  }
  for (const [name, size] of units) {
    if (ns >= size) return `${Number(ns) / Number(size)}${name}`;
  }
  return `${ns}ns`;
}

const SI: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const IEC: Record<string, number> = { ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };

/** The scale of a prefix: k, M, G, T (powers of 1000; k or K) or Ki, Mi, Gi, Ti (powers of 1024), any case. */
function prefixScale(prefix: string): number | undefined {
  const p = prefix.toLowerCase();
  return SI[p] ?? IEC[p];
}

/**
 * Parses a size into bytes. Three spellings:
 * - bytes with an SI or IEC prefix, capital B: `1500`, `1500B`, `64kB` (64 000), `256MB`, `64KiB` (65 536), `1GiB`;
 * - tc's size units (tc(8) SIZES, as tc's get_size reads them: powers of 1024, any case): `b`, `k`/`kb`
 *   (1024 bytes), `m`/`mb`, `g`/`gb`, and `kbit`/`mbit`/`gbit` (kibi-, mebi-, gibibits: ÷ 8);
 * - a bare number: bytes.
 * @throws SmigError SMIG_ERR_BAD_SIZE
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const value = m ? sizeUnit(m[2]!) : undefined;
  if (!m || value === undefined)
    throw smigError(
      'SMIG_ERR_BAD_SIZE',
      `${what}: '${text}' is not a size (examples: 1500, 64KiB, 256MB; tc's 64kb = 64KiB)`,
    );
  const bytes = Number(m[1]) * value;
  if (!Number.isSafeInteger(Math.round(bytes))) throw smigError('SMIG_ERR_BAD_SIZE', `${what}: '${text}' is too large`);
  return Math.round(bytes);
}

function sizeUnit(unit: string): number | undefined {
  if (unit === '' || unit === 'B' || unit === 'b' || unit === 'byte' || unit === 'bytes') return 1;
  // tc(8): kb or k, mb or m, gb or g (any case, powers of 1024); kbit, mbit, gbit
  const tc = /^([kmgt])(b|bit)?$/i.exec(unit);
  if (tc && !unit.endsWith('B')) {
    const scale = 1024 ** ('kmgt'.indexOf(tc[1]!.toLowerCase()) + 1);
    return tc[2]?.toLowerCase() === 'bit' ? scale / 8 : scale;
  }
  if (/^[KMGT]i$/.test(unit)) return IEC[unit.toLowerCase()];
  // SI / IEC with a capital B: kB, MB, GB, TB (powers of 1000; KB too), KiB, MiB, GiB, TiB
  const b = /^([kKMGT]i?)B$/.exec(unit);
  if (b) return b[1]!.endsWith('i') ? IEC[b[1]!.toLowerCase()] : SI[b[1]!.toLowerCase()];
  return undefined;
}

/**
 * Parses a rate into bytes per second, exactly as tc(8) RATES reads them (case does not matter):
 * - a bare number or `bit`: bits per second; `kbit`, `mbit`, `gbit`, `tbit`: kilo-, mega-, giga-, terabits
 *   per second (powers of 1000); `kibit`, `mibit`, `gibit`, `tibit`: powers of 1024;
 * - `bps`: BYTES per second; `kbps`, `mbps`, `gbps`, `tbps`: kilo-, mega-, giga-, terabytes per second;
 *   `kibps`, `mibps`, `gibps`, `tibps`: powers of 1024. So `16kbps` = 16 000 bytes/s = `128kbit`.
 * Also the explicit `/s` forms smig prints: `16kB/s`, `6MB/s`, `500KiB/s` (bytes), `10Mbit/s`, `8kbit/s` (bits).
 * @throws SmigError SMIG_ERR_BAD_RATE
 */
export function parseRate(text: string, what = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([A-Za-z/]*)\s*$/.exec(text);
  const perByte = m ? rateUnit(m[2]!) : undefined;
  if (!m || perByte === undefined) {
    throw smigError(
      'SMIG_ERR_BAD_RATE',
      `${what}: '${text}' is not a rate (as tc: 128kbit, 16kbps = 16 kB/s, 10mbit; or 16kB/s, 10Mbit/s)`,
    );
  }
  const bytes = Number(m[1]) * perByte;
  if (!(bytes > 0) || !Number.isFinite(bytes))
    throw smigError('SMIG_ERR_BAD_RATE', `${what}: '${text}' must be positive`);
  return bytes;
}

/** Bytes per second of one unit of a rate, or undefined. */
function rateUnit(unit: string): number | undefined {
  if (unit === '') return 1 / 8; // tc: a bare number is bits per second
  const tc = /^([kmgt]i?)?(bit|bps)$/i.exec(unit);
  if (tc) {
    const scale = prefixScale(tc[1] ?? '')!;
    return tc[2]!.toLowerCase() === 'bit' ? scale / 8 : scale;
  }
  const perSecond = /^([kKMGT]i?)?(B|bit)\/s$/.exec(unit);
  if (perSecond) {
    const scale = prefixScale(perSecond[1] ?? '')!;
    return perSecond[2] === 'bit' ? scale / 8 : scale;
  }
  return undefined;
}

/**
 * A rate for people, in a unit {@link parseRate} reads back with the same meaning: `16.15 kB/s` (decimal
 * bytes per second, 4 significant digits); `tc: true` gives tc's bit form, `129.2kbit`.
 */
export function formatRate(bytesPerSecond: number, opts: { tc?: boolean } = {}): string {
  const tc = opts.tc === true;
  const units = tc ? ['bit', 'kbit', 'mbit', 'gbit', 'tbit'] : ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s'];
  let v = tc ? bytesPerSecond * 8 : bytesPerSecond;
  let i = 0;
  for (; Math.abs(v) >= 1000 && i < units.length - 1; i++) v /= 1000;
  const n = Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
  return tc ? `${n}${units[i]}` : `${n} ${units[i]}`;
}
