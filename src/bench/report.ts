/**
 * The report of `smig bench`: the paper's figure 3 (time against size, per class), figures 4–6 (packets per second
 * of normal traffic, a traditional migration and the stealth ones, by `smig analyze --plot`), and per strategy a
 * table of every run and link, as SVG files, a self-contained HTML page and a Markdown file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../analysis/plot.js';
import { criteriaLines } from './criteria.js';
import { runOk } from './proc.js';
import { binVerdict, fmtAuc, fmtBlocks, fmtD, fmtN, fmtPv, mostRejected } from './report-format.js';

export { fmtAuc } from './report-format.js';
export { fidelityTable, hopTable, keyFlowTable, reverseTable } from './report-links.js';

import { FIDELITY_CAPTION, fidelityTable, HOP_CAPTION, hopTable, keyFlowTable, reverseTable } from './report-links.js';
import type { BenchAdversary, BenchLink, BenchResult, BenchRun, BenchTest } from './result.js';

/** How each class is named in the figures (the paper's words first). */
export function classLabel(strategy: BenchRun['strategy']): string {
  switch (strategy) {
    case 'plain':
      return 'normal (plain TCP copy)';
    case 'bulk':
      return 'traditional (bulk)';
    default:
      return `stealth (${strategy})`;
  }
}

/** One row per run and link: what the tables show. */
export interface BenchRow {
  strategy: BenchRun['strategy'];
  size: number;
  seconds: number;
  ratio: number;
  overhead: number;
  wireOverhead: number | undefined;
  link: string;
  packets: BenchTest | undefined;
  bytes: BenchTest | undefined;
  size_: BenchTest | undefined;
  iat: BenchTest | undefined;
  chi2: BenchTest | undefined;
  distinguishable: boolean;
  adversary: BenchAdversary | undefined;
}

/** The rows of the per-strategy tables, in run order. */
export function benchRows(r: BenchResult): BenchRow[] {
  return r.runs.flatMap((run) =>
    run.links.map((l) => {
      const t = (feature: string): BenchTest | undefined => l.tests.find((x) => x.feature === feature);
      return {
        strategy: run.strategy,
        size: run.size,
        seconds: run.seconds,
        ratio: run.ratio,
        overhead: run.overhead,
        wireOverhead: run.wireOverhead,
        link: l.link,
        packets: t('packets_per_bin'),
        bytes: t('bytes_per_bin'),
        size_: t('size'),
        iat: t('iat'),
        chi2: t('size_histogram'),
        distinguishable: l.distinguishable,
        adversary: l.adversary,
      };
    }),
  );
}

/** The observer's baseline line ("normal vs normal: 0.61 …"), or undefined when it did not run. */
export function adversaryBaselineLine(r: BenchResult): string | undefined {
  const b = r.runs.find((x) => x.adversaryBaseline !== undefined)?.adversaryBaseline;
  if (b === undefined) return undefined;
  return (
    `trained observer (random forest on 5 s windows with packets, 5-fold CV${r.adversary?.cv === 'blocks' ? ' by 10 s blocks' : ''} 5 times): normal vs normal (the reference's even vs odd 10 s blocks, ${b.windows} windows a side): ${fmtAuc(b)}; ` +
    'a link whose AUC is near this cannot be told from normal traffic, 0.5 = cannot tell, 1 = always tells; ' +
    "a link with more windows than the hold-out is also scored in segments as long as the hold-out ('as long as the reference': their mean AUC and how many), since the baseline's two sides are of about equal size" +
    (r.normal.adversaryBaseline
      ? `; the whole normal capture against itself (the same blocks, ${r.normal.adversaryBaseline.windows} windows a side): ${fmtAuc(r.normal.adversaryBaseline)}`
      : '') +
    (r.normal.learned?.adversary
      ? `; with few windows a side a baseline is wide, and the learned half against the same hold-out (${fmtAuc(r.normal.learned.adversary)}, below) is the other normal-vs-normal comparison, on the links' own reference`
      : '')
  );
}

/**
 * The line on the learned half against the hold-out ("what a perfect imitation of the learned traffic scores"), or
 * undefined when the bench had no hold-out.
 */
