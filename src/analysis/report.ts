/**
 * The analysis result as data for scripts: the JSON document of `smig analyze --json` (schema in the README),
 * the CSV files of `--csv DIR`, and the input of the plot. Timestamps go out as exact decimal strings.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnalysisResult, ClassResult, Comparison, Feature } from './analyze.js';
import { FEATURES } from './analyze.js';
import type { AnalysisPlotInput, PlotEcdf } from './plot.js';
import { ecdfPoints } from './stats.js';

export const REPORT_VERSION = 1;

/** Exact decimal seconds of a nanosecond timestamp: 1525449484123456789n → "1525449484.123456789". */
export function nsToDecimal(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

export interface ClassJson {
  name: string;
  file: string;
  filter: string | null;
  format: string;
  gzip: boolean;
  endianness: string;
  tsResolution: string;
  linktypes: number[];
  packetsRead: number;
  packets: number;
  bytes: number;
  capturedBytes: number;
  firstTs: string | null;
  lastTs: string | null;
  earliestTs: string | null;
  latestTs: string | null;
  duration: number;
  series: { t0: string | null; bin: number; binNs: string; bins: number; rows: [number, number, number][] };
  distributions: Record<Feature, object>;
  fano: Record<string, number | null>;
  flows: object[];
  warnings: { code: string; offset: number; message: string }[];
}

/** The JSON document of `smig analyze --json`. */
export function analysisToJson(result: AnalysisResult): {
  version: number;
  bin: number;
  binNs: string;
  alpha: number;
  captures: ClassJson[];
  comparisons: Comparison[];
  verdicts: object[];
} {
  return {
    version: REPORT_VERSION,
    bin: Number(result.binNs) / 1e9,
    binNs: result.binNs.toString(),
    alpha: result.alpha,
    captures: result.classes.map(classToJson),
    comparisons: result.comparisons,
    verdicts: result.verdicts,
  };
}

function classToJson(c: ClassResult): ClassJson {
  const t = c.traffic;
  const rows: [number, number, number][] = [...t.bins.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, [p, b]]) => [i, p, b]);
  const distributions = {} as Record<Feature, object>;
  for (const f of FEATURES) distributions[f] = c.summaries[f];
  return {
    name: c.name,
    file: c.file,
    filter: c.filter ?? null,
    format: c.info.format,
    gzip: c.info.gzip,
    endianness: c.info.endianness,
    tsResolution: c.info.tsResolution,
    linktypes: c.info.linktypes,
    packetsRead: t.packetsRead,
    packets: t.packets,
    bytes: t.bytes,
    capturedBytes: t.capturedBytes,
    firstTs: t.firstNs === undefined ? null : nsToDecimal(t.firstNs),
    lastTs: t.lastNs === undefined ? null : nsToDecimal(t.lastNs),
    earliestTs: t.minNs === undefined ? null : nsToDecimal(t.minNs),
    latestTs: t.maxNs === undefined ? null : nsToDecimal(t.maxNs),
    duration: t.minNs === undefined || t.maxNs === undefined ? 0 : Number(t.maxNs - t.minNs) / 1e9,
    series: {
      t0: t.minNs === undefined ? null : nsToDecimal(t.baseNs),
      bin: Number(t.binNs) / 1e9,
      binNs: t.binNs.toString(),
      bins: t.binCount,
      rows,
    },
    distributions,
    fano: Object.fromEntries(c.fano.map((f) => [`${Number(f.windowNs) / 1e6}ms`, f.value])),
    flows: c.flows.map(flowToJson),
    warnings: c.info.warnings,
  };
}

function flowToJson(f: ClassResult['flows'][number]): object {
  return {
    proto: protoName(f.protocol),
    src: f.src,
    srcPort: f.srcPort,
    dst: f.dst,
    dstPort: f.dstPort,
    start: nsToDecimal(f.startNs),
    duration: Number(f.endNs - f.startNs) / 1e9,
    origPackets: f.origPackets,
    origBytes: f.origBytes,
    respPackets: f.respPackets,
    respBytes: f.respBytes,
  };
}

