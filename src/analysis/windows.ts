/**
 * Per-window traffic features for the trained observer (`smig analyze --adversary`): a capture is cut into
 * windows of W seconds every S seconds (W = 5 s, S = 2.5 s by default), each described by a fixed vector of
 * timing, size and dispersion features. Streaming: only the windows that are still open (⌈W ÷ S⌉ of them)
 * hold their packets, each at most `maxPacketsPerWindow`; finished windows keep only their feature vectors.
 */
import { mean, quantileSorted, sampleVariance } from 'simple-statistics';
import { smigError } from '../errors.js';

/** Size histogram edges (bytes on the wire): a bin is [edge i, edge i+1), the last is open. */
export const SIZE_EDGES: readonly number[] = [0, 80, 160, 320, 640, 1000, 1300, 1500];
/** Sub-windows whose packet counts give the Fano factors, ns. */
export const WINDOW_FANO_NS: readonly bigint[] = [10_000_000n, 100_000_000n, 1_000_000_000n];
/** Gap histogram for the entropy: quarter decades from 1 µs to 100 s (gaps outside are clamped). */
const GAP_LOG_MIN = -6;
const GAP_BINS_PER_DECADE = 4;
const GAP_BINS = 8 * GAP_BINS_PER_DECADE;
/** A feature that is undefined in a window (no packet, one gap, an empty mean) reads as this value. */
export const MISSING = -1;

/** Names of the features, in vector order. */
export const WINDOW_FEATURES: readonly string[] = [
  'packets',
  'bytes',
  'size_min',
  'size_p10',
  'size_p25',
  'size_p50',
  'size_p75',
  'size_p90',
  'size_max',
  'size_mean',
  ...SIZE_EDGES.map((e, i) =>
    i + 1 < SIZE_EDGES.length ? `size_share_${e}_${SIZE_EDGES[i + 1]}` : `size_share_${e}_up`,
  ),
  'gap_p10',
  'gap_p25',
  'gap_p50',
  'gap_p75',
  'gap_p90',
  'gap_max',
  'gap_mean',
  'gap_entropy',
  'fano_10ms',
  'fano_100ms',
  'fano_1s',
  'bursts',
  'burst_len_mean',
  'burst_len_max',
  'burst_bytes_mean',
];

/** Options of {@link WindowBuilder}. */
export interface WindowOptions {
  /** Window length, ns (default 5 s). */
  windowNs?: bigint;
  /** Step between window starts, ns, ≤ the window (default 2.5 s). */
  stepNs?: bigint;
  /** Packets closer than this belong to one burst (default 10 ms). */
  burstGapNs?: bigint;
  /** Packets of a window kept for its distributions; beyond, they count only in packets and bytes (default 100 000). */
  maxPacketsPerWindow?: number;
  /** Windows kept; later packets are ignored and {@link WindowBuilder.capped} says so (default 20 000). */
  maxWindows?: number;
}

interface OpenWindow {
  startNs: bigint;
  packets: number;
  bytes: number;
  /** Offsets from the window start, ns (the first `maxPacketsPerWindow` packets). */
  times: number[];
  sizes: number[];
}

/** A finished window: its start (ns after the first packet) and its features. */
export interface Window {
  startNs: bigint;
  features: Float64Array;
}

/**
 * Cuts a packet stream into windows. Windows start at the first packet and every step after it; a window is
 * emitted once a packet at or after its end has been seen (only complete windows count; empty ones too).
 * @example
 * const b = new WindowBuilder({ windowNs: 5_000_000_000n });
 * for (const p of packets) b.add(p.ts, p.origLen);
 * const windows = b.windows; // Window[]
 */
