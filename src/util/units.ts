/**
 * Parsing and formatting of the units on smig's command line: durations (`1s`, `10ms`, `250us`),
 * rates (`6MB/s`, `10Mbit/s`) and sizes (`256MB`, `1GiB`). Decimal prefixes are powers of 1000, binary
 * ones (Ki, Mi, Gi) powers of 1024, as in iperf and tc.
 */
import { smigError } from '../errors.js';

const NS_PER: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
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
  if (!m) throw smigError('SMIG_ERR_BAD_DURATION', `${what}: '${text}' is not a duration (examples: 1s, 10ms, 250us, 2m)`);
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
  const units: [string, bigint][] = [['h', NS_PER.h!], ['m', NS_PER.m!], ['s', NS_PER.s!], ['ms', NS_PER.ms!], ['us', NS_PER.us!]];
  for (const [name, size] of units) {
    if (ns >= size && ns % size === 0n) return `${ns / size}${name}`;
  }
  for (const [name, size] of units) {
    if (ns >= size) return `${Number(ns) / Number(size)}${name}`;
  }
  return `${ns}ns`;
}

const SIZE_MULT: Record<string, number> = {
  '': 1,
  k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/**
 * Parses a size (`1500`, `64KiB`, `256MB`, `1G`) into bytes.
 * @throws SmigError SMIG_ERR_BAD_SIZE
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|K|M|G|T|Ki|Mi|Gi|Ti)?(B|bytes?)?\s*$/.exec(text);
  if (!m) throw smigError('SMIG_ERR_BAD_SIZE', `${what}: '${text}' is not a size (examples: 1500, 64KiB, 256MB)`);
  const value = Number(m[1]) * SIZE_MULT[m[2] ?? '']!;
  if (!Number.isSafeInteger(Math.round(value))) throw smigError('SMIG_ERR_BAD_SIZE', `${what}: '${text}' is too large`);
  return Math.round(value);
}

/**
 * Parses a rate into bytes per second: `6MB/s`, `750KiB/s`, `10Mbit/s`, `1Gbps`, `500kbps`.
 * @throws SmigError SMIG_ERR_BAD_RATE
 */
export function parseRate(text: string, what = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|K|M|G|T|Ki|Mi|Gi|Ti)?(B\/s|Bps|bit\/s|bps)\s*$/.exec(text);
  if (!m) throw smigError('SMIG_ERR_BAD_RATE', `${what}: '${text}' is not a rate (examples: 6MB/s, 10Mbit/s, 500KiB/s)`);
  const scaled = Number(m[1]) * SIZE_MULT[m[2] ?? '']!;
  const bytes = m[3] === 'B/s' || m[3] === 'Bps' ? scaled : scaled / 8;
  if (!(bytes > 0) || !Number.isFinite(bytes)) throw smigError('SMIG_ERR_BAD_RATE', `${what}: '${text}' must be positive`);
  return bytes;
}

