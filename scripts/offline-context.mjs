#!/usr/bin/env node
/**
 * Offline experiment on new windows (development aid, not part of smig; needs `npm run build`): does a draw whose
 * windows are not near-copies of the learned half's come closer to the hold-out?
 *
 *   node scripts/offline-context.mjs BENCH-DIR FILTER        (env SECS: draw length, default 130; RUNS: run lengths)
 *
 * BENCH-DIR is a `smig bench` directory (its profile.json, normal-learn.pcap and normal-holdout.pcap), FILTER the
 * bench's --filter. Two resamplers of the profile's trace, each with mean runs of RUNS seconds (0.5, 1, 2, 5, 20)
 * and 6 seeds, are scored by smig's observer against the hold-out and against the learned half: the present one
 * (src/pacing/resample.ts, no steering), and one whose jumps land only on bursts whose last 5 s of trace held about
 * as many packets as the draw's own last 5 s (levels of powers of two: the same phase of the traffic).
 *
 * Printed on 2026-12-07 for WhatsApp, split seed 1 (a lab bench at 52605bd; the learned half 0.56 against the
 * hold-out), runs of 1 and 20 s: at 130 s, context 0.87 against the hold-out and 0.51 against the learned half,
 * present 0.85 and 0.66 (20 s: context 0.81 and 0.15, present 0.81 and 0.16); at 60 s, context 0.82 and present 0.76
 * with runs of 1 s, 0.74 and 0.67 with runs of 20 s. New windows are further from the hold-out than near-copies of
 * the learned half's. About a minute.
 */
import { adversarySettings, classify, createRng, loadBench, windowsOf } from './offline-bench.mjs';

const { BurstResampler } = await import(new URL('../dist/pacing/resample.js', import.meta.url));
const b = await loadBench('node scripts/offline-context.mjs BENCH-DIR FILTER');
const o = adversarySettings({});
const secs = Number(process.env.SECS ?? 130);
const CONTEXT_US = 5e6;
const { sizes, gapsUs } = b.trace;
const n = sizes.length;
const starts = [];
for (let i = 0; i < n; i++) if (i === 0 || gapsUs[i] >= b.burstGapUs) starts.push(i);
const bursts = starts.length;
starts.push(n);
const t = new Float64Array(n);
for (let i = 1; i < n; i++) t[i] = t[i - 1] + gapsUs[i];
const level = (count) => (count <= 0 ? 0 : 1 + Math.floor(Math.log2(count)));
/** Per level: the bursts whose last CONTEXT_US of trace held that level of packets. */
const byLevel = new Map();
for (let k = 0, j = 0; k < bursts; k++) {
  const s = starts[k];
  while (t[s] - t[j] > CONTEXT_US) j++;
  const l = level(s - j);
  if (!byLevel.has(l)) byLevel.set(l, []);
  byLevel.get(l).push(k);
}
const all = Array.from({ length: bursts }, (_, k) => k);

/** A draw of `secs` whose runs last `runS` of trace on average and whose jumps keep the draw's level. */
function contextDraw(seed, runS) {
  const rng = createRng(seed);
  const jump = 1 / Math.max(1, (bursts * runS) / (t[n - 1] / 1e6));
  const uses = new Uint32Array(bursts);
  let k = Math.floor(rng() * bursts);
  let pos = starts[k];
  const gaps = [];
  const out = [];
  const times = [];
  let now = 0;
  while (now < secs * 1e6) {
    if (pos >= starts[k + 1]) {
      if (rng() >= jump) k = (k + 1) % bursts;
      else {
        let c = 0;
        for (let i = times.length - 1; i >= 0 && now - times[i] <= CONTEXT_US; i--) c++;
        const cand = byLevel.get(level(c)) ?? all;
        let min = Number.POSITIVE_INFINITY;
        for (const x of cand) min = Math.min(min, uses[x]);
        const least = cand.filter((x) => uses[x] === min);
        k = least[Math.floor(rng() * least.length)];
      }
      uses[k]++;
      pos = starts[k];
    }
    const g = times.length === 0 ? 0 : pos === 0 ? gapsUs[starts[1 + Math.floor(rng() * (bursts - 1))]] : gapsUs[pos];
    now += g;
    times.push(now);
    gaps.push(g);
    out.push(sizes[pos]);
    pos++;
  }
  return { gaps, sizes: out };
}

/** The present resampler, unsteered, with runs of `runS` of trace on average. */
function presentDraw(seed, runS) {
  const r = new BurstResampler(b.trace, b.burstGapUs, createRng(seed), Math.max(1, (bursts * runS) / (t[n - 1] / 1e6)));
  const gaps = [];
  const out = [];
  let now = 0;
  while (now < secs * 1e6) {
    const q = r.next();
    now += q.gapUs;
    gaps.push(q.gapUs);
    out.push(q.size);
  }
  return { gaps, sizes: out };
}

const m = (a) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(2);
const lines = [
  `trace ${(t[n - 1] / 1e6).toFixed(1)} s, ${bursts} bursts, draws of ${secs} s; the learned half against the hold-out ${classify('hold-out', 'learned', b.hold, b.learned, o).auc.toFixed(2)}`,
];
for (const runS of (process.env.RUNS ?? '0.5,1,2,5,20').split(',').map(Number))
  for (const [name, draw] of [
    ['context', contextDraw],
    ['present', presentDraw],
  ]) {
    const hold = [];
    const learned = [];
    for (let seed = 1; seed <= 6; seed++) {
      const w = windowsOf(draw(seed, runS));
      hold.push(classify('hold-out', 'draw', b.hold, w, o).auc);
      learned.push(classify('learned', 'draw', b.learned, w, o).auc);
    }
    lines.push(`${name} runs of ${runS} s: against the hold-out ${m(hold)}, against the learned half ${m(learned)}`);
  }
process.stdout.write(`${lines.join('\n')}\n`);
