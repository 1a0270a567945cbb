/**
 * KS by blocks (src/analysis/block-ks.ts, `smig analyze --blocks`). Oracles: hand-counted D on tied values; samples
 * built so that blocks are, by construction, alike (each block one value drawn from the same distribution: the
 * packet-level KS must reject them and the block test must not) or plainly not (shifted); a synthetic capture whose
 * packets' blocks are known from their timestamps; the shipped netflix capture's interleaved halves (their sizes
 * reject packet by packet, p 0.003) and the shipped constant-rate migration, which is plainly not netflix.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze, binBlockSample } from '../../src/analysis/analyze.js';
import type { BlockSample } from '../../src/analysis/block-ks.js';
import { BlockCollector, blockKs, blocksCanReject } from '../../src/analysis/block-ks.js';
import { ksCanReject, ksTwoSample } from '../../src/analysis/ks.js';
import { splitBlocks } from '../../src/bench/normal.js';
import { binVerdict, blocksTold, fmtBlocks, muteTold } from '../../src/bench/report-format.js';
import type { BenchTest } from '../../src/bench/result.js';
import { createRng } from '../../src/util/rng.js';
import { FIXTURE_DIR, pcapFile } from '../helpers/captures.js';

const NETFLIX = join(FIXTURE_DIR, 'ndpi__netflix.pcap');
const CONSTANT = new URL('../../captures/smig-constant-840000-source.pcap', import.meta.url).pathname;

/** `blocks` blocks of `per` values each; block k's values from `value(k, i)`. */
function blocked(blocks: number, per: number, value: (k: number, i: number) => number): BlockSample {
  const values = new Float64Array(blocks * per);
  const ids = new Uint32Array(blocks * per);
  for (let k = 0; k < blocks; k++)
    for (let i = 0; i < per; i++) {
      values[k * per + i] = value(k, i);
      ids[k * per + i] = k;
    }
  return { values, blocks: ids };
}

describe('blockKs', () => {
  it('takes D where the value changes: tied values move together', () => {
    const a = { values: Float64Array.from([1, 1, 2]), blocks: Uint32Array.from([0, 1, 2]) };
    const b = { values: Float64Array.from([1, 2, 2]), blocks: Uint32Array.from([0, 1, 2]) };
    // F_a(1) = 2/3, F_b(1) = 1/3; at 2 both are 1
    expect(blockKs(a, b, 99, createRng(1))!.statistic).toBeCloseTo(1 / 3, 12);
  });

  it('has the packet-level D, and deals counted as C(blocks, blocks of the first side)', () => {
    const rng = createRng(7);
    const a = blocked(8, 50, () => rng());
    const b = blocked(8, 50, () => rng() + 0.05);
    const r = blockKs(a, b, 99, createRng(1))!;
    expect(r.statistic).toBeCloseTo(ksTwoSample(a.values, b.values).statistic, 12);
    expect(r.blocks).toEqual([8, 8]);
    expect(r.deals).toBe(12870);
    expect(blocksCanReject(r, 0.05)).toBe(true);
    expect(blocksCanReject({ deals: 8 }, 0.05)).toBe(false); // 7 blocks against 1: 8 ways, p never under 1/8
    expect(r.permutations).toBe(99);
  });

  it('does not reject blocks drawn alike, where the packet-level test does', () => {
    // each block is 100 copies of one value drawn from U(0, 1): the same distribution on both sides, but 800
    // correlated values a side look like 800 independent ones to the packet-level test
    const rng = createRng(3);
    const draws = Array.from({ length: 16 }, () => rng());
    const a = blocked(8, 100, (k) => draws[k]!);
    const b = blocked(8, 100, (k) => draws[8 + k]!);
    expect(ksTwoSample(a.values, b.values).pvalue).toBeLessThan(1e-6);
    expect(blockKs(a, b, 499, createRng(1))!.pvalue).toBeGreaterThan(0.05);
  });

  it('rejects blocks drawn from shifted distributions, at its smallest p', () => {
    const rng = createRng(5);
    const a = blocked(10, 40, () => rng());
    const b = blocked(10, 40, () => rng() + 0.5);
    const r = blockKs(a, b, 499, createRng(1))!;
    expect(r.pvalue).toBe(1 / 500);
  });

  it('is deterministic for a seed; null with nothing to test; refuses bad input', () => {
    const rng = createRng(9);
    const a = blocked(5, 30, (k) => k + rng());
    const b = blocked(4, 30, (k) => k + rng());
    expect(blockKs(a, b, 199, createRng(4))).toEqual(blockKs(a, b, 199, createRng(4)));
    const one = blocked(1, 10, () => 1);
    expect(blockKs(one, one, 99, createRng(1))).toBeNull(); // 2 blocks: the only other deal swaps the sides
    expect(blockKs({ values: new Float64Array(0), blocks: new Uint32Array(0) }, a, 99, createRng(1))).toBeNull();
    expect(() => blockKs({ values: new Float64Array(2), blocks: new Uint32Array(1) }, a, 9, createRng(1))).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_USAGE' }),
    );
    expect(() => blockKs(a, b, 0, createRng(1))).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE' }));
  });

  it('BlockCollector keeps each value with its block, also past its capacity', () => {
    const c = new BlockCollector(100);
    for (let i = 0; i < 1000; i++) c.add(i * 10, i);
    const s = c.sample();
    expect(c.seen).toBe(1000);
    expect(s.values.length).toBe(100);
    for (let i = 0; i < 100; i++) expect(s.values[i]).toBe(s.blocks[i]! * 10);
  });
});

