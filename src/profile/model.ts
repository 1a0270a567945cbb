/**
 * The normal-traffic profile (docs/DESIGN.md §4 "Profile"): what `smig profile learn` writes and every pacing strategy
 * reads. A profile is plain JSON data, versioned (`{"format":"smig-profile","version":1}`) and validated on load:
 * a profile from another version or a hand-edited broken one is refused with one line naming the field.
 *
 * Units: bytes are wire bytes as the capture records them (original length, link header included); times are
 * seconds as numbers, except exact nanosecond quantities, which are decimal strings (`binNs`, `from`, …).
 *
 * Contents (version 1):
 * - `provenance`: the capture's base name, SHA-256 and size, the filter, the direction the filter implies
 *   ({@link Direction}), the time window (`from`/`to`, ns after the earliest packet passing the filter, which
 *   is also where `smig analyze` anchors its bins) and the absolute start of bin 0.
 * - the per-bin series (`series.packets`, `series.bytes`; bin i = floor((ts − start) / bin), from the window
 *   start to the bin of the window's last packet, as `smig analyze` counts them) and its empirical
 *   distributions (`perBin`);
 * - `chain`: a Markov chain over rate levels (per-bin bytes quantized at quantile `edges`); per level the
 *   empirical (bytes, packets) pairs of its bins, the transition counts and their probabilities. Transitions
 *   are counted around the series as a circle (the last bin is followed by the first, as `replay` loops it):
 *   every level then has a successor, the chain is irreducible, and its stationary distribution is exactly the
 *   level frequencies;
 * - `sizes`: histogram of wire sizes; `iat`: inter-arrival quantiles and a log histogram; `bursts`: packets
 *   per burst, a burst being a maximal run of packets (file order) whose gaps are shorter than `bursts.gapNs`;
 * - `rates`: mean byte and packet rates = totals ÷ `duration`, where duration = bins × bin.
 *
 * Version 2 adds `shape` ({@link PacketShape}): the packets themselves — the learned sequence of wire sizes and
 * gaps that `profile` pacing resamples, and its summaries (sizes, runs of full segments, gaps inside and between
 * bursts after small and large packets, burst lengths, share of small packets). Version 1 profiles still load.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { smigError } from '../errors.js';
import { FieldChecker, PROFILE_TOLERANCE } from './checker.js';

export const PROFILE_FORMAT = 'smig-profile';
export const PROFILE_VERSION = 2;
/** Versions this smig reads: 1 (no packet shapes: `profile` pacing falls back to per-bin bursts) and 2. */
export const PROFILE_VERSIONS: readonly number[] = [1, 2];
/** Most packets of the learned trace a profile keeps (see {@link PacketShape}). */
export const MAX_TRACE_PACKETS = 8000;
/** Longest gap kept in a trace, µs (a minute: longer silences are cut to it). */
export const MAX_TRACE_GAP_US = 60_000_000;
/** Most bins a profile may hold (a day at 1 s is 86 400); learn refuses more. */
export const MAX_PROFILE_BINS = 1_000_000;
/** Most rate levels of the chain. */
export const MAX_LEVELS = 8;
/** Largest profile file read (checked before reading). */
export const MAX_PROFILE_FILE_BYTES: number = 64 * 1024 * 1024;
export { FieldChecker, PROFILE_TOLERANCE } from './checker.js';

/** An empirical distribution: ascending distinct values with positive integer counts. */
export interface Histogram {
  values: number[];
  counts: number[];
}

/**
 * Which direction of traffic the filter keeps: `both` when it has no `src`/`dst` qualifier; `src` (only `src`
 * qualifiers: packets sent by the named endpoints), `dst` (only `dst`: packets they receive), `src+dst` (both
 * kinds, e.g. one flow direction `src host a and dst host b`; read the filter).
 */
export type Direction = 'both' | 'src' | 'dst' | 'src+dst';

export interface Provenance {
  /** Base name of the capture file (`stdin` for -). */
  capture: string;
  /** SHA-256 (hex) of the capture file's bytes as stored (compressed if gzip). */
  sha256: string;
  captureBytes: number;
  filter: string | null;
  direction: Direction;
  /** Window start: nanoseconds after the earliest packet passing the filter (decimal integer). */
  from: string;
  /** Window end (exclusive), likewise, or null for the end of the capture. */
  to: string | null;
  /** Absolute time of the start of bin 0: exact decimal seconds since the epoch. */
  start: string;
  /** Seconds from the first to the last packet of the window. */
  span: number;
}

