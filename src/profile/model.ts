/**
 * Profile files: validation of a parsed profile document (see ./schema.ts for what each part means), parsing,
 * loading and saving, and small helpers over profiles. The document's types and limits live in ./schema.ts
 * and are re-exported here, so importers need only this module.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { smigError } from '../errors.js';
import { FieldChecker, PROFILE_TOLERANCE } from './checker.js';
import {
  type Histogram,
  type Level,
  MAX_LEVELS,
  MAX_PROFILE_BINS,
  MAX_PROFILE_FILE_BYTES,
  MAX_TRACE_GAP_US,
  MAX_TRACE_PACKETS,
  PROFILE_FORMAT,
  PROFILE_VERSIONS,
  type Profile,
} from './schema.js';

export { FieldChecker, PROFILE_TOLERANCE } from './checker.js';
export * from './schema.js';

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
  if (s.reverse !== undefined) c.histogram(s.reverse, `${path}.reverse`, { minValue: 1 });
  if (s.reverseData !== undefined) c.histogram(s.reverseData, `${path}.reverseData`, { minValue: 1 });
  if (s.nonTcpShare !== undefined) c.number(s.nonTcpShare, `${path}.nonTcpShare`, { min: 0, max: 1 });
  if (s.tcpTimestamps !== undefined && typeof s.tcpTimestamps !== 'boolean')
    c.fail(`${path}.tcpTimestamps`, `expected true, false or absent, got ${JSON.stringify(s.tcpTimestamps)}`);
  if (s.ipVersion !== undefined && s.ipVersion !== 6)
    c.fail(`${path}.ipVersion`, `expected 6 or absent, got ${JSON.stringify(s.ipVersion)}`);
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

function sum(a: readonly number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