describe('smig analyze with blocks', () => {
  it('puts each packet, and each gap, in the block of its time from the first packet', async () => {
    // 1 s blocks of 100 ms bins; packets at 0, 0.5, 1.2, 3.05, 3.9 s: blocks 0, 0, 1, 3, 3
    const frame = (n: number): Uint8Array => new Uint8Array(n);
    const at = [0, 500_000, 1_200_000, 3_050_000, 3_900_000];
    const file = join(mkdtempSync(join(tmpdir(), 'smig-blocks-')), 'five.pcap');
    writeFileSync(
      file,
      pcapFile({
        records: at.map((us, i) => ({ sec: 100 + Math.floor(us / 1e6), frac: us % 1e6, data: frame(60 + i) })),
      }),
    );
    const r = await analyze({
      classes: [{ name: 'five', file }],
      binNs: 100_000_000n,
      blockNs: 1_000_000_000n,
    });
    const b = r.classes[0]!.traffic.blocks!;
    expect(b.bins).toBe(10);
    expect([...b.size.sample().blocks]).toEqual([0, 0, 1, 3, 3]);
    expect([...b.size.sample().values]).toEqual([60, 61, 62, 63, 64]);
    // a gap is in its later packet's block
    expect([...b.iat.sample().blocks]).toEqual([0, 1, 3, 3]);
    expect([...b.iat.sample().values].map((x) => Number(x.toFixed(6)))).toEqual([0.5, 0.7, 1.85, 0.85]);
    // per bin: every bin from the first packet's to the last's (40), empty ones as 0, bin i in block ⌊i ÷ 10⌋
    const traffic = r.classes[0]!.traffic;
    const packets = binBlockSample(traffic, 0, b.bins)!;
    const bytes = binBlockSample(traffic, 1, b.bins)!;
    expect(packets.values.length).toBe(40);
    expect([...packets.blocks]).toEqual(Array.from({ length: 40 }, (_, i) => Math.floor(i / 10)));
    const busy = (s: BlockSample): [number, number][] =>
      [...s.values].flatMap((v, i) => (v === 0 ? [] : [[i, v] as [number, number]]));
    expect(busy(packets)).toEqual([
      [0, 1],
      [5, 1],
      [12, 1],
      [30, 1],
      [39, 1],
    ]);
    expect(busy(bytes)).toEqual([
      [0, 60],
      [5, 61],
      [12, 62],
      [30, 63],
      [39, 64],
    ]);
    expect(binBlockSample(traffic, 0, 1)!.blocks[39]).toBe(39);
  });

  it("on netflix: the capture's own halves reject packet by packet, not by blocks; a constant-rate migration does by blocks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smig-blocks-'));
    const learn = join(dir, 'learn.pcap');
    const holdout = join(dir, 'holdout.pcap');
    await splitBlocks(NETFLIX, 5_000_000_000n, learn, holdout);
    const r = await analyze({
      classes: [
        { name: 'hold-out', file: holdout, filter: 'dst host 192.168.1.7' },
        { name: 'learned', file: learn, filter: 'dst host 192.168.1.7' },
        { name: 'constant', file: CONSTANT },
      ],
      binNs: 500_000_000n,
      blockNs: 5_000_000_000n,
    });
    const row = (subject: string, feature: string) =>
      r.comparisons.find((c) => c.subject === subject && c.feature === feature)!;
    expect(row('learned', 'size').pvalue).toBeLessThan(0.01);
    expect(row('learned', 'size').blocks!.pvalue).toBeGreaterThan(0.05);
    expect(row('learned', 'iat').blocks!.pvalue).toBeGreaterThan(0.05);
    expect(row('learned', 'size').blocks!.statistic).toBeCloseTo(row('learned', 'size').statistic, 12);
    expect(row('learned', 'size').blocks!.blockSeconds).toBe(5);
    for (const f of ['size', 'iat']) expect(row('constant', f).blocks!.pvalue).toBeLessThanOrEqual(0.01);
    // per bin too: the same D as bin by bin, dealt by blocks of 10 bins
    for (const f of ['packets_per_bin', 'bytes_per_bin']) {
      expect(row('learned', f).blocks!.statistic).toBeCloseTo(row('learned', f).statistic, 12);
      expect(row('learned', f).blocks!.pvalue).toBeGreaterThan(0.05);
    }
    expect(row('learned', 'packets_per_bin').blocks!.blocks).toEqual([9, 9]);
  });
});