/** One rate level of the chain. */
export interface Level {
  /** Smallest and largest per-bin byte count among its bins. */
  min: number;
  max: number;
  /** Number of bins in this level. */
  bins: number;
  /** The level's bins as distinct [bytes, packets, count] triples, ascending by bytes then packets. */
  pairs: [number, number, number][];
}

export interface Chain {
  /** K − 1 ascending byte thresholds: a bin with b bytes is in level #{e ∈ edges: e ≤ b}. */
  edges: number[];
  levels: Level[];
  /** K × K transition counts (circular: row i sums to levels[i].bins). */
  transitions: number[][];
  /** Row-normalized transitions. */
  probabilities: number[][];
}

export interface IatStats {
  /** Gaps seen (consecutive packets of the window in file order; negative gaps of unordered files left out). */
  n: number;
  /** Gaps kept in the sample the quantiles and histogram are computed from (all of them up to 1 M). */
  sampled: number;
  /** [q, seconds] pairs, q ascending in [0, 1] (numpy 'linear' quantiles). */
  quantiles: [number, number][];
  /** Log-spaced histogram in seconds: counts[i] gaps in [edges[i], edges[i+1]) (the last bin is closed). */
  histogram: { edges: number[]; counts: number[] };
}

export interface BurstStats {
  /** Gap below which consecutive packets belong to one burst, in nanoseconds (decimal integer). */
  gapNs: string;
  /** Number of bursts. */
  count: number;
  /** Packets per burst. */
  packets: Histogram;
  /** Bytes per burst. */
  bytes: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/** Gap quantiles (seconds) at {@link SHAPE_GAP_QUANTILES}, and how many gaps they summarize. */
export interface GapSummary {
  n: number;
  quantiles: number[];
}

/** Quantiles of the gap summaries of a {@link PacketShape}. */
export const SHAPE_GAP_QUANTILES: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95];

/**
 * Packet-level shape of the profiled direction (version 2). `trace` is the learned packet sequence in capture
 * order (at most {@link MAX_TRACE_PACKETS}: a longer window keeps evenly spaced contiguous pieces of it):
 * `sizes[i]` the wire size of packet i, `gapsUs[i]` the gap before it in µs (0 for the first, at most
 * {@link MAX_TRACE_GAP_US}). The rest summarizes it for reports and checks: `full` is the largest wire size (a
 * full segment), `small` the size at or below which a packet counts as small (the TCP/IP headers plus 60 bytes),
 * `fullRuns` the lengths of runs of consecutive full segments (how large writes were cut), `burstGapUs` the gap
 * that ends a burst, `burstPackets` packets per burst, and `gaps` the gaps inside bursts and between them, each
 * after a small or a large packet (what came before).
 */
export interface PacketShape {
  trace: { sizes: number[]; gapsUs: number[] };
  full: number;
  small: number;
  smallShare: number;
  fullShare: number;
  fullRuns: Histogram;
  burstGapUs: number;
  burstPackets: Histogram;
  gaps: {
    insideAfterSmall: GapSummary;
    insideAfterLarge: GapSummary;
    betweenAfterSmall: GapSummary;
    betweenAfterLarge: GapSummary;
  };
}

/** A learned normal-traffic profile (see the module comment for the meaning of each part). */
export interface Profile {
  format: typeof PROFILE_FORMAT;
  /** 2 (this smig writes) or 1 (older, without `shape`). */
  version: 1 | 2;
  provenance: Provenance;
  /** Bin width in nanoseconds (decimal integer) and in seconds. */
  binNs: string;
  bin: number;
  bins: number;
  /** bins × bin, seconds. */
  duration: number;
  packets: number;
  bytes: number;
  rates: { bytesPerSecond: number; packetsPerSecond: number };
  series: { packets: number[]; bytes: number[] };
  perBin: { packets: Histogram; bytes: Histogram };
  chain: Chain;
  sizes: Histogram;
  iat: IatStats;
  bursts: BurstStats;
  /** Version 2: the packets' shape. */
  shape?: PacketShape;
}

// ---------------------------------------------------------------------------------------------------
// Validation

