/**
 * `smig analyze --adversary` end to end: the text table with the baseline, the documented --json block, the
 * importance plot, and bad options. Uses the shipped captures (a paced migration's source link against the
 * netflix capture's data direction).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-adversary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NORMAL = `normal=${join(ROOT, 'captures', 'ndpi__netflix.pcap')}@dst host 192.168.1.7`;
const CONSTANT = `constant=${join(ROOT, 'captures', 'smig-constant-840000-source.pcap')}`;
const FAST = ['--adversary-trees', '20'];

describe('smig analyze --adversary', () => {
  it('--json: the documented block, the baseline beside each comparison', async () => {
    const r = await runBin([
      'analyze',
      '--json',
      '--no-progress',
      '--adversary',
      ...FAST,
      '--class',
      NORMAL,
      '--class',
      CONSTANT,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const a = (JSON.parse(r.stdout) as { adversary: Record<string, unknown> }).adversary;
    expect(a).toMatchObject({
      window_s: 5,
      step_s: 2.5,
      block_s: 10,
      folds: 5,
      repeats: 5,
      seed: 1,
      trees: 20,
      bootstrap: 1000,
    });
    expect(a.features).toHaveLength(33);
    const classes = a.classes as { name: string; windows: number; capped: boolean }[];
    expect(classes.map((c) => c.name)).toEqual(['normal', 'constant']);
    expect(classes.every((c) => c.windows > 10 && !c.capped)).toBe(true);
    const baseline = a.baseline as { reference: string; subject: string; auc: number };
    expect(baseline).toMatchObject({ reference: 'normal (even blocks)', subject: 'normal (odd blocks)' });
    const [c] = a.comparisons as {
      subject: string;
      auc: number;
      aucLow: number;
      aucHigh: number;
      balancedAccuracy: number;
      importance: { feature: string; value: number }[];
    }[];
    expect(c!.subject).toBe('constant');
    // a constant-rate migration against a bursty stream: the observer tells them apart, far beyond the baseline
    expect(c!.auc).toBeGreaterThan(0.9);
    expect(c!.auc).toBeGreaterThan(baseline.auc + 0.1);
    expect(c!.aucLow).toBeLessThanOrEqual(c!.auc);
    expect(c!.aucHigh).toBeGreaterThanOrEqual(c!.auc);
    expect(c!.importance).toHaveLength(33);
    expect(a.keep_silent).toBe(false);
  }, 120_000);

  it('silent windows: left out and counted, on stdout and in --json; --adversary-keep-silent classifies them', async () => {
    // the constant link (the source's whole capture, its links one after another) has windows with no packet
    const args = ['analyze', '--no-progress', '--adversary', ...FAST, '--class', NORMAL, '--class', CONSTANT];
    const out = async (more: string[]) => {
      const r = await runBin([...args, ...more, '--json']);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { adversary: { keep_silent: boolean; classes: Record<string, number>[] } })
        .adversary;
    };
    const left = await out([]);
    const kept = await out(['--adversary-keep-silent']);
    expect(kept.keep_silent).toBe(true);
    for (const [i, c] of left.classes.entries()) {
      expect(c.silentWindows).toBe(kept.classes[i]!.silentWindows);
      expect(c.windows + c.silentWindows!).toBe(kept.classes[i]!.windows);
    }
    const silent = left.classes.map((c) => c.silentWindows!);
    expect(silent[0]).toBeGreaterThan(0); // netflix's quiet stretch
    const t = await runBin(args);
    expect(t.stdout).toContain(
      `Windows without a packet, left out: normal ${silent[0]} of ${left.classes[0]!.windows! + silent[0]!}`,
    );
  }, 120_000);

  it('text: the table and the headline; --adversary-plot writes the importances', async () => {
    const plot = join(dir, 'imp.svg');
    const r = await runBin([
      'analyze',
      '--no-progress',
      '--adversary',
      ...FAST,
      '--adversary-plot',
      plot,
      '--class',
      NORMAL,
      '--class',
      CONSTANT,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /Trained observer \(random forest of 20 trees on 5s windows every 2500ms, 5-fold CV 5 times/,
    );
    expect(r.stdout).toMatch(/^normal vs normal: \d\.\d\d, constant vs normal: \d\.\d\d$/m);
    const svg = readFileSync(plot, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('constant vs normal');
  }, 120_000);

  it('--adversary-permutations: a p-value beside each AUC, in the table and the JSON', async () => {
    const args = ['analyze', '--no-progress', '--adversary', '--adversary-trees', '10', '--adversary-repeats', '1'];
    const more = ['--adversary-permutations', '4', '--class', NORMAL, '--class', CONSTANT];
    const j = await runBin([...args, '--json', ...more]);
    expect(j.status, j.stderr).toBe(0);
    const a = (JSON.parse(j.stdout) as { adversary: Record<string, unknown> }).adversary;
    expect(a).toMatchObject({ repeats: 1, permutations: 4 });
    const [c] = a.comparisons as { auc: number; pValue: number }[];
    // the constant link is told apart: no deal of the windows at random scores as high, p = 1 / (1 + 4)
    expect(c!.auc).toBeGreaterThan(0.9);
    expect(c!.pValue).toBeCloseTo(0.2, 10);
    expect((a.baseline as { pValue: number }).pValue).toBeGreaterThanOrEqual(0.2);
    const t = await runBin([...args, ...more]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^constant +normal +\d+\/\d+ +\d\.\d\d \[[\d.]+–[\d.]+\] p 0\.2 /m);
  }, 120_000);

  it('--adversary-stretches: normal stretches as long as each class, in the JSON and the text; refused alone', async () => {
    const NETFLIX = join(ROOT, 'captures', 'ndpi__netflix.pcap');
    const args = ['analyze', '--no-progress', '--adversary', '--adversary-trees', '10', '--adversary-repeats', '1'];
    // the constant link's first 20 s against netflix's first half; stretches of netflix's data direction
    const more = [
      '--adversary-stretches',
      '3',
      '--stretches',
      `${NETFLIX}@dst host 192.168.1.7`,
      '--time-window',
      'constant=0s..20s',
      '--class',
      NORMAL,
      '--class',
      CONSTANT,
    ];
    const j = await runBin([...args, '--json', ...more]);
    expect(j.status, j.stderr).toBe(0);
    const a = (JSON.parse(j.stdout) as { adversary: Record<string, unknown> }).adversary;
    const [c] = a.comparisons as { stretches: Record<string, number> }[];
    expect(c!.stretches).toMatchObject({ count: 3, windows: expect.any(Number), atLeast: expect.any(Number) });
    expect(c!.stretches.pValue).toBeCloseTo((1 + c!.stretches.atLeast!) / 4, 12);
    expect(c!.stretches.median).toBeLessThanOrEqual(c!.stretches.p95!);
    expect(a.baseline).not.toHaveProperty('stretches');
    const t = await runBin([...args, ...more]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(
      /^constant: normal stretches as long \(3 of \d+ windows\): median \d\.\d\d, 95th pct \d\.\d\d; \d scored as high \(p [\d.]+: too few stretches to reject at 0\.05\)$/m,
    );
    const alone = await runBin([...args, '--adversary-stretches', '3', NETFLIX]);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toBe(
      'smig analyze: --adversary-stretches: needs --adversary and --stretches CAPTURE[@FILTER] (the normal traffic to cut them from)\n',
    );
  }, 120_000);

  it('--adversary-segments: a class longer than the reference also scored in segments as long; 0 turns it off', async () => {
    const args = ['analyze', '--no-progress', '--adversary', '--adversary-trees', '10', '--adversary-repeats', '1'];
    // the constant link as the reference (26 windows with packets), netflix's data direction (28) as the class
    const classes = ['--class', CONSTANT, '--class', NORMAL];
    const j = await runBin([...args, '--json', '--adversary-segments', '3', ...classes]);
    expect(j.status, j.stderr).toBe(0);
    const a = (JSON.parse(j.stdout) as { adversary: Record<string, unknown> }).adversary;
    expect(a.segments).toBe(3);
    const [c] = a.comparisons as { n: number; m: number; auc: number; segments: Record<string, number> }[];
    expect(c!.m).toBeGreaterThan(c!.n);
    expect(c!.segments).toMatchObject({ count: Math.min(3, c!.m - c!.n + 1), windows: c!.n });
    expect(c!.segments.min).toBeLessThanOrEqual(c!.segments.mean!);
    expect(c!.segments.mean).toBeLessThanOrEqual(c!.segments.max!);
    // told apart whole and on equal footing alike
    expect(c!.segments.min).toBeGreaterThan(0.9);
    expect(a.baseline).not.toHaveProperty('segments');
    const t = await runBin([...args, '--adversary-segments', '3', ...classes]);
    expect(t.stdout).toMatch(
      /^normal: as long as the reference \(\d segments? of \d+ windows\): mean \d\.\d\d, \d\.\d\d–\d\.\d\d$/m,
    );
    const off = await runBin([...args, '--json', '--adversary-segments', '0', ...classes]);
    const o = (JSON.parse(off.stdout) as { adversary: { segments: number; comparisons: object[] } }).adversary;
    expect(o.segments).toBe(0);
    expect(o.comparisons[0]).not.toHaveProperty('segments');
  }, 120_000);

  it('--adversary-cv blocks: folds dealt by blocks, said in the table and the JSON; a bad mode refused', async () => {
    const args = ['analyze', '--no-progress', '--adversary', '--adversary-trees', '10', '--adversary-cv', 'blocks'];
    const j = await runBin([...args, '--json', '--class', NORMAL, '--class', CONSTANT]);
    expect(j.status, j.stderr).toBe(0);
    const a = (JSON.parse(j.stdout) as { adversary: Record<string, unknown> }).adversary;
    expect(a.cv).toBe('blocks');
    const [c] = a.comparisons as { auc: number; groups: number[]; n: number; m: number }[];
    // netflix's windows with packets in 10 s blocks: 4 windows a block at most; the constant link's windows are in
    // fewer groups than windows
    expect(c!.groups[0]).toBeGreaterThanOrEqual(Math.ceil(c!.n / 4));
    expect(c!.groups[0]).toBeLessThan(c!.n);
    expect(c!.groups[1]).toBeLessThan(c!.m);
    expect(c!.auc).toBeGreaterThan(0.8); // measured 0.89 with 10 trees
    const t = await runBin([...args, '--class', NORMAL, '--class', CONSTANT]);
    expect(t.stdout).toContain('5-fold CV by 10s blocks 5 times');
    const bad = await runBin([...args.slice(0, -1), 'folds', join(ROOT, 'captures', 'ndpi__netflix.pcap')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^smig analyze: option '--adversary-cv <mode>' argument 'folds' is invalid\. .*\n$/);
  }, 120_000);

  it('bad options: one line, exit 2', async () => {
    const step = await runBin([
      'analyze',
      '--adversary',
      '--adversary-window',
      '1s',
      '--adversary-step',
      '2s',
      join(ROOT, 'captures', 'ndpi__netflix.pcap'),
    ]);
    expect(step.status).toBe(2);
    expect(step.stderr).toMatch(/^smig analyze: adversary step: must be 1ms … the window.*\n$/);
    const NETFLIX = join(ROOT, 'captures', 'ndpi__netflix.pcap');
    for (const [flag, value, message] of [
      ['--adversary-folds', '1', 'adversary folds: expected 2 … 100, got 1'],
      ['--adversary-repeats', '0', 'adversary repeats: expected 1 … 100, got 0'],
    ] as const) {
      const r = await runBin(['analyze', '--adversary', flag, value, NETFLIX]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`smig analyze: ${message}\n`);
    }
    const stdin = await runBin(['analyze', '--adversary', '-'], {
      input: readFileSync(join(ROOT, 'captures', 'ndpi__netflix.pcap')),
    });
    expect(stdin.status).toBe(2);
    expect(stdin.stderr).toBe(
      'smig analyze: --adversary reads every capture a second time: stdin (-) cannot be one of them\n',
    );
  });
});
