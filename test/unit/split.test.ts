/**
 * The learn/hold-out split of `smig bench` and `smig demo` (src/bench/normal.ts). Oracles: the pairing rule itself
 * (each pair of consecutive blocks gives one block to each half), and a synthetic capture with a heartbeat every 10 s
 * whose halves are counted: alternate 5 s blocks put every beat in one half, a coin per pair puts them in both.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SPLIT_SEED, splitBlocks, splitHalf, splitWarning } from '../../src/bench/normal.js';
import { readCapture } from '../../src/capture/index.js';
import { pcapFile } from '../helpers/captures.js';

describe('splitHalf', () => {
  it('seed 0 alternates; any other seed gives each pair one block a side, drawn per pair', () => {
    const pairs = 1000;
    expect(Array.from({ length: 6 }, (_, k) => splitHalf(BigInt(k), 0))).toEqual([0, 1, 0, 1, 0, 1]);
    for (const seed of [DEFAULT_SPLIT_SEED, 2, 99]) {
      let flipped = 0;
      for (let j = 0; j < pairs; j++) {
        const a = splitHalf(BigInt(2 * j), seed);
        expect(splitHalf(BigInt(2 * j + 1), seed)).toBe(1 - a);
        flipped += a;
      }
      // a fair coin: 500 ± 4.4 standard deviations
      expect(flipped).toBeGreaterThan(430);
      expect(flipped).toBeLessThan(570);
    }
    const draws = (seed: number): number[] => Array.from({ length: 64 }, (_, j) => splitHalf(BigInt(2 * j), seed));
    expect(draws(1)).toEqual(draws(1));
    expect(draws(1)).not.toEqual(draws(2));
  });
});

describe('splitBlocks', () => {
  // 400 s: a 60 B packet every 250 ms, and a 1000 B heartbeat every 10 s at 7.5 s into its period
  const at: { us: number; size: number }[] = [];
  for (let us = 0; us < 400e6; us += 250_000) at.push({ us, size: 60 });
  for (let us = 7_500_000; us < 400e6; us += 10_000_000) at.push({ us: us + 1000, size: 1000 });
  at.sort((a, b) => a.us - b.us);
  const dir = mkdtempSync(join(tmpdir(), 'smig-split-'));
  const file = join(dir, 'beat.pcap');
  writeFileSync(
    file,
    pcapFile({
      records: at.map((p) => ({
        sec: 1000 + Math.floor(p.us / 1e6),
        frac: p.us % 1e6,
        // Ethernet + IPv4 header, so the split keeps the packet
        data: Uint8Array.from({ length: p.size }, (_, i) => (i === 12 ? 8 : i === 14 ? 0x45 : 0)),
      })),
    }),
  );
  const halves = async (seed: number): Promise<{ beats: number[]; total: number[]; last: number[] }> => {
    const learn = join(dir, `learn-${seed}.pcap`);
    const hold = join(dir, `hold-${seed}.pcap`);
    const counts = await splitBlocks(file, 5_000_000_000n, learn, hold, seed);
    const out = { beats: [0, 0], total: [counts.even, counts.odd], last: [0, 0] };
    for (const [i, f] of [learn, hold].entries())
      await readCapture(f, (p) => {
        if (p.origLen === 1000) out.beats[i]!++;
        out.last[i] = Number(p.ts - 1000_000_000_000n) / 1e9;
      });
    return out;
  };

  it('alternate blocks put a 10 s heartbeat in one half; a coin per pair puts it in both', async () => {
    const alternate = await halves(0);
    expect(alternate.beats).toEqual([0, 40]); // every beat at 7.5 s into its 10 s: always an odd block
    const drawn = await halves(DEFAULT_SPLIT_SEED);
    expect(drawn.beats[0]! + drawn.beats[1]!).toBe(40);
    expect(Math.min(...drawn.beats)).toBeGreaterThanOrEqual(10); // 20 ± 3.2 standard deviations
    // each half still gets one block of every pair: the same packets of the steady stream, and its time is
    // contiguous (40 pairs of 5 s: the last packet 200 s in, less one gap)
    for (const h of [alternate, drawn]) {
      expect(h.total[0]! - h.beats[0]!).toBe(800);
      expect(h.total[1]! - h.beats[1]!).toBe(800);
      for (const last of h.last) expect(last).toBeGreaterThan(199.7);
      for (const last of h.last) expect(last).toBeLessThan(200);
    }
  });

  it('puts a packet stamped before the first at the first one’s time, in the first block', async () => {
    const early = join(dir, 'early.pcap');
    const frame = Uint8Array.from({ length: 60 }, (_, i) => (i === 12 ? 8 : i === 14 ? 0x45 : 0));
    writeFileSync(
      early,
      pcapFile({
        records: [
          { sec: 1000, frac: 0, data: frame },
          { sec: 980, frac: 0, data: frame }, // 20 s before the first: block −4 by its time
          { sec: 1006, frac: 0, data: frame },
        ],
      }),
    );
    const a = join(dir, 'early-a.pcap');
    const b = join(dir, 'early-b.pcap');
    const counts = await splitBlocks(early, 5_000_000_000n, a, b, 0);
    expect(counts).toEqual({ even: 2, odd: 1 });
    const ts: bigint[] = [];
    await readCapture(a, (p) => void ts.push(p.ts));
    expect(ts).toEqual([1000_000_000_000n, 1000_000_000_000n]);
  });

  it('warns when one side of the split is thin: under 100 packets or a quarter of the other', () => {
    expect(splitWarning(499, 12, 5)).toMatch(/^the split put 499 packets in the learned half and 12 in the hold-out: /);
    expect(splitWarning(12, 499, 5)).toMatch(/12 packets in the learned half and 499 in the hold-out/);
    expect(splitWarning(90, 95, 5)).toMatch(/--split\)$/);
    expect(splitWarning(1000, 240, 5)).toMatch(/of its 5 s blocks/);
    expect(splitWarning(380, 465, 5)).toBeUndefined();
    expect(splitWarning(1000, 250, 5)).toBeUndefined();
  });
});
