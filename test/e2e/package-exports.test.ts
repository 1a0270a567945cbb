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

  it('smig/capture reads a capture', async () => {
    const { readCapture } = await import('smig/capture');
    let n = 0;
    const info = await readCapture(join(FIXTURES, 'captures', 'tcpdump__isup.pcap'), () => void n++);
    expect(n).toBe(6);
    expect(info.endianness).toBe('big');
  });
});
