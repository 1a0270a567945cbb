#!/usr/bin/env node
/**
 * Offline experiment on the observer's sample sizes (development aid, not part of smig; needs `npm run build`): does
 * a draw of several trace lengths score higher against the hold-out because of its traffic, or because it brings
 * more windows (and repeats) to the comparison than the hold-out has?
 *
 *   node scripts/offline-balance.mjs BENCH-DIR FILTER
 *
 * BENCH-DIR is a `smig bench` directory (its profile.json, normal-learn.pcap and normal-holdout.pcap), FILTER the
 * bench's --filter. The resampler's draws (6 seeds, a hop with data waiting) of one, two and three trace lengths are
 * scored by smig's observer against the hold-out with all their windows, and again drawn down at random to the
 * hold-out's number of windows (3 draws each); the learned half likewise.
 *
 * Printed on 2026-12-07 for the netflix capture, split seed 1 (a lab bench at 139e613; 14 hold-out windows, the
 * learned half 12): the learned half 0.726 (fewer windows than the hold-out: "drawn down" only reorders them,
 * 0.734); one trace length (13 windows) 0.646, drawn down
 * 0.671; two (27) 0.851 and 0.743; three (42) 0.880 and 0.749. About 3 minutes. Hence `smig analyze
 * --adversary-segments` (src/analysis/adversary-segments.ts).
 */
import { adversarySettings, classify, createRng, loadBench, mean, windowsOf } from './offline-bench.mjs';

const { hold, learned, traceUs, draw } = await loadBench('node scripts/offline-balance.mjs BENCH-DIR FILTER');
const o = adversarySettings({});
const rng = createRng(7);
/** `k` of `w` at random (Fisher–Yates on a copy). */
const drawDown = (w, k) => {
  const a = w.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
};
const auc = (w) => classify('hold-out', 'draw', hold, w, o).auc;
process.stdout.write(
  `hold-out ${hold.length} windows, learned half ${learned.length}: ${auc(learned).toFixed(3)}, drawn down ${mean([1, 2, 3, 4].map(() => auc(drawDown(learned, hold.length))))}\n`,
);
for (const passes of [1, 2, 3]) {
  const all = [];
  const down = [];
  const counts = [];
  for (let seed = 1; seed <= 6; seed++) {
    const w = windowsOf(draw(seed, passes * traceUs));
    counts.push(w.length);
    all.push(auc(w));
    for (let k = 0; k < 3; k++) down.push(auc(drawDown(w, hold.length)));
  }
  process.stdout.write(
    `${passes} trace length${passes === 1 ? '' : 's'} (${mean(counts)} windows): all ${mean(all)}, drawn down ${mean(down)}\n`,
  );
}
