#!/usr/bin/env node
/**
 * Offline experiment on a session longer than its trace (development aid, not part of smig; needs `npm run build`):
 * do the repeats of the trace stop being told apart when each repeat is warped?
 *
 *   node scripts/offline-repeats.mjs BENCH-DIR FILTER
 *
 * BENCH-DIR is a `smig bench` directory (its profile.json, normal-learn.pcap and normal-holdout.pcap), FILTER the
 * bench's --filter. The resampler's draws (8 seeds, a hop with data waiting) of one and of three trace lengths are
 * scored by smig's observer against the hold-out's windows and against the learned half's, and so are three-length
 * draws warped in ways that keep the trace's distributions: each pass time-scaled by its own factor (lognormal,
 * σ 0.3, mean 1), each gap between bursts scaled by its own factor (σ 0.5, 1.0), every packet between 100 and 1400 B
 * given the size of a random such packet of the trace, and the last two together. Against the learned half, a
 * score under ½ means copies (a window's twin sits in the other class), not fidelity.
 *
 * Printed on 2026-12-07 for the netflix capture, split seed 1 (a lab bench at ad4512f; the learned half itself
 * against the hold-out 0.726), against the hold-out (and the learned half): one length 0.657 (0.223), three lengths
 * 0.884 (0.408), each pass time-scaled 0.869 (0.578), gaps between bursts σ 0.5 0.916 (0.757) and σ 1.0 0.939
 * (0.917), sizes redrawn 0.881 (0.495), sizes redrawn and each pass time-scaled 0.855 (0.626). With split seed 2:
 * one length 0.843, three 0.928, the learned half 0.724. About 4 minutes.
 */
import { adversarySettings, classify, createRng, loadBench, mean, windowsOf } from './offline-bench.mjs';

const { trace, burstGapUs, traceUs, hold, learned, draw } = await loadBench(
  'node scripts/offline-repeats.mjs BENCH-DIR FILTER',
);
const rng = createRng(99);
/** A lognormal factor of mean 1. */
function factor(sigma) {
  const z = Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
  return Math.exp(sigma * z - (sigma * sigma) / 2);
}
const mids = trace.sizes.filter((x) => x > 100 && x < 1400);
const redraw = (d) => ({
  gaps: d.gaps,
  sizes: d.sizes.map((x) => (x > 100 && x < 1400 ? mids[Math.floor(rng() * mids.length)] : x)),
});
const perPass = (d) => {
  let t = 0;
  let f = 1;
  let pass = -1;
  const gaps = d.gaps.map((g) => {
    t += g;
    const p = Math.floor(t / traceUs);
    if (p !== pass) {
      pass = p;
      f = factor(0.3);
    }
    return g * f;
  });
  return { gaps, sizes: d.sizes };
};
const betweenBursts = (sigma) => (d) => ({
  gaps: d.gaps.map((g) => (g >= burstGapUs ? g * factor(sigma) : g)),
  sizes: d.sizes,
});

const o = adversarySettings({});
const variants = [
  ['one trace length', 1, (d) => d],
  ['three trace lengths', 3, (d) => d],
  ['each pass time-scaled (σ 0.3)', 3, perPass],
  ['gaps between bursts scaled (σ 0.5)', 3, betweenBursts(0.5)],
  ['gaps between bursts scaled (σ 1.0)', 3, betweenBursts(1.0)],
  ['sizes 100–1400 B redrawn', 3, redraw],
  ['sizes redrawn, each pass time-scaled', 3, (d) => redraw(perPass(d))],
];
process.stdout.write(
  `trace ${(traceUs / 1e6).toFixed(1)} s; the learned half against the hold-out: ${classify('hold-out', 'learned half', hold, learned, o).auc.toFixed(3)}\n`,
);
for (const [name, passes, warp] of variants) {
  const vsHold = [];
  const vsLearned = [];
  for (let seed = 1; seed <= 8; seed++) {
    const w = windowsOf(warp(draw(seed, passes * traceUs)));
    vsHold.push(classify('hold-out', 'draw', hold, w, o).auc);
    vsLearned.push(classify('learned half', 'draw', learned, w, o).auc);
  }
  process.stdout.write(`${name}: against the hold-out ${mean(vsHold)}, against the learned half ${mean(vsLearned)}\n`);
}
