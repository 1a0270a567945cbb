/**
 * The bench's observer: every captured link of a run tested against the normal reference in one
 * `smig analyze --json` (and `--adversary`), read back as the links of bench.json.
 */
import type { CvMode } from '../analysis/adversary.js';
import type { AdversarySegments } from '../analysis/adversary-segments.js';
import type { AdversaryStretches } from '../analysis/adversary-stretches.js';
import type { BlockTest } from '../analysis/analyze.js';
import type { StretchResult } from '../analysis/stretches.js';
import { runOk } from './proc.js';
import type { BenchAdversary, BenchLink, LinkSide } from './result.js';

/** One captured link: its name, the capture holding it and the filter that picks its data direction out ('' = all). */
export interface LinkSpec {
  link: string;
  capture: string;
  filter: string;
  /** The filter of the link's reverse direction (ACKs, PROGRESS, the echoes), when it can be told. */
  reverseFilter?: string;
}

/** How the bench runs `smig analyze` on its links. */
export interface AnalyzeContext {
  reference: string;
  referenceFilter: string | null;
  bin: string;
  alpha: number;
  adversary: boolean;
  /** Label permutations of the observer's AUC (`--adversary-permutations`; 0 or absent: none). */
  permutations?: number;
  /** How the observer deals windows to folds (`--adversary-cv`; absent: analyze's default). */
  cv?: CvMode;
  /** Normal traffic to cut per-bin stretches from (`--stretches CAPTURE[@FILTER]`: the learned half). */
  stretches?: string;
  /** Stretches of `stretches` the observer also scores per link (`--adversary-stretches`; 0 or absent: none). */
  adversaryStretches?: number;
  /** Block length of the size and gap tests by blocks (`--blocks`, e.g. `5s`). */
  blocks?: string;
  /** Segments the observer scores per link longer than the reference (`--adversary-segments`; absent: analyze's default). */
  segments?: number;
}

type AdversaryJson = {
  subject: string;
  m: number;
  auc: number | null;
  aucLow: number | null;
  aucHigh: number | null;
  balancedAccuracy: number | null;
  pValue?: number | null;
  stretches?: AdversaryStretches;
  segments?: AdversarySegments;
  note?: string;
};
interface AnalyzeJson {
  adversary?: {
    baseline: AdversaryJson;
    comparisons: AdversaryJson[];
    classes: { name: string; windows: number; silentWindows?: number }[];
  };
  captures: { name: string; packets: number; bytes: number }[];
  comparisons: {
    subject: string;
    feature: string;
    test: string;
    statistic: number;
    pvalue: number;
    n: number;
    m: number;
    critical?: number | null;
    distinguishable: boolean;
    stretches?: StretchResult;
    blocks?: BlockTest;
  }[];
}

function benchAdversary(
  a: AdversaryJson,
  silent: { windows: number; silentWindows?: number } | undefined,
): BenchAdversary {
  return {
    auc: a.auc,
    aucLow: a.aucLow,
    aucHigh: a.aucHigh,
    balancedAccuracy: a.balancedAccuracy,
    ...(a.pValue != null ? { pValue: a.pValue } : {}),
    ...(a.stretches ? { stretches: a.stretches } : {}),
    ...(a.segments ? { segments: a.segments } : {}),
    windows: a.m,
    ...(silent?.silentWindows
      ? { silentWindows: silent.silentWindows, ofWindows: silent.windows + silent.silentWindows }
      : {}),
    ...(a.note ? { note: a.note } : {}),
  };
}