export class WindowBuilder {
  readonly windowNs: bigint;
  readonly stepNs: bigint;
  readonly burstGapNs: bigint;
  readonly maxPacketsPerWindow: number;
  readonly maxWindows: number;
  readonly windows: Window[] = [];
  /** Packets earlier than the one before them: left out. */
  outOfOrder = 0;
  /** True once `maxWindows` windows were kept and later packets ignored. */
  capped = false;
  /** Packets taken. */
  packets = 0;
  #anchor: bigint | undefined;
  #last: bigint | undefined;
  #nextK = 0n;
  readonly #open: OpenWindow[] = [];

  /** @throws SmigError SMIG_ERR_USAGE on a window, step or limit out of range. */
  constructor(opts: WindowOptions = {}) {
    this.windowNs = opts.windowNs ?? 5_000_000_000n;
    this.stepNs = opts.stepNs ?? this.windowNs / 2n;
    this.burstGapNs = opts.burstGapNs ?? 10_000_000n;
    this.maxPacketsPerWindow = opts.maxPacketsPerWindow ?? 100_000;
    this.maxWindows = opts.maxWindows ?? 20_000;
    if (this.windowNs < 1_000_000n)
      throw smigError('SMIG_ERR_USAGE', `adversary window: must be at least 1ms (got ${this.windowNs} ns)`);
    if (this.stepNs < 1_000_000n || this.stepNs > this.windowNs) {
      throw smigError(
        'SMIG_ERR_USAGE',
        `adversary step: must be 1ms … the window (${this.windowNs} ns), got ${this.stepNs} ns`,
      );
    }
    if (this.windowNs / this.stepNs > 100n)
      throw smigError('SMIG_ERR_USAGE', 'adversary step: at most 100 windows may overlap (window ÷ step ≤ 100)');
    for (const [name, v] of [
      ['maxPacketsPerWindow', this.maxPacketsPerWindow],
      ['maxWindows', this.maxWindows],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw smigError('SMIG_ERR_USAGE', `adversary ${name}: expected a whole number ≥ 1, got ${v}`);
    }
  }

  /** Adds one packet: timestamp (ns) and wire length. */
  add(tsNs: bigint, size: number): void {
    if (this.capped) return;
    if (this.#last !== undefined && tsNs < this.#last) {
      this.outOfOrder++;
      return;
    }
    this.#last = tsNs;
    this.#anchor ??= tsNs;
    const rel = tsNs - this.#anchor;
    // finish what ends at or before this packet, opening (and finishing) skipped windows on the way
    for (;;) {
      while (this.#open.length > 0 && this.#open[0]!.startNs + this.windowNs <= rel) this.#emit(this.#open.shift()!);
      if (this.capped) return;
      if (this.#nextK * this.stepNs > rel) break;
      this.#open.push({ startNs: this.#nextK * this.stepNs, packets: 0, bytes: 0, times: [], sizes: [] });
      this.#nextK++;
    }
    this.packets++;
    for (const w of this.#open) {
      w.packets++;
      w.bytes += size;
      if (w.times.length < this.maxPacketsPerWindow) {
        w.times.push(Number(rel - w.startNs));
        w.sizes.push(size);
      }
    }
  }

  #emit(w: OpenWindow): void {
    if (this.windows.length >= this.maxWindows) {
      this.capped = true;
      this.#open.length = 0;
      return;
    }
    this.windows.push({
      startNs: w.startNs,
      features: windowFeatures(w.times, w.sizes, w.packets, w.bytes, this.windowNs, this.burstGapNs),
    });
  }
}

/**
 * The feature vector ({@link WINDOW_FEATURES} order) of one window: `times` are packet offsets from the
 * window start (ns, ascending), `sizes` their wire lengths; `packets`/`bytes` may exceed what the arrays
 * hold (packets beyond the per-window cap).
 */
export function windowFeatures(
  times: readonly number[],
  sizes: readonly number[],
  packets: number,
  bytes: number,
  windowNs: bigint,
  burstGapNs: bigint,
): Float64Array {
  const f: number[] = [packets, bytes];
  const n = sizes.length;
  const sorted = Float64Array.from(sizes).sort();
  if (n === 0) f.push(...Array<number>(8).fill(MISSING));
  else {
    f.push(
      sorted[0]!,
      quantileSorted(sorted as unknown as number[], 0.1),
      quantileSorted(sorted as unknown as number[], 0.25),
      quantileSorted(sorted as unknown as number[], 0.5),
      quantileSorted(sorted as unknown as number[], 0.75),
      quantileSorted(sorted as unknown as number[], 0.9),
      sorted[n - 1]!,
      mean(sizes as number[]),
    );
  }
  const hist = new Array<number>(SIZE_EDGES.length).fill(0);
  for (const s of sizes) {
    let b = SIZE_EDGES.length - 1;
    while (b > 0 && s < SIZE_EDGES[b]!) b--;
    hist[b]!++;
  }
  f.push(...hist.map((c) => (n === 0 ? MISSING : c / n)));
  // gaps between consecutive packets of the window, seconds
  const gaps = new Float64Array(Math.max(0, n - 1));
  for (let i = 1; i < n; i++) gaps[i - 1] = (times[i]! - times[i - 1]!) / 1e9;
  if (gaps.length === 0) f.push(...Array<number>(8).fill(MISSING));
  else {
    const g = Float64Array.from(gaps).sort() as unknown as number[];
    f.push(
      quantileSorted(g, 0.1),
      quantileSorted(g, 0.25),
      quantileSorted(g, 0.5),
      quantileSorted(g, 0.75),
      quantileSorted(g, 0.9),
      g[g.length - 1]!,
      mean(g),
      gapEntropy(gaps),
    );
  }
  for (const sub of WINDOW_FANO_NS) f.push(subWindowFano(times, windowNs, sub));
  // bursts: runs of ≥ 2 packets less than burstGapNs apart
  const gapLimit = Number(burstGapNs);
  let bursts = 0,
    inBurst = 0,
    lenSum = 0,
    lenMax = 0,
    burstBytes = 0,
    runBytes = 0;
  const close = (): void => {
    if (inBurst >= 2) {
      bursts++;
      lenSum += inBurst;
      lenMax = Math.max(lenMax, inBurst);
      burstBytes += runBytes;
    }
  };
  for (let i = 0; i < n; i++) {
    if (i > 0 && times[i]! - times[i - 1]! < gapLimit) {
      inBurst++;
      runBytes += sizes[i]!;
    } else {
      close();
      inBurst = 1;
      runBytes = sizes[i]!;
    }
  }
  close();
  f.push(bursts, bursts === 0 ? 0 : lenSum / bursts, lenMax, bursts === 0 ? 0 : burstBytes / bursts);
  return Float64Array.from(f);
}

/** Shannon entropy (bits) of the gaps' histogram on quarter decades from 1 µs to 100 s. */
export function gapEntropy(gapsSeconds: ArrayLike<number>): number {
  const n = gapsSeconds.length;
  if (n === 0) return MISSING;
  const counts = new Array<number>(GAP_BINS).fill(0);
  for (let i = 0; i < n; i++) {
    const g = gapsSeconds[i]!;
    const pos = g > 0 ? Math.floor((Math.log10(g) - GAP_LOG_MIN) * GAP_BINS_PER_DECADE) : 0;
    counts[Math.min(GAP_BINS - 1, Math.max(0, pos))]!++;
  }
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log2(c / n);
  return h === 0 ? 0 : h; // no -0
}

/** Fano factor (sample variance ÷ mean) of packet counts in the window's sub-windows; MISSING when undefined. */
export function subWindowFano(times: readonly number[], windowNs: bigint, subNs: bigint): number {
  const k = Number(windowNs / subNs);
  if (k < 2) return MISSING;
  const counts = new Array<number>(k).fill(0);
  const sub = Number(subNs);
  for (const t of times) {
    const i = Math.floor(t / sub);
    if (i < k) counts[i]!++;
  }
  const m = mean(counts);
  if (m === 0) return MISSING;
  return sampleVariance(counts) / m;
}