describe('the bench report on tests by blocks', () => {
  const test = (feature: string, pvalue: number, deals: number): BenchTest => ({
    feature,
    test: 'ks',
    statistic: 0.3,
    pvalue: 1e-9,
    n: 100,
    m: 100,
    critical: 0.1,
    distinguishable: true,
    blocks: {
      blockSeconds: 5,
      statistic: 0.3,
      pvalue,
      permutations: 499,
      blocks: deals === 8 ? [7, 1] : [7, 7],
      deals,
      distinguishable: pvalue < 0.05,
    },
  });
  it('counts the links told by blocks among those whose blocks can reject, and says n/a for one block', () => {
    const links = [
      { tests: [test('size', 0.3, 3432), test('iat', 0.002, 3432)] }, // told by its gaps
      { tests: [test('size', 0.3, 3432), test('iat', 0.6, 3432)] },
      { tests: [test('size', 0.5, 8), test('iat', 0.7, 8)] }, // one block: cannot be told
    ];
    expect(blocksTold(links, 0.05)).toBe(', sizes or gaps told by blocks on 1 of 2');
    expect(blocksTold([links[2]!], 0.05)).toBe('');
    // per bin, counted apart: a link told by either rate counts once
    const perBin = [
      { tests: [test('packets_per_bin', 0.01, 3432), test('bytes_per_bin', 0.002, 3432), test('size', 0.3, 3432)] },
      { tests: [test('packets_per_bin', 0.4, 3432), test('bytes_per_bin', 0.3, 3432), test('size', 0.01, 3432)] },
      { tests: [test('packets_per_bin', 0.4, 3432), test('bytes_per_bin', 0.3, 3432)] },
    ];
    expect(blocksTold(perBin, 0.05)).toBe(', sizes or gaps told by blocks on 1 of 2, per bin on 1 of 3');
    expect(blocksTold([perBin[2]!], 0.05)).toBe(', per bin told by blocks on 0 of 1');
    expect(fmtBlocks(links[2]!.tests[0], 0.05)).toBe('n/a (1 block)');
    expect(fmtBlocks(links[0]!.tests[1], 0.05)).toBe('0.002');
    expect(fmtBlocks(undefined, 0.05)).toBe('-');
  });
});

describe('a per-bin test whose bins are too few to reject', () => {
  it('ksCanReject agrees with the exact test on two samples wholly apart (D = 1, its smallest p)', () => {
    for (let n = 1; n <= 12; n++)
      for (let m = 1; m <= 45; m++) {
        const p = ksTwoSample(new Array<number>(n).fill(0), new Array<number>(m).fill(1), { method: 'exact' }).pvalue;
        for (const alpha of [0.05, 0.01]) expect(ksCanReject(n, m, alpha), `n ${n} m ${m} α ${alpha}`).toBe(p < alpha);
      }
    // 1 bin against 32: p 2 ÷ 33 at best; 40 bins are enough
    expect(ksCanReject(1, 32, 0.05)).toBe(false);
    expect(ksCanReject(1, 40, 0.05)).toBe(true);
    expect(ksCanReject(5000, 5000, 1e-12)).toBe(true);
    expect(ksCanReject(0, 10, 0.05)).toBe(false);
  });

  it('the bench verdict says "cannot tell" where neither rate test can reject, and the progress line counts them', () => {
    const t = (feature: string, n: number, m: number, pvalue: number): BenchTest => ({
      feature,
      test: 'ks',
      statistic: 0.84,
      pvalue,
      n,
      m,
      critical: 1,
      distinguishable: pvalue < 0.05,
    });
    const thin = {
      distinguishable: false,
      tests: [t('packets_per_bin', 1, 32, 0.36), t('bytes_per_bin', 1, 32, 0.36)],
    };
    const fine = {
      distinguishable: false,
      tests: [t('packets_per_bin', 86, 90, 0.4), t('bytes_per_bin', 86, 90, 0.5)],
    };
    const told = {
      distinguishable: true,
      tests: [t('packets_per_bin', 86, 90, 0.001), t('bytes_per_bin', 86, 90, 0.5)],
    };
    expect(binVerdict(thin, 0.05)).toBe('cannot tell (1 and 32 bins: too few to reject at 0.05)');
    expect(binVerdict(fine, 0.05)).toBe('not distinguishable');
    expect(binVerdict(told, 0.05)).toBe('distinguishable');
    expect(muteTold([thin, fine, told, thin], 0.05)).toBe(
      ' (on 2 of them the per-bin tests have too few bins to reject at 0.05)',
    );
    expect(muteTold([fine, told], 0.05)).toBe('');
  });
});