export function learnedHalfLine(r: BenchResult): string | undefined {
  const l = r.normal.learned;
  if (l === undefined) return undefined;
  const scores = (x: Pick<BenchLink, 'tests' | 'adversary'>): string => {
    const t = (f: string, test = 'ks'): BenchTest | undefined =>
      x.tests.find((y) => y.feature === f && y.test === test);
    return (
      `packets/bin p ${fmtPv(t('packets_per_bin'))}, bytes/bin p ${fmtPv(t('bytes_per_bin'))}, ` +
      `size p ${fmtPv(t('size'))}${byBlocks(t('size'), r.alpha)}, gap p ${fmtPv(t('iat'))}${byBlocks(t('iat'), r.alpha)}, ` +
      `χ² p ${fmtPv(t('size_histogram', 'chi2'))}` +
      `${x.adversary ? `, observer AUC ${fmtAuc(x.adversary)}` : ''}`
    );
  };
  return (
    `the learned half itself against the hold-out (what a perfect imitation of the learned traffic scores): ${scores(l)}` +
    `${l.reverse ? `; its reverse direction against the hold-out's: ${scores(l.reverse)}` : ''}`
  );
}

/** What the "by blocks" columns are, when a link was tested so; else undefined. */
export function blocksLine(r: BenchResult): string | undefined {
  const b = r.runs.flatMap((x) => x.links.flatMap((l) => l.tests)).find((t) => t.blocks !== undefined)?.blocks;
  if (b === undefined) return undefined;
  return (
    `"by blocks" (per bin, sizes, gaps): the same D, its p-value from dealing whole ${b.blockSeconds} s blocks of the ` +
    'link and the hold-out to the two sides at random (smig analyze --blocks): packets and busy bins come in bursts, ' +
    "and the p beside it, which counts every packet or bin as an independent draw, rejects even the capture's own halves"
  );
}

/** ` (by 5 s blocks: p 0.54)` for a test with a p-value by blocks, else ''. */
function byBlocks(t: BenchTest | undefined, alpha: number): string {
  return t?.blocks ? ` (by ${t.blocks.blockSeconds} s blocks: p ${fmtBlocks(t, alpha)})` : '';
}

/** How many of the learned half's stretches as long as the link were rejected per bin (packets or bytes, the more), or ''. */
function stretchNote(x: BenchRow): string {
  const most = mostRejected([x.packets, x.bytes]);
  return most ? ` (learned-half stretches as long: ${most.rejected} of ${most.count} rejected per bin)` : '';
}

/** Header and cells of the table of one strategy's runs (strings, for text, Markdown and HTML). */
export function strategyTable(r: BenchResult, strategy: BenchRun['strategy']): { head: string[]; rows: string[][] } {
  const head = [
    'size',
    'time s',
    '÷ lower bound',
    'overhead',
    'not payload',
    'link',
    'pkt/bin D',
    'p',
    'by blocks',
    'n/m',
    'bytes/bin D',
    'p',
    'by blocks',
    'size D',
    'p',
    'by blocks',
    'gap D',
    'p',
    'by blocks',
    'χ² p',
    'verdict',
  ];
  const all = benchRows(r).filter((x) => x.strategy === strategy);
  const withAdversary = all.some((x) => x.adversary !== undefined);
  const rows = all.map((x) => [
    String(x.size),
    x.seconds.toFixed(2),
    x.ratio.toFixed(3),
    `${(x.overhead * 100).toFixed(1)} %`,
    x.wireOverhead === undefined ? '-' : `${(x.wireOverhead * 100).toFixed(1)} %`,
    x.link,
    fmtD(x.packets),
    fmtPv(x.packets),
    fmtBlocks(x.packets, r.alpha),
    fmtN(x.packets),
    fmtD(x.bytes),
    fmtPv(x.bytes),
    fmtBlocks(x.bytes, r.alpha),
    fmtD(x.size_),
    fmtPv(x.size_),
    fmtBlocks(x.size_, r.alpha),
    fmtD(x.iat),
    fmtPv(x.iat),
    fmtBlocks(x.iat, r.alpha),
    fmtPv(x.chi2),
    ...(withAdversary ? [fmtAuc(x.adversary, r.alpha)] : []),
    binVerdict(
      { distinguishable: x.distinguishable, tests: [x.packets, x.bytes].filter((t) => t !== undefined) },
      r.alpha,
    ) + stretchNote(x),
  ]);
  if (withAdversary) head.splice(head.length - 1, 0, 'observer AUC [95 % CI]');
  return { head, rows };
}

