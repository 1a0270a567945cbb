/** `smig analyze`: packet-rate distributions and distinguishability tests between traffic classes. */

import type { Command } from 'commander';
import { Option } from 'commander';
import type { CvMode } from '../../analysis/adversary.js';
import { DEFAULT_ADVERSARY_SEGMENTS } from '../../analysis/adversary-segments.js';
import { smigError } from '../../errors.js';
import { formatDuration, parseDuration } from '../../util/units.js';
import type { CliIO } from '../io.js';
import { argParser, collect, parseAlpha, parseBin, parseCount } from '../options.js';
import { ensureDir, writeOutputFile } from '../output.js';
import type { CommandSpec } from '../spec.js';
import { table } from '../table.js';

interface AnalyzeFlags {
  class?: string[];
  filter?: string;
  bin: bigint;
  from?: bigint;
  to?: bigint;
  timeWindow?: string[];
  stretches?: string;
  blocks?: bigint;
  blockPermutations: number;
  window?: string[];
  alpha: number;
  json?: boolean;
  csv?: string;
  plot?: string;
  flows: number;
  maxSamples: number;
  progress?: boolean;
  adversary?: boolean;
  adversaryWindow: bigint;
  adversaryStep?: bigint;
  adversaryFolds: number;
  adversaryRepeats: number;
  adversaryPermutations: number;
  adversaryCv: CvMode;
  adversaryTrees: number;
  adversarySeed: number;
  adversarySegments: number;
  adversaryMaxWindows: number;
  adversaryKeepSilent?: boolean;
  adversaryStretches: number;
  adversaryPlot?: string;
}

const ADVERSARY_HELP = `
--blocks DUR: the KS tests treat every packet (or bin) as an independent draw, but packets come in bursts and
episodes, so their p-values reject even a capture's own interleaved halves (the shipped netflix capture, 5 s
blocks: sizes p 0.003). By blocks, the same D gets a p-value from dealing whole blocks of DUR (each class's blocks
counted from its first packet; a bin is in the block it starts in, empty bins included) to the two sides at
random, as many a side as observed, --block-permutations times (p = (1 + deals with D at least the observed) /
(1 + K)); at most 200000 values a class take part (a uniform sample of sizes and gaps beyond; no per-bin test by
blocks beyond 200000 bins). With few blocks the test cannot reject: the text names the blocks a side, --json gives
"blocks": { blockSeconds, statistic, pvalue, permutations, blocks: [reference, subject], deals, distinguishable }
on each packets_per_bin, bytes_per_bin, size and iat comparison.

--adversary: each class is cut into windows (5 s every 2.5 s by default; complete windows only; windows without a
packet are left out and counted, unless --adversary-keep-silent: they have nothing to read, and kept in they tie
between the classes and pull every AUC towards 0.5), each described by
33 features: packets, bytes, size quantiles (min, p10 … p90, max, mean) and shares in 8 size bins, gap quantiles,
mean and entropy, Fano factors of counts at 10 ms, 100 ms and 1 s, bursts (runs < 10 ms apart: count, mean and
largest length, mean bytes). A random forest (the trees ml-random-forest 2.1.0 grows) learns each class's windows
against the reference's; stratified k-fold cross-validation with a fixed seed, run --adversary-repeats times on folds drawn
anew, gives out-of-fold scores (averaged over the runs), hence the ROC AUC (0.5: cannot tell; 1: always tells), a bootstrap 95 % interval and the balanced accuracy at a score of 0.5.
Beside them the baseline: the reference's even blocks (2 × window) against its odd blocks, read as "normal vs
normal: 0.78, migration vs normal: 0.80". Windows overlap, so the interval is narrower than the truth: compare
with the baseline. --adversary-permutations K adds a p-value per AUC: the windows dealt to the two sides at random
K times, the whole cross-validation run on each deal, p = (1 + deals scoring at least the AUC) / (1 + K); it
needs no baseline and holds for few windows too. --adversary-stretches K (with --stretches CAPTURE[@FILTER], the
site's normal traffic) scores K stretches of that capture, each as long as the class (its complete windows, silent
ones included), against the reference the same way: a class of a few windows scatters far either way, and so does
normal traffic that short; p = (1 + stretches scoring at least the class's AUC) / (1 + stretches).
--adversary-segments K (default 8; 0: none): a class with more windows than the reference is also cut into K
segments (evenly spaced, overlapping if need be) of as many windows as the reference, each scored against it; their
mean AUC is what an observer holding as much of the class as of the reference reaches. The baseline compares halves
of about equal size, and a forest's out-of-fold AUC grows with the windows on one side when they repeat (a session
longer than the trace it replays): compare this mean, not only the whole class's AUC, with the baseline. --adversary-cv blocks deals a class's windows to folds by blocks
(2 x window), trains no fold on a window of the same capture less than a block from one it tests, and permutes and
resamples whole blocks: overlapping windows share packets, and by default (windows, one by one) a fold may score a
window by its neighbours in training, which tells even a capture's own halves apart when its rate drifts; with few
blocks a side, blocks has little power. --json adds "adversary": { window_s, step_s, block_s, folds, repeats,
permutations, cv, seed, trees, bootstrap,
keep_silent, segments, features, classes: [{ name, packets, windows, silentWindows, capped }], baseline and comparisons: [{ reference, subject, n, m,
folds, groups: [reference, subject], auc, aucLow, aucHigh, balancedAccuracy, pValue (null without permutations), importance: [{ feature,
value }], stretches?: { count, windows, median, p95, atLeast, pValue }, segments?: { count, windows, mean, min, max },
note? }] }.
`;

