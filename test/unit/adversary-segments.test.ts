/**
 * The observer on equal footing: which windows make a segment, the summary of their AUCs worked out by hand, and on
 * a real capture that a class which repeats itself is scored higher whole than segment by segment.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runAdversary } from '../../src/analysis/adversary.js';
import { formatSegments } from '../../src/analysis/adversary-report.js';
import { equalFootingAuc, MAX_ADVERSARY_SEGMENTS, segmentAucs } from '../../src/analysis/adversary-segments.js';
import type { Window } from '../../src/analysis/windows.js';
import { WINDOW_FEATURES } from '../../src/analysis/windows.js';
import { fmtAuc } from '../../src/bench/report-format.js';
import { createDecoded, decodePacket } from '../../src/capture/decode.js';
import { compileFilter } from '../../src/capture/filter.js';
import { readCapture } from '../../src/capture/reader.js';
import { PcapWriter } from '../../src/capture/writer.js';

const CAPTURES = fileURLToPath(new URL('../../captures/', import.meta.url));

/** Window i starts at i × 2.5 s. */
function win(i: number): Window {
  const features = new Float64Array(WINDOW_FEATURES.length);
  features[0] = 10;
  return { startNs: BigInt(i) * 2_500_000_000n, features } as unknown as Window;
}
const at = (w: Window[]): number[] => w.map((x) => Number(x.startNs / 2_500_000_000n));

describe('segmentAucs', () => {
  const subject = Array.from({ length: 10 }, (_, i) => win(i));

  it('cuts evenly spaced segments as long as the reference, overlapping when they must', () => {
    const seen: number[][] = [];
    const aucs = [0.5, 0.9, 0.7];
    const r = segmentAucs(subject, 4, 3, (w) => {
      seen.push(at(w));
      return { auc: aucs[seen.length - 1]! };
    });
    // 7 possible starts (0 … 6); 3 evenly spaced: 0, 3, 6
    expect(seen).toEqual([
      [0, 1, 2, 3],
      [3, 4, 5, 6],
      [6, 7, 8, 9],
    ]);
    expect(r).toEqual({ count: 3, windows: 4, mean: expect.closeTo(0.7, 12), min: 0.5, max: 0.9 });
    expect(formatSegments(r!)).toBe('as long as the reference (3 segments of 4 windows): mean 0.70, 0.50–0.90');
    expect(equalFootingAuc({ auc: 0.95, segments: r })).toBeCloseTo(0.7, 12);
    expect(fmtAuc({ auc: 0.95, aucLow: null, aucHigh: null, balancedAccuracy: null, windows: 10, segments: r })).toBe(
      '0.95; as long as the reference: 0.70 (3)',
    );
  });

  it('one segment per start at most; segments without an AUC are not counted', () => {
    const seen: number[][] = [];
    const r = segmentAucs(subject, 8, 50, (w) => {
      seen.push(at(w));
      return { auc: seen.length === 2 ? null : 0.6 };
    });
    expect(seen).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [1, 2, 3, 4, 5, 6, 7, 8],
      [2, 3, 4, 5, 6, 7, 8, 9],
    ]);
    expect(r).toMatchObject({ count: 2, windows: 8, mean: 0.6 });
  });

  it('nothing to say: no segment asked, a subject no longer than the reference, or no segment scored', () => {
    const half = (): { auc: number } => ({ auc: 0.5 });
    expect(segmentAucs(subject, 4, 0, half)).toBeUndefined();
    expect(segmentAucs(subject, 10, 5, half)).toBeUndefined();
    expect(segmentAucs(subject, 4, 5, () => ({ auc: null }))).toBeUndefined();
    // without segments, the equal-footing AUC is the whole one
    expect(equalFootingAuc({ auc: 0.8 })).toBe(0.8);
  });
});

describe('on a real capture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smig-segments-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const s = (n: number): bigint => BigInt(n) * 1_000_000_000n;
  const fast = { trees: 30, repeats: 2, bootstrap: 0, seed: 3 };
  const netflix = join(CAPTURES, 'ndpi__netflix.pcap');
  const filter = 'dst host 192.168.1.7';

  /** netflix's data direction from 42 s on, played `times` times in a row (as a session longer than its trace). */
  async function repeated(times: number): Promise<string> {
    const match = compileFilter(filter);
    const d = createDecoded();
    const packets: { ts: bigint; data: Uint8Array; len: number }[] = [];
    let first: bigint | undefined;
    let linktype = 1;
    await readCapture(netflix, (p) => {
      first ??= p.ts;
      if (p.ts - first < s(42) || !match(decodePacket(p.linktype, p.data, d, p.origLen))) return;
      linktype = p.linktype;
      packets.push({ ts: p.ts, data: Uint8Array.from(p.data), len: p.origLen });
    });
    const span = packets.at(-1)!.ts - packets[0]!.ts + 200_000_000n;
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ write: (b: Uint8Array) => chunks.push(Uint8Array.from(b)) > 0 }, { linktype });
    for (let k = 0; k < times; k++) for (const p of packets) w.writePacket(p.ts + BigInt(k) * span, p.data, p.len);
    const file = join(dir, `repeated-${times}.pcap`);
    writeFileSync(file, Buffer.concat(chunks));
    return file;
  }

  it('a class that repeats itself scores higher whole than on equal footing', async () => {
    const file = await repeated(3);
    const a = await runAdversary(
      [
        { name: 'first half', file: netflix, filter, toNs: s(42) },
        { name: 'second half, thrice', file },
      ],
      fast,
    );
    const c = a.comparisons[0]!;
    // segments span the reference's windows; the class has three times as many
    expect(c.segments!.windows).toBe(a.classes[0]!.windows);
    expect(c.m).toBeGreaterThan(2 * c.n);
    expect(c.segments!.count).toBe(8);
    expect(a.segments).toBe(8);
    // a repeat's windows have twins in the training folds: the whole class is told apart by memory
    expect(c.auc!).toBeGreaterThan(c.segments!.mean + 0.05);
    expect(c.segments!.min).toBeLessThanOrEqual(c.segments!.mean);
    expect(c.segments!.max).toBeGreaterThanOrEqual(c.segments!.mean);
    // and none when asked for none
    const none = await runAdversary(
      [
        { name: 'first half', file: netflix, filter, toNs: s(42) },
        { name: 'second half, thrice', file },
      ],
      { ...fast, segments: 0 },
    );
    expect(none.comparisons[0]!.segments).toBeUndefined();
    expect(none.comparisons[0]!.auc).toBe(c.auc);
  }, 120_000);

  it('refuses a count out of range', async () => {
    const one = { name: 'netflix', file: netflix };
    await expect(runAdversary([one], { ...fast, segments: MAX_ADVERSARY_SEGMENTS + 1 })).rejects.toThrow(
      `adversary segments: expected 0 … ${MAX_ADVERSARY_SEGMENTS}, got ${MAX_ADVERSARY_SEGMENTS + 1}`,
    );
  });
});
