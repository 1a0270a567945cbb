/**
 * What the offline experiments on a bench directory share (scripts/offline-repeats.mjs, offline-balance.mjs;
 * development aids, not part of smig; needs `npm run build`): the directory's profile trace, the resampler's draws of
 * it, the observer's windows of the hold-out and the learned half, and windows of a draw.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url);
const { BurstResampler } = await import(new URL('pacing/resample.js', dist));
const { createRng } = await import(new URL('util/rng.js', dist));
const { WindowBuilder } = await import(new URL('analysis/windows.js', dist));
const adversary = await import(new URL('analysis/adversary.js', dist));

export { createRng };
export const { adversarySettings, classify } = adversary;

/**
 * Reads BENCH-DIR and FILTER from argv (exits 2 with `usage` without them, or without a version 2 profile): the
 * trace, its length, the windows' features of the hold-out and the learned half, and `draw(seed, minUs)`, a draw of
 * the resampler (a hop with data waiting) lasting at least `minUs`: its gaps and sizes.
 */
export async function loadBench(usage) {
  const [dir, filter] = process.argv.slice(2);
  if (dir === undefined || filter === undefined) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8'));
  const trace = profile.shape?.trace;
  if (trace === undefined) {
    process.stderr.write(`${dir}/profile.json: not a version 2 profile (no shape.trace)\n`);
    process.exit(2);
  }
  const burstGapUs = profile.shape.burstGapUs;
  const traceUs = trace.gapsUs.reduce((a, g) => a + g, 0);
  const features = async (name, file) =>
    (await adversary.classWindows({ name, file: join(dir, file), filter }, {})).windows.map((w) =>
      Array.from(w.features),
    );
  const draw = (seed, minUs) => {
    const r = new BurstResampler(trace, burstGapUs, createRng(seed));
    r.steer(() => 'backlog');
    const gaps = [];
    const sizes = [];
    let t = 0;
    while (t < minUs) {
      const q = r.next();
      t += q.gapUs;
      gaps.push(q.gapUs);
      sizes.push(q.size);
    }
    return { gaps, sizes };
  };
  return {
    trace,
    burstGapUs,
    traceUs,
    hold: await features('hold-out', 'normal-holdout.pcap'),
    learned: await features('learned half', 'normal-learn.pcap'),
    draw,
  };
}

/** The observer's windows (features, those with packets) of a draw's gaps (µs) and sizes. */
export function windowsOf(d) {
  const b = new WindowBuilder({});
  let t = 0;
  d.gaps.forEach((g, i) => {
    t += g;
    b.add(BigInt(Math.round(t * 1000)), d.sizes[i]);
  });
  return b.windows.filter((w) => w.features[0] !== 0).map((w) => Array.from(w.features));
}

/** Mean of numbers, to 3 decimals. */
export const mean = (a) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(3);