/**
 * Validates a parsed profile document and returns it typed. `where` names the source in messages.
 * @throws SmigError SMIG_ERR_PROFILE naming the first bad field: wrong format or version, a missing, NaN,
 *   negative or non-integer value, an array of the wrong length, probabilities whose rows do not sum to 1
 *   within 1e-9, totals or rates that disagree with the series, level pairs outside their level's edges, …
 */
export function validateProfile(doc: unknown, where = 'profile'): Profile {
  const c = new FieldChecker(where);
  const p = c.object(doc, '(document)');
  if (p.format !== PROFILE_FORMAT) {
    c.fail('format', `${JSON.stringify(p.format) ?? 'missing'} is not '${PROFILE_FORMAT}' (not a smig profile)`);
  }
  if (!PROFILE_VERSIONS.includes(p.version as number)) {
    c.fail(
      'version',
      `${JSON.stringify(p.version) ?? 'missing'}: this smig reads profile versions ${PROFILE_VERSIONS.join(' and ')} (re-learn it with smig profile learn)`,
    );
  }
  const pv = c.object(p.provenance, 'provenance');
  c.string(pv.capture, 'provenance.capture');
  c.string(pv.sha256, 'provenance.sha256', /^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex');
  c.number(pv.captureBytes, 'provenance.captureBytes', { int: true, min: 0 });
  if (pv.filter !== null) c.string(pv.filter, 'provenance.filter');
  if (!['both', 'src', 'dst', 'src+dst'].includes(pv.direction as string)) {
    c.fail(
      'provenance.direction',
      `${JSON.stringify(pv.direction) ?? 'missing'} is not one of both, src, dst, src+dst`,
    );
  }
  const from = c.decimalNs(pv.from, 'provenance.from');
  if (pv.to !== null) {
    const to = c.decimalNs(pv.to, 'provenance.to');
    if (to <= from) c.fail('provenance.to', `${to} is not after provenance.from (${from})`);
  }
  c.string(pv.start, 'provenance.start', /^-?\d+\.\d{9}$/, 'exact decimal seconds (9 decimals)');
  c.number(pv.span, 'provenance.span', { min: 0 });

  const binNs = c.decimalNs(p.binNs, 'binNs', 1000n);
  const bin = c.number(p.bin, 'bin', { above: 0 });
  c.close(bin, Number(binNs) / 1e9, 'bin', 'binNs ÷ 1e9');
  const bins = c.number(p.bins, 'bins', { int: true, min: 1, max: MAX_PROFILE_BINS });
  const duration = c.number(p.duration, 'duration', { above: 0 });
  c.close(duration, bins * bin, 'duration', 'bins × bin');
  const packets = c.number(p.packets, 'packets', { int: true, min: 1 });
  const bytes = c.number(p.bytes, 'bytes', { int: true, min: 0 });
  const rates = c.object(p.rates, 'rates');
  c.close(
    c.number(rates.bytesPerSecond, 'rates.bytesPerSecond', { min: 0 }),
    bytes / duration,
    'rates.bytesPerSecond',
    'bytes ÷ duration',
  );
  c.close(
    c.number(rates.packetsPerSecond, 'rates.packetsPerSecond', { min: 0 }),
    packets / duration,
    'rates.packetsPerSecond',
    'packets ÷ duration',
  );

  const series = c.object(p.series, 'series');
  const sp = c.numbers(series.packets, 'series.packets', bins, { int: true, min: 0 });
  const sb = c.numbers(series.bytes, 'series.bytes', bins, { int: true, min: 0 });
  if (sum(sp) !== packets) c.fail('series.packets', `sums to ${sum(sp)}, not packets (${packets})`);
  if (sum(sb) !== bytes) c.fail('series.bytes', `sums to ${sum(sb)}, not bytes (${bytes})`);

  const perBin = c.object(p.perBin, 'perBin');
  for (const k of ['packets', 'bytes'] as const) {
    const total = c.histogram(perBin[k], `perBin.${k}`);
    if (total !== bins) c.fail(`perBin.${k}.counts`, `sum to ${total}, not bins (${bins})`);
  }

  validateChain(c, p.chain, 'chain', bins);

  const sizesTotal = c.histogram(p.sizes, 'sizes');
  if (sizesTotal !== packets) c.fail('sizes.counts', `sum to ${sizesTotal}, not packets (${packets})`);

  const iat = c.object(p.iat, 'iat');
  const n = c.number(iat.n, 'iat.n', { int: true, min: 0 });
  const sampled = c.number(iat.sampled, 'iat.sampled', { int: true, min: 0, max: n });
  const qs = c.array(iat.quantiles, 'iat.quantiles');
  for (let i = 0; i < qs.length; i++) {
    const pair = c.numbers(qs[i], `iat.quantiles[${i}]`, 2, { min: 0 });
    if (pair[0]! > 1) c.fail(`iat.quantiles[${i}][0]`, `${pair[0]} is not a probability`);
    if (i > 0 && !(pair[0]! > (qs[i - 1] as number[])[0]! && pair[1]! >= (qs[i - 1] as number[])[1]!)) {
      c.fail(`iat.quantiles[${i}]`, 'quantiles must be ascending');
    }
  }
  const hist = c.object(iat.histogram, 'iat.histogram');
  const edges = c.numbers(hist.edges, 'iat.histogram.edges', undefined, { min: 0 });
  const counts = c.numbers(hist.counts, 'iat.histogram.counts', Math.max(0, edges.length - 1), { int: true, min: 0 });
  for (let i = 1; i < edges.length; i++)
    if (!(edges[i]! > edges[i - 1]!)) c.fail(`iat.histogram.edges[${i}]`, 'edges must be ascending');
  if (sum(counts) !== sampled) c.fail('iat.histogram.counts', `sum to ${sum(counts)}, not iat.sampled (${sampled})`);

  const bursts = c.object(p.bursts, 'bursts');
  c.decimalNs(bursts.gapNs, 'bursts.gapNs', 1n);
  const burstCount = c.number(bursts.count, 'bursts.count', { int: true, min: 1 });
  const bp = bursts.packets as Histogram;
  if (c.histogram(bp, 'bursts.packets', { minValue: 1 }) !== burstCount)
    c.fail('bursts.packets.counts', `do not sum to bursts.count (${burstCount})`);
  let inBursts = 0;
  for (let i = 0; i < bp.values.length; i++) inBursts += bp.values[i]! * bp.counts[i]!;
  if (inBursts !== packets) c.fail('bursts.packets', `cover ${inBursts} packets, not packets (${packets})`);
  const bb = c.object(bursts.bytes, 'bursts.bytes');
  for (const k of ['mean', 'p50', 'p90', 'p99', 'max']) c.number(bb[k], `bursts.bytes.${k}`, { min: 0 });
  if (p.version === 2) validateShape(c, p.shape, 'shape');
  else if (p.shape !== undefined) c.fail('shape', 'a version 1 profile has no shape');
  return p as unknown as Profile;
}

/**
 * Validates a {@link PacketShape} (of a profile, or the trace of a pacing plan when `traceOnly`).
 * @throws SmigError SMIG_ERR_PROFILE naming the first bad field.
 */
export function validateTrace(
  c: FieldChecker,
  v: unknown,
  path: string,
  maxPackets: number = MAX_TRACE_PACKETS,
): { sizes: number[]; gapsUs: number[] } {
  const t = c.object(v, path);
  const sizes = c.numbers(t.sizes, `${path}.sizes`, undefined, { int: true, min: 1, maxLength: maxPackets });
  if (sizes.length === 0) c.fail(`${path}.sizes`, 'is empty');
  for (let i = 0; i < sizes.length; i++)
    if (sizes[i]! > 262144) c.fail(`${path}.sizes[${i}]`, `${sizes[i]} is above 262144`);
  const gaps = c.numbers(t.gapsUs, `${path}.gapsUs`, sizes.length, { int: true, min: 0 });
  for (let i = 0; i < gaps.length; i++)
    if (gaps[i]! > MAX_TRACE_GAP_US) c.fail(`${path}.gapsUs[${i}]`, `${gaps[i]} is above ${MAX_TRACE_GAP_US}`);
  return { sizes, gapsUs: gaps };
}

function validateShape(c: FieldChecker, v: unknown, path: string): void {
  const s = c.object(v, path);
  validateTrace(c, s.trace, `${path}.trace`);
  c.number(s.full, `${path}.full`, { int: true, min: 1 });
  c.number(s.small, `${path}.small`, { int: true, min: 0 });
  c.number(s.smallShare, `${path}.smallShare`, { min: 0, max: 1 });
  c.number(s.fullShare, `${path}.fullShare`, { min: 0, max: 1 });
  c.histogram(s.fullRuns, `${path}.fullRuns`, { minValue: 1 });
  c.number(s.burstGapUs, `${path}.burstGapUs`, { min: 0 });
  c.histogram(s.burstPackets, `${path}.burstPackets`, { minValue: 1 });
  const g = c.object(s.gaps, `${path}.gaps`);
  for (const k of ['insideAfterSmall', 'insideAfterLarge', 'betweenAfterSmall', 'betweenAfterLarge']) {
    const gs = c.object(g[k], `${path}.gaps.${k}`);
    c.number(gs.n, `${path}.gaps.${k}.n`, { int: true, min: 0 });
    c.numbers(gs.quantiles, `${path}.gaps.${k}.quantiles`, undefined, { min: 0, maxLength: 16 });
  }
}

/**
 * Validates a chain (of a profile, or of a pacing plan's compact profile when `probabilities` is absent).
 * With `bins`, the level counts must add up to it.
 */
export function validateChain(
  c: FieldChecker,
  v: unknown,
  path: string,
  bins?: number,
  o: { maxPairs?: number; compact?: boolean } = {},
): void {
  const ch = c.object(v, path);
  const levels = c.array(ch.levels, `${path}.levels`);
  const k = levels.length;
  if (k < 1 || k > MAX_LEVELS) c.fail(`${path}.levels`, `has ${k} levels, expected 1 to ${MAX_LEVELS}`);
  const edges = c.numbers(ch.edges, `${path}.edges`, k - 1, { min: 0 });
  for (let i = 1; i < edges.length; i++)
    if (!(edges[i]! > edges[i - 1]!)) c.fail(`${path}.edges[${i}]`, 'edges must be ascending');
  let total = 0;
  for (let i = 0; i < k; i++) {
    const lp = `${path}.levels[${i}]`;
    const lv = c.object(levels[i], lp);
    const pairs = c.array(lv.pairs, `${lp}.pairs`, undefined, o.maxPairs);
    if (pairs.length === 0) c.fail(`${lp}.pairs`, 'is empty');
    const lo = i === 0 ? -Infinity : edges[i - 1]!;
    const hi = i === k - 1 ? Infinity : edges[i]!;
    let levelBins = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < pairs.length; j++) {
      const [b, , n] = c.numbers(pairs[j], `${lp}.pairs[${j}]`, 3, { int: true, min: 0 }) as [number, number, number];
      if (n < 1) c.fail(`${lp}.pairs[${j}][2]`, 'count must be at least 1');
      if (!(b >= lo && b < hi))
        c.fail(`${lp}.pairs[${j}][0]`, `${b} bytes is outside the level's edges [${lo}, ${hi})`);
      levelBins += n;
      min = Math.min(min, b);
      max = Math.max(max, b);
    }
    if (!o.compact) {
      if (c.number(lv.bins, `${lp}.bins`, { int: true, min: 1 }) !== levelBins)
        c.fail(`${lp}.bins`, `${lv.bins} is not the sum of its pair counts (${levelBins})`);
      if (c.number(lv.min, `${lp}.min`, { min: 0 }) !== min)
        c.fail(`${lp}.min`, `${lv.min} is not the smallest bytes of its pairs (${min})`);
      if (c.number(lv.max, `${lp}.max`, { min: 0 }) !== max)
        c.fail(`${lp}.max`, `${lv.max} is not the largest bytes of its pairs (${max})`);
    }
    total += levelBins;
  }
  if (bins !== undefined && total !== bins) c.fail(`${path}.levels`, `hold ${total} bins, not bins (${bins})`);
  const tr = c.array(ch.transitions, `${path}.transitions`, k);
  for (let i = 0; i < k; i++) {
    const row = c.numbers(tr[i], `${path}.transitions[${i}]`, k, { int: true, min: 0 });
    const rs = sum(row);
    if (rs === 0) c.fail(`${path}.transitions[${i}]`, 'has no transitions (the level would be a dead end)');
    if (!o.compact && rs !== (levels[i] as Level).bins)
      c.fail(`${path}.transitions[${i}]`, `sums to ${rs}, not levels[${i}].bins (${(levels[i] as Level).bins})`);
  }
  if (o.compact) return;
  const pr = c.array(ch.probabilities, `${path}.probabilities`, k);
  for (let i = 0; i < k; i++) {
    const row = c.numbers(pr[i], `${path}.probabilities[${i}]`, k, { min: 0 });
    for (let j = 0; j < k; j++) if (row[j]! > 1) c.fail(`${path}.probabilities[${i}][${j}]`, `${row[j]} is above 1`);
    const s = sum(row);
    if (!(Math.abs(s - 1) <= PROFILE_TOLERANCE))
      c.fail(`${path}.probabilities[${i}]`, `sums to ${s}, not 1 (within ${PROFILE_TOLERANCE})`);
    const counts = tr[i] as number[];
    const rs = sum(counts);
    for (let j = 0; j < k; j++) {
      if (!(Math.abs(row[j]! - counts[j]! / rs) <= PROFILE_TOLERANCE)) {
        c.fail(
          `${path}.probabilities[${i}][${j}]`,
          `${row[j]} is not transitions[${i}][${j}] ÷ its row sum (${counts[j]! / rs})`,
        );
      }
    }
  }
}

