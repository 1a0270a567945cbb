/** `smig analyze`: packet-rate distributions and distinguishability tests between traffic classes. */
import { Option } from 'commander';
import type { Command } from 'commander';
import { smigError } from '../../errors.js';
import { formatDuration, parseDuration } from '../../util/units.js';
import { argParser, collect } from '../io.js';
import type { CliIO } from '../io.js';
import { formatNumber, table } from '../table.js';
import type { CommandSpec } from './index.js';

interface AnalyzeFlags {
  class?: string[];
  filter?: string;
  bin: bigint;
  from?: bigint;
  to?: bigint;
  window?: string[];
  alpha: number;
  json?: boolean;
  csv?: string;
  plot?: string;
  flows: number;
  maxSamples: number;
  progress?: boolean;
}

function parseAlpha(text: string): number {
  const a = Number(text);
  if (!(a > 0 && a < 1)) throw smigError('SMIG_ERR_USAGE', `'${text}' is not a significance level between 0 and 1`);
  return a;
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw smigError('SMIG_ERR_USAGE', `'${text}' is not a whole number`);
  return n;
}

function parseBin(text: string): bigint {
  const ns = parseDuration(text, 'bin');
  if (ns < 1000n) throw smigError('SMIG_ERR_BAD_DURATION', `bin: '${text}' is shorter than 1us`);
  return ns;
}

