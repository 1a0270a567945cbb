/** The package's library entries resolve by name (as a dependent project would import them) and work. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/cli.js';

describe('package exports', () => {
  it('smig/analysis exports ksTwoSample matching scipy', async () => {
    const { ksTwoSample } = await import('smig/analysis');
    const o = JSON.parse(readFileSync(join(FIXTURES, 'ks-oracle', 'synthetic_tiny.json'), 'utf8'));
    const r = ksTwoSample(o.x, o.y, { alternative: 'two-sided', method: 'exact' });
    expect(r.statistic).toBe(o.scipy['two-sided/exact'].statistic);
    expect(r.pvalue).toBeCloseTo(o.scipy['two-sided/exact'].pvalue, 9);
    expect(r.n).toBe(o.x.length);
    expect(r.m).toBe(o.y.length);
  });

  it('smig/analysis exports blockKs, as the README calls it', async () => {
    const { blockKs } = await import('smig/analysis');
    // two sides of 4 blocks, the second shifted well beyond the first: D = 1, and no other deal reaches it
    const side = (shift: number) => ({
      values: Float64Array.from({ length: 40 }, (_, i) => shift + (i % 10)),
      blocks: Uint32Array.from({ length: 40 }, (_, i) => Math.floor(i / 10)),
    });
    let x = 1;
    const rng = (): number => (x = (x * 48271) % 2147483647) / 2147483647; // seeded: the same deals every run
    const r = blockKs(side(0), side(100), 99, rng)!;
    expect(r.statistic).toBe(1);
    expect(r.blocks).toEqual([4, 4]);
    expect(r.deals).toBe(70);
    expect(r.pvalue).toBeLessThanOrEqual(0.1); // only the observed deal and its mirror reach D = 1: 2 of 70
  });

  it('smig/capture reads a capture', async () => {
    const { readCapture } = await import('smig/capture');
    let n = 0;
    const info = await readCapture(join(FIXTURES, 'captures', 'tcpdump__isup.pcap'), () => void n++);
    expect(n).toBe(6);
    expect(info.endianness).toBe('big');
  });
});