/**
 * Parses and validates profile JSON text.
 * @throws SmigError SMIG_ERR_PROFILE (not JSON, or see {@link validateProfile})
 */
export function parseProfile(text: string, where = 'profile'): Profile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw smigError('SMIG_ERR_PROFILE', `${where}: not JSON (${jsonErrorText(e)})`);
  }
  return validateProfile(doc, where);
}

/**
 * Reads and validates a profile file (at most {@link MAX_PROFILE_FILE_BYTES}, checked before reading).
 * @throws SmigError SMIG_ERR_FILE (cannot read), SMIG_ERR_PROFILE (too large, not JSON, invalid)
 */
export async function loadProfile(path: string): Promise<Profile> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.size > MAX_PROFILE_FILE_BYTES) {
      throw smigError(
        'SMIG_ERR_PROFILE',
        `${path}: ${st.size} bytes, larger than a profile can be (${MAX_PROFILE_FILE_BYTES})`,
      );
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'SMIG_ERR_PROFILE') throw e;
    throw smigError('SMIG_ERR_FILE', `${path}: cannot read (${(e as { code?: string }).code ?? 'error'})`, e);
  }
  return parseProfile(text, path);
}

/**
 * The profile as JSON text: two-space indentation, arrays of numbers (and of number tuples) on one line.
 * Deterministic: the same capture and options give byte-identical text.
 */