/** The filter language of --filter and @FILTER (src/capture/filter.ts), as README.md lists it. */
export const FILTER_KEYWORDS: string =
  'host, net (NET/LEN, NET mask MASK), port, portrange, proto, src, dst, tcp, udp, icmp, icmp6, sctp, ip, ip6, arp, ' +
  'rarp, vlan, less, greater, and/&&, or/||, not/!, parentheses; anything else is refused with its column';

export const analyzeCommand: CommandSpec = {
  name: 'analyze',
  summary: 'compare traffic classes in pcap/pcapng captures: rates, sizes, gaps, flows, KS and χ² tests',
  examples: [
    'smig analyze normal.pcap migration.pcapng',
    'smig analyze --class normal=site.pcap@"not port 22" --class stealth=run.pcap@"port 7000" --bin 100ms',
    'smig analyze captures/*.pcap --json > report.json',
    'smig analyze a.pcap.gz b.pcap --csv out/ --plot out/report.html',
    'smig analyze --bin 500ms --class normal=site.pcap --class stealth=run.pcap@"port 7000" --time-window normal=45s..',
    'smig analyze --adversary --adversary-plot importances.svg normal.pcap migration.pcap',
  ],
  configure(cmd: Command): void {
    cmd
      .argument(
        '[capture...]',
        'capture files (pcap, pcapng, optionally gzip-compressed; - for stdin); each is a class, the first the reference. ' +
          'A .gz is inflated as it is read, in constant memory: the time follows the inflated size (a 1 MiB gzip bomb of 1 GiB takes ~25 s)',
      )
      .option(
        '--class <name=capture[@filter]>',
        'a named traffic class, optionally with its own filter (repeatable)',
        collect,
      )
      .option(
        '-f, --filter <expr>',
        `filter applied to every class, a subset of tcpdump's language: ${FILTER_KEYWORDS}`,
      )
      .addOption(
        new Option('--bin <dur>', 'bin width for rates: 1us … hours')
          .argParser(argParser(parseBin))
          .default(1_000_000_000n, '1s'),
      )
      .option(
        '--from <dur>',
        "keep packets from DUR after each class's earliest packet (bins start there)",
        argParser((t) => parseDuration(t, '--from')),
      )
      .option(
        '--to <dur>',
        "keep packets up to DUR after each class's earliest packet",
        argParser((t) => parseDuration(t, '--to')),
      )
      .option(
        '--time-window <name=from..to>',
        'a time window for one class, overriding --from/--to (either end may be empty) (repeatable)',
        collect,
      )
      .addOption(
        new Option('--window <name=from..to>', 'deprecated name of --time-window').hideHelp().argParser(collect),
      )
      .option('--alpha <a>', 'significance level of the tests', argParser(parseAlpha), 0.05)
      .option('--json', 'print the whole result as JSON on stdout')
      .option('--csv <dir>', 'write summary, comparisons, series and flows as CSV files into DIR')
      .option('--plot <file>', 'write plots (packets/s over time, ECDFs of each test) to FILE.svg or FILE.html')
      .option(
        '--flows <n>',
        'flows listed per class in the text output (all are in --json/--csv)',
        argParser(parseCount(0)),
        10,
      )
      .option(
        '--max-samples <n>',
        'inter-arrival times kept per class (a uniform sample beyond)',
        argParser(parseCount(0)),
        1_000_000,
      )
      .option(
        '--stretches <capture[@filter]>',
        "normal traffic: each class's per-bin tests also run on stretches of it as long as the class, against the reference; the share rejected is what a rejection of a short class is worth",
      )
      .option(
        '--blocks <dur>',
        'also test rates per bin, sizes and gaps by blocks of DUR (whole bins): D as before, its p-value from dealing whole blocks to the two sides at random (packets in bursts are not independent draws; see below)',
        argParser((t) => parseDuration(t, '--blocks')),
      )
      .option('--block-permutations <k>', 'deals of the tests by blocks', argParser(parseCount(1)), 499)
      .option('--no-progress', 'no progress line on stderr, even on a terminal')
      .option(
        '--adversary',
        'also run a trained observer: a random forest on per-window features, cross-validated (below)',
      )
      .addOption(
        new Option('--adversary-window <dur>', 'window of the observer')
          .argParser(argParser((t) => parseDuration(t, '--adversary-window')))
          .default(5_000_000_000n, '5s'),
      )
      .option(
        '--adversary-step <dur>',
        'step between windows (default: half the window)',
        argParser((t) => parseDuration(t, '--adversary-step')),
      )
      .option('--adversary-folds <k>', 'cross-validation folds', argParser(parseCount(0)), 5)
      .option(
        '--adversary-repeats <r>',
        'cross-validations on folds drawn anew, their scores averaged',
        argParser(parseCount(0)),
        5,
      )
      .option(
        '--adversary-permutations <k>',
        'label permutations for a p-value of each AUC (each a whole cross-validation; 0: none)',
        argParser(parseCount(0)),
        0,
      )
      .addOption(
        new Option('--adversary-cv <mode>', 'how windows are dealt to folds: one by one, or by blocks (below)')
          .choices(['windows', 'blocks'])
          .default('windows'),
      )
      .option('--adversary-trees <n>', 'trees in the forest', argParser(parseCount(0)), 100)
      .option('--adversary-seed <n>', 'seed of the folds, the forest and the bootstrap', argParser(parseCount(0)), 1)
      .option(
        '--adversary-max-windows <n>',
        'windows used per class (later packets are left out, with a warning)',
        argParser(parseCount(0)),
        20_000,
      )
      .option(
        '--adversary-stretches <k>',
        'score k stretches of the --stretches capture as long as each class the same way: what its AUC is worth (each a whole cross-validation; 0: none)',
        argParser(parseCount(0)),
        0,
      )
      .option(
        '--adversary-segments <k>',
        'also score k segments of each class longer than the reference, each as long as the reference: the observer on equal footing (each a whole cross-validation; 0: none)',
        argParser(parseCount(0)),
        DEFAULT_ADVERSARY_SEGMENTS,
      )
      .option(
        '--adversary-keep-silent',
        'classify windows without a packet too (by default they are left out and counted: they tie between classes)',
      )
      .option('--adversary-plot <file>', "bar charts of the observer's feature importances to FILE.svg or FILE.html")
      .addHelpText('after', ADVERSARY_HELP);
  },
  async run(args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as AnalyzeFlags;
    const { analyze, defaultClassName, parseClassSpec } = await import('../../analysis/analyze.js');
    const { analysisToJson, analysisPlotInput, writeAnalysisCsv } = await import('../../analysis/report.js');
    if (opts.json && opts.csv) throw smigError('SMIG_ERR_USAGE', '--json and --csv exclude each other');
    const classes = [
      ...args.map((file) => ({ name: defaultClassName(file), file })),
      ...(opts.class ?? []).map(parseClassSpec),
    ];
    if (classes.length === 0)
      throw smigError('SMIG_ERR_USAGE', 'no capture given (smig analyze CAPTURE... or --class NAME=CAPTURE)');
    for (const c of classes as { name: string; fromNs?: bigint; toNs?: bigint }[]) {
      if (opts.from !== undefined) c.fromNs = opts.from;
      if (opts.to !== undefined) c.toNs = opts.to;
    }
    if (opts.window !== undefined) {
      io.stderr.write(
        "smig analyze: warning: --window is deprecated, use --time-window (smig send's --window is a data window)\n",
      );
    }
    for (const w of [...(opts.window ?? []), ...(opts.timeWindow ?? [])]) {
      const eq = w.indexOf('=');
      const range = w.slice(eq + 1).split('..');
      if (eq <= 0 || range.length !== 2)
        throw smigError(
          'SMIG_ERR_USAGE',
          `--time-window: '${w}' is not NAME=FROM..TO (e.g. normal=45s..90s, normal=..45s)`,
        );
      const name = w.slice(0, eq);
      const target = classes.find((c) => c.name === name) as { fromNs?: bigint; toNs?: bigint } | undefined;
      if (!target)
        throw smigError(
          'SMIG_ERR_USAGE',
          `--time-window: no class named '${name}' (classes: ${classes.map((c) => c.name).join(', ')})`,
        );
      target.fromNs = range[0] === '' ? undefined : parseDuration(range[0]!, '--time-window');
      target.toNs = range[1] === '' ? undefined : parseDuration(range[1]!, '--time-window');
    }
    const names = new Set<string>();
    for (const c of classes) {
      if (names.has(c.name)) c.name = `${c.name}#${classes.indexOf(c) + 1}`;
      names.add(c.name);
    }
    const stretches = opts.stretches === undefined ? undefined : parseClassSpec(`stretches=${opts.stretches}`);
    if ([...classes, ...(stretches ? [stretches] : [])].filter((c) => c.file === '-').length > 1)
      throw smigError('SMIG_ERR_USAGE', 'stdin (-) can be only one of the captures (--stretches included)');
    if (opts.adversaryStretches > 0 && (stretches === undefined || !(opts.adversary || opts.adversaryPlot)))
      throw smigError(
        'SMIG_ERR_USAGE',
        '--adversary-stretches: needs --adversary and --stretches CAPTURE[@FILTER] (the normal traffic to cut them from)',
      );
    if (
      (opts.adversary || opts.adversaryPlot) &&
      [...classes, ...(stretches && opts.adversaryStretches > 0 ? [stretches] : [])].some((c) => c.file === '-')
    ) {
      throw smigError(
        'SMIG_ERR_USAGE',
        '--adversary reads every capture a second time: stdin (-) cannot be one of them',
      );
    }
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
      ...(stretches === undefined ? {} : { stretches }),
      ...(opts.blocks === undefined ? {} : { blockNs: opts.blocks, blockPermutations: opts.blockPermutations }),
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
    for (const c of result.classes)
      for (const w of c.info.warnings) io.stderr.write(`smig analyze: warning: ${w.message}\n`);
    for (const [i, c] of result.classes.entries()) {
      if (c.traffic.packets > 0) continue;
      // like tcpdump -r with a filter that matches nothing, the run succeeds (exit 0); but it says so
      const spec = classes[i] as { fromNs?: bigint; toNs?: bigint };
      const window =
        spec.fromNs !== undefined || spec.toNs !== undefined
          ? ` in its window ${spec.fromNs === undefined ? '0s' : formatDuration(spec.fromNs)}..${spec.toNs === undefined ? 'end' : formatDuration(spec.toNs)} after its earliest packet (past the end of the capture?)`
          : c.filter === undefined
            ? ''
            : ` matching '${c.filter}'`;
      io.stderr.write(
        `smig analyze: warning: ${c.name}: no packets${window}; ${c.traffic.packetsRead} packets read from ${c.file}\n`,
      );
    }
    let adversary: import('../../analysis/adversary.js').AdversaryResult | undefined;
    if (opts.adversary || opts.adversaryPlot) {
      const { runAdversary } = await import('../../analysis/adversary.js');
      adversary = await runAdversary(classes, {
        filter: opts.filter,
        windowNs: opts.adversaryWindow,
        stepNs: opts.adversaryStep,
        folds: opts.adversaryFolds,
        repeats: opts.adversaryRepeats,
        permutations: opts.adversaryPermutations,
        cv: opts.adversaryCv,
        trees: opts.adversaryTrees,
        seed: opts.adversarySeed,
        maxWindows: opts.adversaryMaxWindows,
        keepSilent: opts.adversaryKeepSilent === true,
        segments: opts.adversarySegments,
        ...(stretches !== undefined && opts.adversaryStretches > 0
          ? { stretches: { spec: stretches, count: opts.adversaryStretches } }
          : {}),
      });
      for (const c of adversary.classes) {
        if (c.capped)
          io.stderr.write(
            `smig analyze: warning: ${c.name}: more than ${opts.adversaryMaxWindows} windows; the observer used the first ${c.windows} (--adversary-max-windows)\n`,
          );
      }
      if (opts.adversaryPlot) {
        const { plotFormatFor } = await import('../../analysis/plot.js');
        const { renderImportancePlot } = await import('../../analysis/adversary-report.js');
        const text = await renderImportancePlot(adversary, plotFormatFor(opts.adversaryPlot));
        await writeOutputFile(opts.adversaryPlot, text, '--adversary-plot');
        io.stderr.write(`smig analyze: feature importances written to ${opts.adversaryPlot}\n`);
      }
    }

    if (opts.plot && plotFormat) {
      const { renderAnalysisPlot } = await import('../../analysis/plot.js');
      const text = await renderAnalysisPlot(
        analysisPlotInput(result, `smig analyze — bin ${formatDuration(result.binNs)}`),
        plotFormat,
      );
      await writeOutputFile(opts.plot, text, '--plot');
      io.stderr.write(`smig analyze: plot written to ${opts.plot}\n`);
    }
    if (opts.csv) {
      await ensureDir(opts.csv, '--csv');
      const files = await writeAnalysisCsv(result, opts.csv);
      io.stderr.write(`smig analyze: ${files.length} CSV files written to ${opts.csv}\n`);
    }
    if (opts.json) {
      // the observer's module (and its random forest) is loaded only when the observer ran
      const adversaryJson = adversary
        ? { adversary: (await import('../../analysis/adversary-report.js')).adversaryToJson(adversary) }
        : {};
      io.stdout.write(JSON.stringify({ ...analysisToJson(result), ...adversaryJson }, null, 2) + '\n');
      return 0;
    }
    if (opts.csv) return 0;

    (await import('../analyze-text.js')).writeAnalysisText(result, io, opts.flows);
    if (adversary) {
      const { formatAuc, formatSegments, formatStretches, adversaryHeadline, topFeatures } = await import(
        '../../analysis/adversary-report.js'
      );
      const a = adversary;
      io.stdout.write(
        `\nTrained observer (random forest of ${a.trees} trees on ${formatDuration(a.windowNs)} windows every ${formatDuration(a.stepNs)}, ${a.folds}-fold CV${a.cv === 'blocks' ? ` by ${formatDuration(a.blockNs)} blocks` : ''} ${a.repeats === 1 ? 'once' : `${a.repeats} times`}, seed ${a.seed}; AUC 0.5 = cannot tell)\n`,
      );
      const silent = a.classes.filter((c) => c.silentWindows > 0);
      if (silent.length > 0)
        io.stdout.write(
          `Windows without a packet, ${a.keepSilent ? 'classified too' : 'left out'}: ${silent.map((c) => `${c.name} ${c.silentWindows} of ${a.keepSilent ? c.windows : c.windows + c.silentWindows}`).join(', ')}\n`,
        );
      io.stdout.write(
        table(
          ['subject', 'reference', 'windows', 'AUC [95 % CI]', 'balanced acc', 'top features'],
          [a.baseline, ...a.comparisons].map((c) => [
            c.subject,
            c.reference,
            `${c.m}/${c.n}`,
            formatAuc(c),
            c.balancedAccuracy === null ? 'n/a' : c.balancedAccuracy.toFixed(2),
            c.note ?? topFeatures(c),
          ]),
          ['l', 'l', 'r', 'r', 'r', 'l'],
        ),
      );
      for (const c of a.comparisons) {
        if (c.segments) io.stdout.write(`${c.subject}: ${formatSegments(c.segments)}\n`);
        if (c.stretches) io.stdout.write(`${c.subject}: ${formatStretches(c.stretches, result.alpha)}\n`);
      }
      io.stdout.write(`${adversaryHeadline(a)}\n`);
    }
    return 0;
  },
};
