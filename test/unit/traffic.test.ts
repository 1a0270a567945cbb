/** The per-class accumulator's bounded-memory parts against direct computations. */
import { describe, expect, it } from 'vitest';
import { FANO_HORIZON, FanoCounter } from '../../src/analysis/fano.js';
import { IatSample } from '../../src/analysis/traffic.js';

function direct(windows: number[]): number {
  const m = new Map<number, number>();
  for (const w of windows) m.set(w, (m.get(w) ?? 0) + 1);
  let s = 0;
  for (const c of m.values()) s += c * c;
  return s;
}

describe('FanoCounter', () => {
  it('equals the direct Σc² on time-ordered windows far beyond the horizon, holding at most the horizon', () => {
    const c = new FanoCounter();
    const ws: number[] = [];
    let seed = 7;
    for (let w = 0; w < FANO_HORIZON * 3; w += 1 + (seed % 3)) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const k = seed % 4;
      for (let j = 0; j < k; j++) {
        c.add(w);
        ws.push(w);
      }
    }
    expect(c.sumOfSquares()).toBe(direct(ws));
    expect(c.late).toBe(0);
    expect((c as unknown as { open: Map<number, number> }).open.size).toBeLessThanOrEqual(FANO_HORIZON + 1);
  });

  it('is exact for packets late by less than half the horizon, and counts later ones', () => {
    const c = new FanoCounter();
    const ws: number[] = [];
    for (let w = 0; w < FANO_HORIZON * 2; w++) {
      c.add(w);
      ws.push(w);
      if (w % 1000 === 999) {
        c.add(w - 500); // a little late: exact
        ws.push(w - 500);
      }
    }
    expect(c.sumOfSquares()).toBe(direct(ws));
    c.add(0); // window 0 was folded long ago
    expect(c.late).toBe(1);
  });

  it('counts as the packet-by-packet definition does: runs, jumps back, late packets, folds', () => {
    // the definition: each packet on its own, a window folded once more than the horizon are open
    const ref = { open: new Map<number, number>(), folded: 0, below: -Infinity, newest: -Infinity, late: 0 };
    const addRef = (w: number): void => {
      if (w < ref.below) {
        ref.late++;
        ref.folded++;
        return;
      }
      ref.open.set(w, (ref.open.get(w) ?? 0) + 1);
      if (w > ref.newest) ref.newest = w;
      if (ref.open.size > FANO_HORIZON) {
        ref.below = ref.newest - FANO_HORIZON / 2;
        for (const [v, k] of ref.open) {
          if (v < ref.below) {
            ref.folded += k * k;
            ref.open.delete(v);
          }
        }
      }
    };
    const c = new FanoCounter();
    let seed = 99;
    const rand = (): number => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    let w = 0;
    for (let i = 0; i < 150_000; i++) {
      const r = rand();
      // mostly forward in small steps, sometimes back a little, sometimes about half the horizon back (late or
      // just not), in runs of 1–4
      const at =
        r < 0.9
          ? (w += Math.floor(rand() * 3))
          : r < 0.97
            ? w - Math.floor(rand() * 1000)
            : w - 30_000 - Math.floor(rand() * 6000);
      for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
        c.add(at);
        addRef(at);
      }
    }
    let sum = ref.folded;
    for (const k of ref.open.values()) sum += k * k;
    expect(ref.late).toBeGreaterThan(0);
    expect(c.sumOfSquares()).toBe(sum);
    expect(c.late).toBe(ref.late);
  });
});

describe('IatSample', () => {
  it('sortedValues is its values in seconds, ascending: short samples, gaps under 2^32 ns, and larger gaps', () => {
    let seed = 11;
    const rand = (): number => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    for (const [n, scale] of [
      [100, 1e6],
      [10_000, 1e6],
      [10_000, 4e9],
      [10_000, 1e15],
    ] as const) {
      const s = new IatSample(20_000, 1);
      for (let i = 0; i < n; i++) s.addNs(Math.floor(rand() * scale));
      const want = Array.from(s.values()).sort((a, b) => a - b);
      expect(Array.from(s.sortedValues()), `${n} gaps below ${scale} ns`).toEqual(want);
    }
  });
});