/** Every link of a run against the reference, in one `smig analyze --json`. */
export async function analyzeLinks(
  ctx: AnalyzeContext,
  links: readonly LinkSpec[],
  extra: readonly LinkSpec[],
): Promise<{ links: BenchLink[]; bytes: number[]; baseline?: BenchAdversary }> {
  const all = [...links, ...extra];
  const ref = ctx.referenceFilter === null ? ctx.reference : `${ctx.reference}@${ctx.referenceFilter}`;
  // the observer sees only the links (not the source's extra links, which are there for the overhead)
  const argv = [
    'analyze',
    '--json',
    '--no-progress',
    '--bin',
    ctx.bin,
    '--alpha',
    String(ctx.alpha),
    '--class',
    `normal=${ref}`,
    ...all.flatMap((l, i) => ['--class', `l${i}=${l.capture}${l.filter === '' ? '' : `@${l.filter}`}`]),
  ];
  if (ctx.adversary) argv.push('--adversary');
  if (ctx.adversary && (ctx.permutations ?? 0) > 0) argv.push('--adversary-permutations', String(ctx.permutations));
  if (ctx.adversary && ctx.cv !== undefined) argv.push('--adversary-cv', ctx.cv);
  if (ctx.stretches !== undefined) argv.push('--stretches', ctx.stretches);
  if (ctx.adversary && ctx.stretches !== undefined && (ctx.adversaryStretches ?? 0) > 0)
    argv.push('--adversary-stretches', String(ctx.adversaryStretches));
  if (ctx.blocks !== undefined) argv.push('--blocks', ctx.blocks);
  if (ctx.adversary && ctx.segments !== undefined) argv.push('--adversary-segments', String(ctx.segments));
  const p = await runOk('smig analyze', argv);
  const j = JSON.parse(p.stdout) as AnalyzeJson;
  const cls = (i: number) => j.captures.find((c) => c.name === `l${i}`)!;
  const silent = (name: string) => j.adversary?.classes.find((c) => c.name === name);
  return {
    links: links.map((l, i) => {
      const tests = j.comparisons
        .filter((c) => c.subject === `l${i}`)
        .map((c) => ({
          feature: c.feature,
          test: c.test,
          statistic: c.statistic,
          pvalue: c.pvalue,
          n: c.n,
          m: c.m,
          critical: c.critical ?? null,
          distinguishable: c.distinguishable,
          ...(c.stretches ? { stretches: c.stretches } : {}),
          ...(c.blocks ? { blocks: c.blocks } : {}),
        }));
      const perBin = tests.filter((t) => t.feature === 'packets_per_bin' || t.feature === 'bytes_per_bin');
      const adv = j.adversary?.comparisons.find((c) => c.subject === `l${i}`);
      return {
        link: l.link,
        capture: l.capture,
        filter: l.filter,
        packets: cls(i).packets,
        bytes: cls(i).bytes,
        tests,
        distinguishable: perBin.some((t) => t.distinguishable),
        ...(adv ? { adversary: benchAdversary(adv, silent(`l${i}`)) } : {}),
      };
    }),
    bytes: all.map((_, i) => cls(i).bytes),
    ...(j.adversary ? { baseline: benchAdversary(j.adversary.baseline, silent('normal')) } : {}),
  };
}

/**
 * The reverse directions of `links` (each spec's `filter` already the reverse one) against the reference's reverse
 * direction `reverseFilter`: each link's tests without its name and capture (they are the forward link's), and the
 * observer's baseline on that direction.
 */
export async function analyzeReverse(
  ctx: Omit<AnalyzeContext, 'referenceFilter'>,
  reverseFilter: string,
  links: readonly LinkSpec[],
): Promise<{ reverses: LinkSide[]; baseline?: BenchAdversary }> {
  const rev = await analyzeLinks({ ...ctx, referenceFilter: reverseFilter }, links, []);
  return {
    reverses: rev.links.map(({ link: _l, capture: _c, ...r }) => r),
    ...(rev.baseline ? { baseline: rev.baseline } : {}),
  };
}

/**
 * Every link against the learned half (`learn`, with the normal filter) instead of the hold-out: the pacer's
 * fidelity to what it learned, each link's tests without its name and capture.
 */
export async function analyzeFidelity(
  ctx: Omit<AnalyzeContext, 'reference'>,
  learn: string,
  links: readonly LinkSpec[],
): Promise<LinkSide[]> {
  const f = await analyzeLinks({ ...ctx, reference: learn }, links, []);
  return f.links.map(({ link: _l, capture: _c, ...r }) => r);
}

/**
 * A migration run's links (`a`, from {@link analyzeLinks} on `specs`) compared on every side there is: their
 * reverse directions against the reference's (with `reverseFilter`), the links against the learned half (with
 * `learn`), and with both their reverse directions against the learned half's. Returns the reverse direction's
 * observer baseline.
 */
export async function analyzeSides(
  ctx: AnalyzeContext,
  a: BenchLink[],
  specs: readonly LinkSpec[],
  reverseFilter: string | undefined,
  learn: string | undefined,
): Promise<BenchAdversary | undefined> {
  const back = specs.every((l) => l.reverseFilter !== undefined)
    ? specs.map((l) => ({ link: l.link, capture: l.capture, filter: l.reverseFilter! }))
    : undefined;
  let baseline: BenchAdversary | undefined;
  // the observer's segments only where the criteria read them: the links against the hold-out (each costs a forest)
  const side: AnalyzeContext = { ...ctx, segments: 0 };
  if (reverseFilter !== undefined && back !== undefined) {
    const rev = await analyzeReverse(side, reverseFilter, back);
    a.forEach((l, i) => {
      l.reverse = rev.reverses[i];
    });
    baseline = rev.baseline;
  }
  if (learn === undefined) return baseline;
  // against the learned half as well: the pacer's fidelity to what it learned, in both directions
  const fid = await analyzeFidelity(side, learn, specs);
  a.forEach((l, i) => {
    l.fidelity = fid[i];
  });
  if (reverseFilter !== undefined && back !== undefined) {
    const rf = await analyzeReverse({ ...side, reference: learn }, reverseFilter, back);
    a.forEach((l, i) => {
      l.reverseFidelity = rf.reverses[i];
    });
  }
  return baseline;
}