/** Header and cells of the CPU and memory table (one row per run and role). */
export function resourceTable(r: BenchResult): { head: string[]; rows: string[][] } {
  const head = ['strategy', 'size', 'role', 'CPU s', 'CPU s per MB', 'peak RSS MiB'];
  const rows = r.runs.flatMap((run) =>
    Object.entries(run.resources).map(([role, x]) => [
      run.strategy,
      String(run.size),
      role,
      x.cpuSeconds.toFixed(3),
      (x.cpuSeconds / (run.size / 1e6)).toFixed(3),
      (x.maxRssKiB / 1024).toFixed(1),
    ]),
  );
  return { head, rows };
}

/** The strategies of a result in run order, `plain` first. */
export function strategiesOf(r: BenchResult): BenchRun['strategy'][] {
  return [...new Set(r.runs.map((x) => x.strategy))];
}

/** Figure 3: migration time against size, log-log, one line per class, and the lower bound dashed. */
export function timeFigureSpec(r: BenchResult): TopLevelSpec {
  const rows = r.runs.map((x) => ({ c: classLabel(x.strategy), size: x.size, s: x.seconds }));
  const sizes = [...new Set(r.runs.map((x) => x.size))].sort((a, b) => a - b);
  const bound = sizes.map((size) => ({
    c: 'lower bound (size ÷ normal mean rate)',
    size,
    s: size / r.normal.meanByteRate,
  }));
  const domain = [...new Set([...rows.map((x) => x.c), bound[0]?.c ?? ''])].filter((x) => x !== '');
  const enc = {
    x: {
      field: 'size',
      type: 'quantitative',
      title: 'payload size (bytes)',
      scale: { type: 'log' },
      axis: { labelExpr: "format(datum.value, '~s')" },
    },
    y: { field: 's', type: 'quantitative', title: 'time (s)', scale: { type: 'log' } },
    color: { field: 'c', type: 'nominal', title: 'class', scale: { domain } },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Figure 3: migration time against size',
      subtitle: `smig bench on ${r.hosts}; ${r.layout.dataRelays} data relays, ${r.layout.threshold}-of-${r.layout.keyRelays} key shares`,
      anchor: 'start',
    },
    width: 560,
    height: 340,
    layer: [
      { data: { values: rows }, mark: { type: 'line', point: true }, encoding: enc },
      {
        data: { values: bound },
        mark: { type: 'line', strokeDash: [4, 4], color: '#888' },
        encoding: { ...enc, color: { ...enc.color } },
      },
    ],
    config: { legend: { labelLimit: 0, orient: 'right' } },
  } as TopLevelSpec;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (text: string): string => text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);

