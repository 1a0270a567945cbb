/** Text lines and the feature-importance plot of the trained observer ({@link runAdversary}). */
import type { TopLevelSpec } from 'vega-lite';
import type { AdversaryComparison, AdversaryResult } from './adversary.js';
import type { AdversarySegments } from './adversary-segments.js';
import type { AdversaryStretches } from './adversary-stretches.js';
import { stretchesCanReject } from './adversary-stretches.js';
import type { PlotFormat } from './plot.js';
import { renderSvg } from './plot.js';

/**
 * `0.81 [0.62–0.95]` (with ` p 0.05` when permutations ran), or `n/a` when the comparison could not be made. Takes
 * a comparison or the bench's summary of one.
 */
export function formatAuc(
  c: Pick<AdversaryComparison, 'auc' | 'aucLow' | 'aucHigh'> & { pValue?: number | null },
): string {
  if (c.auc === null) return 'n/a';
  const auc =
    c.aucLow === null || c.aucHigh === null
      ? c.auc.toFixed(2)
      : `${c.auc.toFixed(2)} [${c.aucLow.toFixed(2)}–${c.aucHigh.toFixed(2)}]`;
  return c.pValue == null ? auc : `${auc} p ${Number(c.pValue.toPrecision(2))}`;
}

/**
 * `normal stretches as long (19 of 12 windows): median 0.62, 95th pct 0.88; 3 scored as high (p 0.2)`: what the
 * observer scored on stretches of normal traffic as long as the class (adversary-stretches.ts); with too few
 * stretches to reject at `alpha`, it says so.
 */
export function formatStretches(s: AdversaryStretches, alpha: number): string {
  const few = stretchesCanReject(s, alpha) ? '' : `: too few stretches to reject at ${alpha}`;
  return `normal stretches as long (${s.count} of ${s.windows} windows): median ${s.median.toFixed(2)}, 95th pct ${s.p95.toFixed(2)}; ${s.atLeast} scored as high (p ${Number(s.pValue.toPrecision(2))}${few})`;
}

/**
 * `as long as the reference (8 segments of 14 windows): mean 0.72, 0.61–0.81`: what the observer scored on segments
 * of the class as long as the reference (adversary-segments.ts).
 */
export function formatSegments(s: AdversarySegments): string {
  return `as long as the reference (${s.count} segment${s.count === 1 ? '' : 's'} of ${s.windows} windows): mean ${s.mean.toFixed(2)}, ${s.min.toFixed(2)}–${s.max.toFixed(2)}`;
}

/** The one line a reader needs: "normal vs normal: 0.78, migration vs normal: 0.80, …". */
export function adversaryHeadline(r: AdversaryResult): string {
  const ref = r.classes[0]?.name ?? 'reference';
  const auc = (c: AdversaryComparison): string => (c.auc === null ? 'n/a' : c.auc.toFixed(2));
  return [
    `${ref} vs ${ref}: ${auc(r.baseline)}`,
    ...r.comparisons.map((c) => `${c.subject} vs ${ref}: ${auc(c)}`),
  ].join(', ');
}

/** Top `k` features of a comparison as `name (0.12), …`. */
export function topFeatures(c: AdversaryComparison, k = 3): string {
  return c.importance
    .slice(0, k)
    .filter((f) => f.value > 0)
    .map((f) => `${f.feature} (${f.value.toFixed(2)})`)
    .join(', ');
}

/**
 * Bar charts of the feature importances (the 12 largest per comparison, baseline first) as one SVG, or an HTML
 * page embedding it.
 */
export async function renderImportancePlot(
  r: AdversaryResult,
  format: PlotFormat,
  title = 'smig analyze --adversary: feature importances',
): Promise<string> {
  const rows: { c: string; f: string; v: number }[] = [];
  for (const c of [r.baseline, ...r.comparisons]) {
    const label = `${c.subject} vs ${c.reference} — AUC ${formatAuc(c)}`;
    for (const f of c.importance.slice(0, 12)) rows.push({ c: label, f: f.feature, v: f.value });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: rows },
    facet: {
      row: {
        field: 'c',
        type: 'nominal',
        title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelOrient: 'top', labelFontSize: 12 },
      },
    },
    spec: {
      width: 420,
      height: { step: 14 },
      mark: 'bar',
      encoding: {
        y: { field: 'f', type: 'nominal', sort: '-x', title: null },
        x: { field: 'v', type: 'quantitative', title: 'mean decrease in impurity (share)' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as unknown as TopLevelSpec;
  const svg = await renderSvg(spec);
  if (format === 'svg') return svg;
  const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>\n<h1>${esc(title)}</h1>\n<p>${esc(adversaryHeadline(r))}</p>\n${svg}\n</body></html>\n`;
}

/** The result as plain JSON (bigints as decimal seconds). */
export function adversaryToJson(r: AdversaryResult): Record<string, unknown> {
  const s = (ns: bigint): number => Number(ns) / 1e9;
  return {
    window_s: s(r.windowNs),
    step_s: s(r.stepNs),
    block_s: s(r.blockNs),
    folds: r.folds,
    repeats: r.repeats,
    permutations: r.permutations,
    cv: r.cv,
    seed: r.seed,
    trees: r.trees,
    bootstrap: r.bootstrap,
    keep_silent: r.keepSilent,
    segments: r.segments,
    features: r.features,
    classes: r.classes,
    baseline: r.baseline,
    comparisons: r.comparisons,
  };
}