/** Name of an IP protocol number as Zeek's conn.log writes it. */
export function protoName(p: number): string {
  switch (p) {
    case 6:
      return 'tcp';
    case 17:
      return 'udp';
    case 1:
      return 'icmp';
    case 58:
      return 'icmp6';
    case 132:
      return 'sctp';
    case -1:
      return '-';
    default:
      return String(p);
  }
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(header: string[], rows: unknown[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** A file-system-safe stem for a class name. */
function stem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_') || 'class';
}

/** Writes `summary.csv`, `comparisons.csv`, and per class `NAME.series.csv` and `NAME.flows.csv` into `dir`. */
export async function writeAnalysisCsv(result: AnalysisResult, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (file: string, text: string): Promise<void> => {
    const path = join(dir, file);
    await writeFile(path, text);
    written.push(path);
  };
  const json = analysisToJson(result);
  await put(
    'summary.csv',
    csv(
      [
        'name',
        'file',
        'format',
        'linktypes',
        'packets',
        'bytes',
        'captured_bytes',
        'earliest',
        'latest',
        'duration_s',
        'bins',
        'pps_mean',
        'pps_sd',
        'bps_mean',
        'bps_sd',
        'fano_10ms',
        'fano_100ms',
        'fano_1s',
      ],
      json.captures.map((c, i) => {
        const s = result.classes[i]!.summaries;
        const binS = json.bin;
        return [
          c.name,
          c.file,
          c.format,
          c.linktypes.join(' '),
          c.packets,
          c.bytes,
          c.capturedBytes,
          c.earliestTs,
          c.latestTs,
          c.duration,
          c.series.bins,
          s.packets_per_bin.mean / binS,
          s.packets_per_bin.sd / binS,
          s.bytes_per_bin.mean / binS,
          s.bytes_per_bin.sd / binS,
          c.fano['10ms'],
          c.fano['100ms'],
          c.fano['1000ms'],
        ];
      }),
    ),
  );
  await put(
    'comparisons.csv',
    csv(
      [
        'reference',
        'subject',
        'feature',
        'test',
        'statistic',
        'pvalue',
        'n',
        'm',
        'critical',
        'alpha',
        'distinguishable',
        'block_s',
        'block_pvalue',
      ],
      result.comparisons.map((r) => [
        r.reference,
        r.subject,
        r.feature,
        r.test,
        r.statistic,
        r.pvalue,
        r.n,
        r.m,
        r.critical,
        r.alpha,
        r.distinguishable,
        r.blocks?.blockSeconds ?? '',
        r.blocks?.pvalue ?? '',
      ]),
    ),
  );
  for (const c of json.captures) {
    await put(
      `${stem(c.name)}.series.csv`,
      csv(
        ['bin', 't_rel_s', 'packets', 'bytes'],
        c.series.rows.map(([i, p, b]) => [i, i * c.series.bin, p, b]),
      ),
    );
    await put(
      `${stem(c.name)}.flows.csv`,
      csv(
        [
          'proto',
          'src',
          'src_port',
          'dst',
          'dst_port',
          'start',
          'duration',
          'orig_pkts',
          'orig_bytes',
          'resp_pkts',
          'resp_bytes',
        ],
        c.flows.map((f) => Object.values(f)),
      ),
    );
  }
  return written;
}

const UNITS: Record<Feature, string> = {
  packets_per_bin: 'packets',
  bytes_per_bin: 'bytes',
  size: 'bytes',
  iat: 'seconds',
};

/** The input of `renderAnalysisPlot`: dense per-bin series of every class and the ECDFs behind each KS test. */
export function analysisPlotInput(result: AnalysisResult, title: string): AnalysisPlotInput {
  const series = result.classes.map((c) => {
    const t = c.traffic;
    const n = t.binCount;
    // dense arrays only up to a bound: the plot downsamples anyway; a 2.6-year capture with 1 s bins is cut
    const len = Math.min(n, 2_000_000);
    const packets = new Float64Array(len);
    const bytes = new Float64Array(len);
    for (const [i, [p, b]] of t.bins) {
      if (i < len) {
        packets[i] = p;
        bytes[i] = b;
      }
    }
    return { name: c.name, binSeconds: Number(t.binNs) / 1e9, packets, bytes };
  });
  const ecdfs: PlotEcdf[] = [];
  for (const r of result.comparisons) {
    if (r.test !== 'ks' || r.feature === 'size_histogram') continue;
    const feature = r.feature;
    const ref = result.classes.find((c) => c.name === r.reference)!;
    const sub = result.classes.find((c) => c.name === r.subject)!;
    ecdfs.push({
      feature,
      unit: UNITS[feature],
      reference: r.reference,
      subject: r.subject,
      ref: ecdfPoints(ref.samples[feature], 500),
      sub: ecdfPoints(sub.samples[feature], 500),
      statistic: r.statistic,
      pvalue: r.pvalue,
      n: r.n,
      m: r.m,
      distinguishable: r.distinguishable,
    });
  }
  return { title, series, ecdfs };
}
