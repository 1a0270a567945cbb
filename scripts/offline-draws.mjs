#!/usr/bin/env node
/**
 * Offline experiments on a profile's trace, without the lab (development aid, not part of smig; needs `npm run build`):
 *
 *   node scripts/offline-draws.mjs PROFILE.json [HOLDOUT.pcap FILTER]
 *
 * 1. Short sessions, per bin (docs/ARCHITECTURE.md "No link ends before its lower bound"): the resampler's draws
 *    (200 seeds, a hop with data waiting) carry the bytes of a session of 10, 20 and 30 s at the trace's mean rate;
 *    per session, KS on bytes per 500 ms bin against the trace's own bins at alpha 0.01. Three rows: the draw ends
 *    with its data (data-limited), the draw held to the lower bound (as the leader now holds END), and the trace's
 *    own stretches of that length (every start).
 * 2. Repeats (docs/ARCHITECTURE.md "A session longer than its trace"), with a hold-out capture and its filter (a
 *    `smig bench` directory's normal-holdout.pcap and the bench's --filter): smig's observer on draws of one and
 *    three trace lengths against the hold-out's windows (10 seeds), beside the trace itself and the trace replayed
 *    three times verbatim.
 *
 * Printed on 2026-12-06 for the netflix capture's learned half and hold-out (a `smig bench --hosts lab` directory;
 * 40 s): data-limited 21.0 / 11.0 / 17.5 %, held 8.0 / 7.5 / 0 %, the trace's stretches 10.7 / 4.8 / 0 %; AUC of
 * draws of one trace length 0.655, of three 0.882, the trace 0.646, the trace three times verbatim 0.898.
 */
import { readFileSync } from 'node:fs';

const [profileFile, holdout, filter] = process.argv.slice(2);
if (profileFile === undefined) {
  process.stderr.write('usage: node scripts/offline-draws.mjs PROFILE.json [HOLDOUT.pcap FILTER]\n');
  process.exit(2);
}
const dist = new URL('../dist/', import.meta.url);
const { BurstResampler, traceRate } = await import(new URL('pacing/resample.js', dist));
const { createRng } = await import(new URL('util/rng.js', dist));
const { ksTwoSample } = await import(new URL('analysis/ks.js', dist));
const { WindowBuilder } = await import(new URL('analysis/windows.js', dist));
const { adversarySettings, classWindows, classify } = await import(new URL('analysis/adversary.js', dist));

const profile = JSON.parse(readFileSync(profileFile, 'utf8'));
const trace = profile.shape?.trace;
if (trace === undefined) {
  process.stderr.write(`${profileFile}: not a version 2 profile (no shape.trace)\n`);
  process.exit(2);
}
const burstGapUs = profile.shape.burstGapUs;
const BIN_US = 500_000;
const rate = traceRate(trace); // wire bytes/s
let traceUs = 0;
const tTimes = [];
for (const g of trace.gapsUs) tTimes.push((traceUs += g));
const sum = (a) => a.reduce((x, y) => x + y, 0);

/** Bytes per 500 ms bin of packets at `times` (µs from 0) over `spanUs`. */
function bins(times, sizes, spanUs) {
  const out = new Array(Math.max(1, Math.floor(spanUs / BIN_US))).fill(0);
  times.forEach((t, i) => {
    const k = Math.floor(t / BIN_US);
    if (k < out.length) out[k] += sizes[i];
  });
  return out;
}
const traceBins = bins(tTimes, trace.sizes, traceUs);

/** A draw of the resampler (seed) until it has `bytes` and, if `minUs`, lasted that long. */
function draw(seed, bytes, minUs = 0, runBursts) {
  const r = new BurstResampler(trace, burstGapUs, createRng(seed), runBursts);
  r.steer(() => 'backlog');
  const times = [];
  const sizes = [];
  let t = 0;
  let b = 0;
  while (b < bytes || t < minUs) {
    const q = r.next();
    t += q.gapUs;
    b += q.size;
    times.push(t);
    sizes.push(q.size);
  }
  return { times, sizes, spanUs: t };
}

process.stdout.write(
  `trace: ${trace.sizes.length} packets, ${(traceUs / 1e6).toFixed(1)} s, ${(rate / 1000).toFixed(2)} kB/s\n\n`,
);
process.stdout.write('Short sessions: share failing per bin (KS on bytes per 500 ms bin, alpha 0.01)\n');
process.stdout.write("session   data-limited   held to the bound   the trace's stretches\n");
for (const seconds of [10, 20, 30]) {
  const bytes = rate * seconds;
  let limited = 0;
  let held = 0;
  const N = 200;
  for (let seed = 1; seed <= N; seed++) {
    const a = draw(seed, bytes);
    if (ksTwoSample(bins(a.times, a.sizes, a.spanUs), traceBins).pvalue < 0.01) limited++;
    const h = draw(seed, bytes, seconds * 1e6);
    if (ksTwoSample(bins(h.times, h.sizes, h.spanUs), traceBins).pvalue < 0.01) held++;
  }
  const n = seconds * 2;
  let own = 0;
  for (let s = 0; s < traceBins.length; s++) {
    const w = Array.from({ length: n }, (_, k) => traceBins[(s + k) % traceBins.length]);
    if (ksTwoSample(w, traceBins).pvalue < 0.01) own++;
  }
  const pct = (k, of) => `${((100 * k) / of).toFixed(1)} %`.padStart(8);
  process.stdout.write(
    `${String(seconds).padStart(4)} s   ${pct(limited, N)}       ${pct(held, N)}            ${pct(own, traceBins.length)}\n`,
  );
}

if (holdout !== undefined) {
  const o = adversarySettings({});
  const ref = (await classWindows({ name: 'hold-out', file: holdout, filter }, {})).windows.map((w) =>
    Array.from(w.features),
  );
  const windowsOf = (times, sizes) => {
    const b = new WindowBuilder({});
    times.forEach((t, i) => b.add(BigInt(Math.round(t * 1000)), sizes[i]));
    return b.windows.filter((w) => w.features[0] !== 0).map((w) => Array.from(w.features));
  };
  const auc = (times, sizes) => classify('hold-out', 'draw', ref, windowsOf(times, sizes), o).auc;
  const mean = (a) => (sum(a) / a.length).toFixed(3);
  process.stdout.write(`\nRepeats: smig's observer against the hold-out (${ref.length} windows)\n`);
  for (const passes of [1, 3]) {
    const aucs = [];
    for (let seed = 1; seed <= 10; seed++) {
      const d = draw(seed, 0, passes * traceUs);
      aucs.push(auc(d.times, d.sizes));
    }
    process.stdout.write(`draws of ${passes} trace length${passes > 1 ? 's' : ''}: mean AUC ${mean(aucs)}\n`);
  }
  for (const k of [1, 3]) {
    const times = [];
    const sizes = [];
    for (let c = 0; c < k; c++)
      tTimes.forEach((t, i) => {
        times.push(c * traceUs + t);
        sizes.push(trace.sizes[i]);
      });
    process.stdout.write(`the trace${k > 1 ? `, ${k} times verbatim` : ''}: AUC ${auc(times, sizes).toFixed(3)}\n`);
  }
}