function htmlTable(t: { head: string[]; rows: string[][] }): string {
  return `<table><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${t.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}

function mdTable(t: { head: string[]; rows: string[][] }): string {
  return [
    `| ${t.head.join(' | ')} |`,
    `|${t.head.map(() => '---').join('|')}|`,
    ...t.rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The link figures 4–6 show: the source's first data link (the one the paper's figures watch). */
const FIGURE_LINK = 'source → data relay 1';

/** Per-second packet counts of one class, dense (rows of `smig analyze --json` are [bin, packets, bytes]). */
interface RateSeries {
  name: string;
  packets: number[];
}

/**
 * Figures 4–6: packets per second over time, one panel per class as in the paper (normal, traditional migration,
 * stealth), a shared time axis and each panel its own y scale (a bulk burst would flatten the others).
 */
export function rateFigureSpec(series: readonly RateSeries[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Figures 4–6: packets per second', subtitle: title, anchor: 'start' },
    vconcat: series.map((s) => {
      const peak = Math.max(0, ...s.packets);
      const mean = s.packets.length === 0 ? 0 : s.packets.reduce((a, b) => a + b, 0) / s.packets.length;
      return {
        title: {
          text: s.name,
          subtitle: `mean ${mean.toFixed(1)} packets/s, peak ${peak} packets/s, ${s.packets.length} s`,
          anchor: 'start',
          fontSize: 12,
        },
        width: 640,
        height: 90,
        // step-after through the end of the last bin, so every bin (a one-bin burst too) is a visible segment
        data: {
          values: [
            ...s.packets.map((v, t) => ({ t, v })),
            ...(s.packets.length > 0 ? [{ t: s.packets.length, v: s.packets.at(-1)! }] : []),
          ],
        },
        mark: { type: 'line', strokeWidth: 1, interpolate: 'step-after' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds from the first packet' },
          y: { field: 'v', type: 'quantitative', title: 'packets/s' },
        },
      };
    }),
    resolve: { scale: { x: 'shared', y: 'independent' } },
    spacing: 16,
  } as TopLevelSpec;
}

/**
 * Writes figure 3, figures 4–6 (per-second packet counts of the normal reference and of the largest size's runs on
 * the figure link), the detail figure (`smig analyze --plot`: rates, bytes and every test's ECDFs), report.html
 * and report.md next to the JSON.
 */
export async function writeBenchReport(
  r: BenchResult,
  ref: { reference: string; referenceFilter: string | null },
): Promise<void> {
  writeFileSync(r.files.timeFigure, await renderSvg(timeFigureSpec(r)));
  const largest = Math.max(...r.runs.map((x) => x.size));
  const classes = r.runs
    .filter((x) => x.size === largest && x.kind === 'migration')
    .map((x) => {
      const l = x.links.find((y) => y.link === FIGURE_LINK) ?? x.links[0]!;
      return ['--class', `${x.strategy}=${l.capture}@${l.filter}`];
    });
  const normal = ref.referenceFilter === null ? ref.reference : `${ref.reference}@${ref.referenceFilter}`;
  const argv = ['analyze', '--no-progress', '--bin', '1s', '--class', `normal=${normal}`, ...classes.flat()];
  await runOk('smig analyze --plot', [...argv, '--plot', r.files.detailFigure]);
  const j = JSON.parse((await runOk('smig analyze --json', [...argv, '--json'])).stdout) as {
    captures: { name: string; series: { bins: number; rows: [number, number, number][] } }[];
  };
  const label = (name: string): string =>
    name === 'normal' ? 'normal traffic (hold-out)' : classLabel(name as BenchRun['strategy']);
  const series = j.captures.map((c) => {
    const packets = new Array<number>(c.series.bins).fill(0);
    for (const [i, p] of c.series.rows) packets[i] = p;
    return { name: label(c.name), packets };
  });
  writeFileSync(
    r.files.rateFigure,
    await renderSvg(rateFigureSpec(series, `${FIGURE_LINK}, ${largest} bytes; normal: the capture's data direction`)),
  );
  const rates = readFileSync(r.files.rateFigure, 'utf8');
  const detail = readFileSync(r.files.detailFigure, 'utf8');
  const time = readFileSync(r.files.timeFigure, 'utf8');
  const heldOut = basename(r.normal.reference) === 'normal-holdout.pcap';
  const setup =
    `${r.hosts === 'lab' ? 'network-namespace lab (one host per role)' : 'loopback (every process on 127.0.0.1)'}` +
    `${r.link ? ` with links like the capture's (MTU ${r.link.mtu}, TCP timestamps ${r.link.tcpTimestamps ? 'on' : 'off'})` : ''}; ` +
    `normal capture ${basename(r.normal.capture)}${r.normal.filter ? ` (data direction: ${r.normal.filter})` : ''}, profile mean ${r.normal.meanByteRate.toFixed(0)} B/s; ` +
    `each link's data direction tested on ${r.bin} bins at α = ${r.alpha} against ${heldOut ? `the hold-out: one ${r.normal.splitSeconds ?? 5} s block of each pair of the capture (${(r.normal.splitSeed ?? 0) === 0 ? 'the odd ones' : `drawn with split seed ${r.normal.splitSeed}`}), the profile learned the others` : 'the whole capture'}`;
  const strategies = strategiesOf(r);
  const criteria = criteriaLines(r);
  const html = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<title>smig bench</title>',
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:0 0 1.5em}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}td{font-variant-numeric:tabular-nums}</style>',
    '</head>',
    '<body>',
    '<h1>smig bench</h1>',
    `<p>${esc(setup)}. ${esc(r.created)}.</p>`,
    '<h2>Figure 3: time against size</h2>',
    `<figure>${time}</figure>`,
    `<h2>Figures 4–6: packets per second on the link ${esc(FIGURE_LINK)} (${largest} bytes)</h2>`,
    `<figure>${rates}</figure>`,
    '<h2>Detail: packets and bytes per second, and the ECDFs of every test on that link</h2>',
    `<figure>${detail}</figure>`,
    ...(adversaryBaselineLine(r) ? [`<p>${esc(adversaryBaselineLine(r)!)}</p>`] : []),
    ...(learnedHalfLine(r) ? [`<p>${esc(learnedHalfLine(r)!)}</p>`] : []),
    ...(blocksLine(r) ? [`<p>${esc(blocksLine(r)!)}</p>`] : []),
    ...(criteria.length > 0
      ? [
          `<p>${esc(criteria[0]!)}</p>`,
          `<ul>${criteria
            .slice(1)
            .map((x) => `<li>${esc(x.slice(2))}</li>`)
            .join('')}</ul>`,
        ]
      : []),
    ...strategies.flatMap((s) => {
      const rev = reverseTable(r, s);
      const keys = keyFlowTable(r, s);
      const polls = keyFlowTable(r, s, 'pollFlows');
      const fid = fidelityTable(r, s);
      const hops = hopTable(r, s);
      return [
        `<h2>${esc(classLabel(s))}</h2>`,
        htmlTable(strategyTable(r, s)),
        ...(rev ? [`<p>reverse directions${rev.baseline ? ` (${esc(rev.baseline)})` : ''}</p>`, htmlTable(rev)] : []),
        ...(fid ? [`<p>${esc(FIDELITY_CAPTION)}</p>`, htmlTable(fid)] : []),
        ...(keys ? [`<p>${esc(keys.caption)}</p>`, htmlTable(keys)] : []),
        ...(polls ? [`<p>${esc(polls.caption)}</p>`, htmlTable(polls)] : []),
        ...(hops ? [`<p>${esc(HOP_CAPTION)}</p>`, htmlTable(hops)] : []),
      ];
    }),
    '<h2>CPU and memory per role</h2>',
    htmlTable(resourceTable(r)),
    '</body>',
    '</html>',
    '',
  ].join('\n');
  writeFileSync(r.files.report, html);
  const md = [
    '# smig bench',
    '',
    `${setup}. ${r.created}.`,
    '',
    '![Figure 3](fig3-time.svg)',
    '',
    `![Figures 4–6](fig4-6-rates.svg)`,
    '',
    `Detail (bytes per second, the ECDFs of every test on ${FIGURE_LINK}): [links-detail.svg](links-detail.svg)`,
    '',
    ...(adversaryBaselineLine(r) ? [adversaryBaselineLine(r)!, ''] : []),
    ...(learnedHalfLine(r) ? [learnedHalfLine(r)!, ''] : []),
    ...(blocksLine(r) ? [blocksLine(r)!, ''] : []),
    ...(criteria.length > 0 ? [...criteria, ''] : []),
    ...strategies.flatMap((s) => {
      const rev = reverseTable(r, s);
      const keys = keyFlowTable(r, s);
      const polls = keyFlowTable(r, s, 'pollFlows');
      const fid = fidelityTable(r, s);
      const hops = hopTable(r, s);
      return [
        `## ${classLabel(s)}`,
        '',
        mdTable(strategyTable(r, s)),
        '',
        ...(rev ? [`Reverse directions${rev.baseline ? ` (${rev.baseline})` : ''}:`, '', mdTable(rev), ''] : []),
        ...(fid ? [`${FIDELITY_CAPTION}:`, '', mdTable(fid), ''] : []),
        ...(keys ? [`${keys.caption[0]!.toUpperCase()}${keys.caption.slice(1)}:`, '', mdTable(keys), ''] : []),
        ...(polls ? [`${polls.caption[0]!.toUpperCase()}${polls.caption.slice(1)}:`, '', mdTable(polls), ''] : []),
        ...(hops ? [`${HOP_CAPTION[0]!.toUpperCase()}${HOP_CAPTION.slice(1)}:`, '', mdTable(hops), ''] : []),
      ];
    }),
    '## CPU and memory per role',
    '',
    mdTable(resourceTable(r)),
    '',
  ].join('\n');
  writeFileSync(r.files.report.replace(/\.html$/, '.md'), md);
}
