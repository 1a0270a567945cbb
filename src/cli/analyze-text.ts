/** `smig analyze`'s text output: the classes, their flows, the tests against the reference and the verdicts. */
import type { AnalysisResult } from '../analysis/analyze.js';
import { blocksCanReject } from '../analysis/block-ks.js';
import { ksCanReject } from '../analysis/ks.js';
import { nsToDecimal, protoName } from '../analysis/report.js';
import { formatDuration } from '../util/units.js';
import type { CliIO } from './io.js';
import { formatNumber, table } from './table.js';

/** Writes the tables of `result` to stdout (`flows`: flows listed per class). */
export function writeAnalysisText(result: AnalysisResult, io: CliIO, flows: number): void {
  const bin = Number(result.binNs) / 1e9;
  const binLabel = formatDuration(result.binNs);
  io.stdout.write(`Traffic classes (bin ${binLabel}; rates per second)\n`);
  io.stdout.write(
    table(
      [
        'class',
        'format',
        'link',
        'packets',
        'bytes',
        'duration s',
        'bins',
        'pkt/s mean',
        'pkt/s sd',
        'B/s mean',
        'B/s sd',
        'size mean',
        'iat p50 s',
        'fano 10ms',
        'fano 100ms',
        'fano 1s',
      ],
      result.classes.map((c) => {
        const s = c.summaries;
        const t = c.traffic;
        const dur = t.minNs === undefined || t.maxNs === undefined ? 0 : Number(t.maxNs - t.minNs) / 1e9;
        return [
          c.name,
          c.info.format + (c.info.gzip ? '.gz' : ''),
          c.info.linktypes.join(','),
          t.packets,
          t.bytes,
          dur,
          t.binCount,
          s.packets_per_bin.mean / bin,
          s.packets_per_bin.sd / bin,
          s.bytes_per_bin.mean / bin,
          s.bytes_per_bin.sd / bin,
          s.size.mean,
          s.iat.p50,
          ...c.fano.map((f) => f.value ?? NaN),
        ];
      }),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const c of result.classes) {
    const first = c.traffic.minNs;
    io.stdout.write(
      `\nFlows of ${c.name} (${c.flows.length} in all${first === undefined ? '' : `, from ${nsToDecimal(first)}`}), largest first\n`,
    );
    if (c.flows.length === 0) continue;
    io.stdout.write(
      table(
        [
          'proto',
          'originator',
          'responder',
          'start +s',
          'duration s',
          'orig pkts',
          'orig bytes',
          'resp pkts',
          'resp bytes',
        ],
        c.flows
          .slice(0, flows)
          .map((f) => [
            protoName(f.protocol),
            endpoint(f.src, f.srcPort),
            endpoint(f.dst, f.dstPort),
            first === undefined ? 0 : Number(f.startNs - first) / 1e9,
            Number(f.endNs - f.startNs) / 1e9,
            f.origPackets,
            f.origBytes,
            f.respPackets,
            f.respBytes,
          ]),
        ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (result.comparisons.length > 0) {
    io.stdout.write(
      `\nAgainst the reference ${result.classes[0]!.name} (alpha ${result.alpha}; critical: KS two-sided asymptotic D, χ² quantile)\n`,
    );
    io.stdout.write(
      table(
        ['subject', 'feature', 'test', 'statistic', 'p-value', 'n', 'm', 'critical', 'verdict'],
        result.comparisons.map((r) => [
          r.subject,
          r.feature,
          r.test + (r.method ? ` ${r.method}` : r.df !== undefined ? ` df=${r.df}` : ''),
          r.statistic,
          r.pvalue,
          r.n,
          r.m,
          r.critical,
          (r.distinguishable ? 'distinguishable' : 'not distinguishable') +
            (r.test === 'ks' && !ksCanReject(r.n, r.m, result.alpha) ? ' (too few values to reject)' : '') +
            (r.stretches ? ` (normal stretches: ${r.stretches.rejected} of ${r.stretches.count})` : '') +
            (r.blocks
              ? `; by ${formatNumber(r.blocks.blockSeconds)} s blocks (${r.blocks.blocks.join(' and ')}): p ${formatNumber(r.blocks.pvalue)}${r.blocks.distinguishable ? ', distinguishable' : !blocksCanReject(r.blocks, result.alpha) ? ` (${r.blocks.deals} deals: too few to reject)` : ''}`
              : ''),
        ]),
        ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
    );
    io.stdout.write('\nVerdict (any test rejecting at alpha ÷ tests, Bonferroni)\n');
    io.stdout.write(
      table(
        ['subject', 'tests', 'rejected', 'alpha/test', 'verdict'],
        result.verdicts.map((v) => [
          v.subject,
          v.tests,
          v.rejected,
          formatNumber(v.alphaPerTest),
          v.distinguishable ? 'DISTINGUISHABLE' : 'not distinguishable',
        ]),
        ['l', 'r', 'r', 'r', 'l'],
      ),
    );
  }
}

function endpoint(addr: string, port: number): string {
  if (port < 0) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