export function stringifyProfile(p: Profile): string {
  return compactJson(p) + '\n';
}

/** Writes a profile file (`-` is not handled here). @throws SmigError SMIG_ERR_FILE */
export async function saveProfile(path: string, p: Profile): Promise<void> {
  await writeFile(path, stringifyProfile(p)).catch((e: NodeJS.ErrnoException) => {
    throw smigError('SMIG_ERR_FILE', `${path}: cannot write (${e.code ?? e.message})`, e);
  });
}

/** JSON with indentation, but arrays holding only numbers or arrays of numbers on a single line. */
export function compactJson(v: unknown, indent = ''): string {
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number' || (Array.isArray(x) && x.every((y) => typeof y === 'number')))) {
      return JSON.stringify(v);
    }
    if (v.length === 0) return '[]';
    const inner = indent + '  ';
    return `[\n${v.map((x) => inner + compactJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${compactJson(x, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}

/** The level a bin with `bytes` belongs to: the number of edges ≤ bytes. */
export function levelOf(edges: readonly number[], bytes: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= bytes) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * JSON.parse's complaint, fit for a one-line message: its quoted excerpt of the input may hold anything (a
 * binary file), so characters outside printable ASCII become '?' and the text is cut to 100 characters.
 */
export function jsonErrorText(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}

/** The profile without its packet shape, as version 1 (the `profile` strategy then paces by bins). */
export function withoutShape(p: Profile): Profile {
  const { shape: _shape, ...rest } = p;
  return { ...rest, version: 1 };
}

/** Bin width of a profile in seconds. */
export function profileBinSeconds(p: Pick<Profile, 'binNs'>): number {
  return Number(BigInt(p.binNs)) / 1e9;
}

function sum(a: readonly number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