export const analyzeCommand: CommandSpec = {
  name: 'analyze',
  summary: 'compare traffic classes in pcap/pcapng captures: rates, sizes, gaps, flows, KS and χ² tests',
  examples: [
    'smig analyze normal.pcap migration.pcapng',
    'smig analyze --class normal=site.pcap@"not port 22" --class stealth=run.pcap@"port 7000" --bin 100ms',
    'smig analyze captures/*.pcap --json > report.json',
    'smig analyze a.pcap.gz b.pcap --csv out/ --plot out/report.html',
    'smig analyze --bin 500ms --class normal=site.pcap --class stealth=run.pcap@"port 7000" --window normal=45s..',
  ],
  configure(cmd: Command): void {
    cmd
      .argument('[capture...]', 'capture files (pcap, pcapng, optionally gzip-compressed; - for stdin); each is a class, the first the reference. ' +
        'A .gz is inflated as it is read, in constant memory: the time follows the inflated size (a 1 MiB gzip bomb of 1 GiB takes ~25 s)')
      .option('--class <name=capture[@filter]>', 'a named traffic class, optionally with its own filter (repeatable)', collect)
      .option('-f, --filter <expr>', 'filter applied to every class (tcpdump syntax subset: host, net, port, portrange, src, dst, tcp, udp, icmp, ip, ip6, and, or, not)')
      .addOption(new Option('--bin <dur>', 'bin width for rates: 1us … hours').argParser(argParser(parseBin)).default(1_000_000_000n, '1s'))
      .option('--from <dur>', 'keep packets from DUR after each class\'s earliest packet (bins start there)', argParser((t) => parseDuration(t, '--from')))
      .option('--to <dur>', 'keep packets up to DUR after each class\'s earliest packet', argParser((t) => parseDuration(t, '--to')))
      .option('--window <name=from..to>', 'a time window for one class, overriding --from/--to (either end may be empty) (repeatable)', collect)
      .option('--alpha <a>', 'significance level of the tests', argParser(parseAlpha), 0.05)
      .option('--json', 'print the whole result as JSON on stdout')
      .option('--csv <dir>', 'write summary, comparisons, series and flows as CSV files into DIR')
      .option('--plot <file>', 'write plots (packets/s over time, ECDFs of each test) to FILE.svg or FILE.html')
      .option('--flows <n>', 'flows listed per class in the text output (all are in --json/--csv)', argParser(parseCount), 10)
      .option('--max-samples <n>', 'inter-arrival times kept per class (a uniform sample beyond)', argParser(parseCount), 1_000_000)
      .option('--no-progress', 'no progress line on stderr, even on a terminal');
  },
  async run(args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as AnalyzeFlags;
    const { analyze, defaultClassName, parseClassSpec } = await import('../../analysis/analyze.js');
    const { analysisToJson, analysisPlotInput, writeAnalysisCsv, protoName, nsToDecimal } = await import('../../analysis/report.js');
    if (opts.json && opts.csv) throw smigError('SMIG_ERR_USAGE', '--json and --csv exclude each other');
    const classes = [...args.map((file) => ({ name: defaultClassName(file), file })), ...(opts.class ?? []).map(parseClassSpec)];
    if (classes.length === 0) throw smigError('SMIG_ERR_USAGE', 'no capture given (smig analyze CAPTURE... or --class NAME=CAPTURE)');
    for (const c of classes as { name: string; fromNs?: bigint; toNs?: bigint }[]) {
      if (opts.from !== undefined) c.fromNs = opts.from;
      if (opts.to !== undefined) c.toNs = opts.to;
    }
    for (const w of opts.window ?? []) {
      const eq = w.indexOf('=');
      const range = w.slice(eq + 1).split('..');
      if (eq <= 0 || range.length !== 2) throw smigError('SMIG_ERR_USAGE', `--window: '${w}' is not NAME=FROM..TO (e.g. normal=45s..90s, normal=..45s)`);
      const name = w.slice(0, eq);
      const target = classes.find((c) => c.name === name) as { fromNs?: bigint; toNs?: bigint } | undefined;
      if (!target) throw smigError('SMIG_ERR_USAGE', `--window: no class named '${name}' (classes: ${classes.map((c) => c.name).join(', ')})`);
      target.fromNs = range[0] === '' ? undefined : parseDuration(range[0]!, '--window');
      target.toNs = range[1] === '' ? undefined : parseDuration(range[1]!, '--window');
    }
    const names = new Set<string>();
    for (const c of classes) {
      if (names.has(c.name)) c.name = `${c.name}#${classes.indexOf(c) + 1}`;
      names.add(c.name);
    }
    if (classes.filter((c) => c.file === '-').length > 1) throw smigError('SMIG_ERR_USAGE', 'stdin (-) can be only one of the captures');
    let plotFormat: 'svg' | 'html' | undefined;
    if (opts.plot) {
      const { plotFormatFor } = await import('../../analysis/plot.js');
      plotFormat = plotFormatFor(opts.plot);
    }
    const showProgress = opts.progress !== false && io.stderr.isTTY === true;
    let lastDraw = 0;
    const result = await analyze({
      classes,
      filter: opts.filter,
      binNs: opts.bin,
      alpha: opts.alpha,
      maxSamples: opts.maxSamples,
      onProgress: showProgress
        ? (file, read, total) => {
            const now = Date.now();
            if (now - lastDraw < 200) return;
            lastDraw = now;
            const pct = total ? ` ${((100 * read) / total).toFixed(0)}%` : '';
            io.stderr.write(`\r${file}: ${(read / 1e6).toFixed(0)} MB${pct}   `);
          }
        : undefined,
    });
    if (showProgress && lastDraw > 0) io.stderr.write('\r\x1b[K');
    for (const c of result.classes) for (const w of c.info.warnings) io.stderr.write(`smig analyze: warning: ${w.message}\n`);

    if (opts.plot && plotFormat) {
      const { renderAnalysisPlot } = await import('../../analysis/plot.js');
      const { writeFile } = await import('node:fs/promises');
      const text = await renderAnalysisPlot(analysisPlotInput(result, `smig analyze — bin ${formatDuration(result.binNs)}`), plotFormat);
      await writeFile(opts.plot, text).catch((e: NodeJS.ErrnoException) => {
        throw smigError('SMIG_ERR_FILE', `--plot: cannot write ${opts.plot}: ${e.code ?? e.message}`);
      });
      io.stderr.write(`smig analyze: plot written to ${opts.plot}\n`);
    }
    if (opts.csv) {
      const files = await writeAnalysisCsv(result, opts.csv);
      io.stderr.write(`smig analyze: ${files.length} CSV files written to ${opts.csv}\n`);
    }
    if (opts.json) {
      io.stdout.write(JSON.stringify(analysisToJson(result), null, 2) + '\n');
      return 0;
    }
    if (opts.csv) return 0;

    const bin = Number(result.binNs) / 1e9;
    const binLabel = formatDuration(result.binNs);
    io.stdout.write(`Traffic classes (bin ${binLabel}; rates per second)\n`);
    io.stdout.write(table(
      ['class', 'format', 'link', 'packets', 'bytes', 'duration s', 'bins', 'pkt/s mean', 'pkt/s sd', 'B/s mean', 'B/s sd', 'size mean', 'iat p50 s', 'fano 10ms', 'fano 100ms', 'fano 1s'],
      result.classes.map((c) => {
        const s = c.summaries;
        const t = c.traffic;
        const dur = t.minNs === undefined || t.maxNs === undefined ? 0 : Number(t.maxNs - t.minNs) / 1e9;
        return [c.name, c.info.format + (c.info.gzip ? '.gz' : ''), c.info.linktypes.join(','), t.packets, t.bytes, dur, t.binCount,
          s.packets_per_bin.mean / bin, s.packets_per_bin.sd / bin, s.bytes_per_bin.mean / bin, s.bytes_per_bin.sd / bin,
          s.size.mean, s.iat.p50, ...c.fano.map((f) => f.value ?? NaN)];
      }),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ));
    for (const c of result.classes) {
      const first = c.traffic.minNs;
      io.stdout.write(`\nFlows of ${c.name} (${c.flows.length} in all${first === undefined ? '' : `, from ${nsToDecimal(first)}`}), largest first\n`);
      if (c.flows.length === 0) continue;
      io.stdout.write(table(
        ['proto', 'originator', 'responder', 'start +s', 'duration s', 'orig pkts', 'orig bytes', 'resp pkts', 'resp bytes'],
        c.flows.slice(0, opts.flows).map((f) => [protoName(f.protocol), endpoint(f.src, f.srcPort), endpoint(f.dst, f.dstPort),
          first === undefined ? 0 : Number(f.startNs - first) / 1e9, Number(f.endNs - f.startNs) / 1e9, f.origPackets, f.origBytes, f.respPackets, f.respBytes]),
        ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ));
    }
    if (result.comparisons.length > 0) {
      io.stdout.write(`\nAgainst the reference ${result.classes[0]!.name} (alpha ${result.alpha}; critical: KS two-sided asymptotic D, χ² quantile)\n`);
      io.stdout.write(table(
        ['subject', 'feature', 'test', 'statistic', 'p-value', 'n', 'm', 'critical', 'verdict'],
        result.comparisons.map((r) => [r.subject, r.feature, r.test + (r.method ? ` ${r.method}` : r.df !== undefined ? ` df=${r.df}` : ''), r.statistic, r.pvalue, r.n, r.m, r.critical,
          r.distinguishable ? 'distinguishable' : 'not distinguishable']),
        ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
      ));
      io.stdout.write('\nVerdict (any test rejecting at alpha ÷ tests, Bonferroni)\n');
      io.stdout.write(table(
        ['subject', 'tests', 'rejected', 'alpha/test', 'verdict'],
        result.verdicts.map((v) => [v.subject, v.tests, v.rejected, formatNumber(v.alphaPerTest), v.distinguishable ? 'DISTINGUISHABLE' : 'not distinguishable']),
        ['l', 'r', 'r', 'r', 'l'],
      ));
    }
    return 0;
  },
};

function endpoint(addr: string, port: number): string {
  if (port < 0) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
