/** `smig bench`: pacing strategies compared on real migrations, captured on every link. */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CvMode } from '../../analysis/adversary.js';
import type { BenchStrategy } from '../../bench/bench.js';
import { BENCH_STRATEGIES, DEFAULT_SIZES } from '../../bench/bench.js';
import { DEFAULT_SPLIT_SEED } from '../../bench/normal.js';
import type { BenchResult } from '../../bench/result.js';
import { smigError } from '../../errors.js';
import { parseDuration, parseSize } from '../../util/units.js';
import type { CliIO } from '../io.js';
import { argParser, parseAlpha, parseCount } from '../options.js';
import { ensureDir } from '../output.js';
import type { CommandSpec } from '../spec.js';
import { table } from '../table.js';

interface BenchFlags {
  hosts?: 'lab' | 'loopback';
  sizes: number[];
  strategies: BenchStrategy[];
  normal?: string;
  filter?: string;
  reverseFilter?: string;
  profile?: string;
  split: bigint;
  splitSeed: number[];
  bin: string;
  alpha: number;
  out?: string;
  lab: string;
  json?: boolean;
  adversary?: boolean;
  adversaryPermutations?: number;
  adversaryCv?: CvMode;
  adversaryStretches?: number;
  dataRelays?: string;
  keyRelays?: string;
  threshold?: string;
}

const STRATEGIES: readonly string[] = BENCH_STRATEGIES;
/** A paced run of this many bytes at ~10 kB/s already takes ~30 min; bulk and plain go further. */
const MAX_SIZE = 4 * 1024 ** 3;

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((t) => parseSize(t.trim(), '--sizes'));
  for (const n of sizes)
    if (n < 1 || n > MAX_SIZE)
      throw smigError('SMIG_ERR_BAD_SIZE', `--sizes: ${n} is not between 1 and ${MAX_SIZE} bytes`);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Most splits one bench runs (each is a whole bench: minutes). */
const MAX_SPLITS = 10;

function parseSplitSeeds(text: string): number[] {
  const seeds = [...new Set(text.split(',').map((t) => parseCount(0)(t.trim())))];
  if (seeds.length > MAX_SPLITS)
    throw smigError('SMIG_ERR_USAGE', `--split-seed: at most ${MAX_SPLITS} seeds, got ${seeds.length}`);
  return seeds;
}

function parseSplit(text: string): bigint {
  const ns = parseDuration(text, '--split');
  if (ns < 100_000_000n || ns > 3_600_000_000_000n)
    throw smigError('SMIG_ERR_USAGE', `--split: ${text} is not between 100ms and 1h`);
  return ns;
}

function parseStrategies(text: string): BenchStrategy[] {
  const list = text.split(',').map((t) => t.trim());
  for (const s of list)
    if (!STRATEGIES.includes(s))
      throw smigError('SMIG_ERR_USAGE', `--strategies: unknown strategy '${s}' (${STRATEGIES.join(', ')})`);
  return [...new Set(list)] as BenchStrategy[];
}

export const benchCommand: CommandSpec = {
  name: 'bench',
  summary:
    "compare pacing strategies on real migrations captured on every link: time against size (the paper's figure 3), packets per second (figures 4-6), KS per link",
  examples: [
    'smig bench',
    'smig bench --hosts loopback --sizes 250kB --strategies bulk,profile -o bench-out/',
    'smig bench --normal office.pcapng --filter "dst net 10.1.0.0/16" --sizes 1MB,4MB --json > bench.json',
  ],
  configure(cmd: Command): void {
    cmd
      .addOption(
        new Option(
          '--hosts <site>',
          'where the hosts run: lab (network namespaces, one per role; root) or loopback (127.0.0.1) (default: lab as root, else loopback)',
        ).choices(['lab', 'loopback']),
      )
      .addOption(
        new Option('--sizes <list>', 'payload sizes, comma-separated (250kB,840kB,10MB)')
          .argParser(argParser(parseSizes))
          .default([...DEFAULT_SIZES], DEFAULT_SIZES.map((n) => `${n / 1000}kB`).join(',')),
      )
      .addOption(
        new Option('--strategies <list>', 'pacing strategies to run, comma-separated')
          .argParser(argParser(parseStrategies))
          .default([...BENCH_STRATEGIES], BENCH_STRATEGIES.join(',')),
      )
      .option(
        '--normal <capture>',
        'capture of normal traffic: the profile is learned from one block of each pair (--split, --split-seed), the others are the reference (default: the shipped captures/ndpi__netflix.pcap)',
      )
      .addOption(
        new Option(
          '--split <dur>',
          'block length of the learn/hold-out split of --normal: shorter blocks make both halves sample the same traffic, longer ones cut fewer bursts (100ms … 1h)',
        )
          .argParser(argParser(parseSplit))
          .default(5_000_000_000n, '5s'),
      )
      .addOption(
        new Option(
          '--split-seed <n[,n…]>',
          "which block of each pair of --split blocks the profile learns, drawn from this seed: a rhythm of the traffic (a heartbeat every 10 s) then falls in both halves alike; 0 learns the even blocks (the split before 2026-12-07). Several seeds (1,2,3; at most 10): the whole bench once per split, each in OUT/split-N, then the criteria summed over them (a short capture's verdict hangs on its split)",
        )
          .argParser(argParser(parseSplitSeeds))
          .default([DEFAULT_SPLIT_SEED], String(DEFAULT_SPLIT_SEED)),
      )
      .option(
        '--filter <expr>',
        "the normal capture's data direction (default for the shipped capture: dst host 192.168.1.7)",
      )
      .option(
        '--reverse-filter <expr>',
        "the normal capture's reverse direction: every link's reverse direction (ACKs, progress, echoes) is tested against it too (default for the shipped capture: src host 192.168.1.7)",
      )
      .option('--profile <file>', 'pace with this profile instead (the whole normal capture is then the reference)')
      .addOption(
        new Option('--bin <dur>', 'bin width of the profile and the tests')
          .argParser(argParser((t) => (parseDuration(t, '--bin'), t)))
          .default('500ms'),
      )
      .addOption(
        new Option('--alpha <a>', 'significance level of the tests').argParser(argParser(parseAlpha)).default(0.05),
      )
      .option(
        '-o, --out <dir>',
        'directory for captures, runs, bench.json, the figures and report.html (default: a fresh temporary directory)',
      )
      .option('--lab <name>', 'name of the lab to bring up (and down) with --hosts lab', 'bench')
      .option('--data-relays <n>', "data relays per migration (default 2; the paper's evaluation also uses 5)")
      .option('--key-relays <n>', 'key relays per migration (default 3)')
      .option('--threshold <k>', 'key shares needed, at most --key-relays (default 2)')
      .option('--json', 'print bench.json on stdout instead of the tables')
      .option(
        '--adversary',
        'also run the trained observer on every link (smig analyze --adversary): ROC AUC beside the reference-vs-itself baseline',
      )
      .option(
        '--adversary-permutations <k>',
        'with --adversary: a permutation p-value of every AUC (k label permutations, each a whole cross-validation; slow)',
        argParser(parseCount(0)),
      )
      .option(
        '--adversary-stretches <k>',
        "with --adversary: also score k stretches of the learned half as long as each link (smig analyze --adversary-stretches): what a link's AUC is worth; each a whole cross-validation, slow",
        argParser(parseCount(0)),
      )
      .addOption(
        new Option(
          '--adversary-cv <mode>',
          "with --adversary: deal the observer's windows to folds one by one or by blocks (smig analyze --help)",
        ).choices(['windows', 'blocks']),
      )
      .addHelpText(
        'after',
        [
          '',
          'Per size: a plain TCP copy source → destination (the paper\'s "normal traffic": no crypto, no relays), then one',
          'migration per strategy (2 data relays, a leader, 2-of-3 key relays, a destination; bulk alone, the paced ones at',
          "once on their own hosts), each recorded by smig capture on every link (needs root or CAP_NET_RAW). Every link's",
          'data direction is tested against the normal reference: KS of packets and bytes per bin (the verdict), of packet',
          "sizes and gaps, and χ² of sizes. A paced run takes about size ÷ the profile's mean rate (the leader → destination",
          'hop carries everything): with the shipped capture (~9.4 kB/s), 840kB takes ~90 s.',
        ].join('\n'),
      );
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as BenchFlags;
    const { runBench, parseLayout } = await import('../../bench/bench.js');
    const layout = parseLayout(opts);
    const { DEMO_CAPTURE } = await import('../../bench/demo.js');
    const {
      strategyTable,
      reverseTable,
      fidelityTable,
      keyFlowTable,
      hopTable,
      resourceTable,
      strategiesOf,
      classLabel,
      adversaryBaselineLine,
      learnedHalfLine,
      blocksLine,
    } = await import('../../bench/report.js');
    const { criteriaLines } = await import('../../bench/criteria.js');
    const hosts = opts.hosts ?? (process.getuid?.() === 0 ? 'lab' : 'loopback');
    if (opts.adversaryStretches && (!opts.adversary || opts.profile !== undefined))
      throw smigError(
        'SMIG_ERR_USAGE',
        '--adversary-stretches: needs --adversary, and a learned half to cut them from (not --profile)',
      );
    const { MAX_ADVERSARY_STRETCHES } = await import('../../analysis/adversary-stretches.js');
    if ((opts.adversaryStretches ?? 0) > MAX_ADVERSARY_STRETCHES)
      throw smigError(
        'SMIG_ERR_USAGE',
        `--adversary-stretches: at most ${MAX_ADVERSARY_STRETCHES}, got ${opts.adversaryStretches}`,
      );
    if (opts.out !== undefined) await ensureDir(resolve(opts.out), '--out');
    const out = opts.out !== undefined ? resolve(opts.out) : mkdtempSync(join(tmpdir(), 'smig-bench-'));
    const t0 = performance.now();
    const seeds = opts.splitSeed;
    if (seeds.length > 1 && opts.profile !== undefined)
      throw smigError('SMIG_ERR_USAGE', '--split-seed: several seeds need a split to draw (not --profile)');
    const bench = (seed: number, dir: string, log: (line: string) => void) =>
      runBench({
        hosts,
        sizes: opts.sizes,
        strategies: opts.strategies,
        normal: opts.normal !== undefined ? resolve(opts.normal) : DEMO_CAPTURE,
        splitNs: opts.split,
        splitSeed: seed,
        ...(opts.filter === undefined ? {} : { normalFilter: opts.filter }),
        ...(opts.reverseFilter === undefined ? {} : { reverseFilter: opts.reverseFilter }),
        ...(opts.profile === undefined ? {} : { profile: resolve(opts.profile) }),
        bin: opts.bin,
        alpha: opts.alpha,
        out: dir,
        labName: opts.lab,
        adversary: opts.adversary === true,
        ...(opts.adversaryPermutations === undefined ? {} : { adversaryPermutations: opts.adversaryPermutations }),
        ...(opts.adversaryCv === undefined ? {} : { adversaryCv: opts.adversaryCv }),
        ...(opts.adversaryStretches === undefined ? {} : { adversaryStretches: opts.adversaryStretches }),
        layout,
        log,
      });
    if (seeds.length > 1) {
      const { splitsSummary, splitsLines, benchCriteria } = await import('../../bench/criteria.js');
      const results: BenchResult[] = [];
      for (const seed of seeds)
        results.push(
          await bench(seed, join(out, `split-${seed}`), (line) =>
            io.stderr.write(`smig bench: split seed ${seed}: ${line}\n`),
          ),
        );
      const summary = splitsSummary(
        results.map((r, i) => ({
          splitSeed: seeds[i]!,
          bench: r.files.json,
          criteria: r.criteria ?? benchCriteria(r),
        })),
      );
      writeFileSync(join(out, 'splits.json'), `${JSON.stringify(summary, null, 2)}\n`);
      io.stderr.write(`smig bench: finished in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      if (opts.json) {
        io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        return 0;
      }
      results.forEach((r, i) =>
        io.stdout.write(`split seed ${seeds[i]} (${r.files.report}):\n${criteriaLines(r).join('\n')}\n\n`),
      );
      io.stdout.write(`${splitsLines(summary).join('\n')}\nresults ${join(out, 'splits.json')}\n`);
      return 0;
    }
    const r = await bench(seeds[0]!, out, (line) => io.stderr.write(`smig bench: ${line}\n`));
    io.stderr.write(`smig bench: finished in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    if (opts.json) {
      io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return 0;
    }
    const baseline = adversaryBaselineLine(r);
    if (baseline !== undefined) io.stdout.write(`${baseline}\n\n`);
    const learned = learnedHalfLine(r);
    if (learned !== undefined) io.stdout.write(`${learned}\n\n`);
    const blocks = blocksLine(r);
    if (blocks !== undefined) io.stdout.write(`${blocks}\n\n`);
    const criteria = criteriaLines(r);
    if (criteria.length > 0) io.stdout.write(`${criteria.join('\n')}\n\n`);
    for (const s of strategiesOf(r)) {
      const t = strategyTable(r, s);
      io.stdout.write(`${classLabel(s)}\n${table(t.head, t.rows)}\n`);
      const rev = reverseTable(r, s);
      if (rev)
        io.stdout.write(
          `${classLabel(s)}, reverse directions${rev.baseline ? ` (${rev.baseline})` : ''}\n${table(rev.head, rev.rows)}\n`,
        );
      const fid = fidelityTable(r, s);
      if (fid) io.stdout.write(`${classLabel(s)}, against the learned half\n${table(fid.head, fid.rows)}\n`);
      const keys = keyFlowTable(r, s);
      if (keys) io.stdout.write(`${classLabel(s)}, ${keys.caption}\n${table(keys.head, keys.rows)}\n`);
      const polls = keyFlowTable(r, s, 'pollFlows');
      if (polls) io.stdout.write(`${classLabel(s)}, ${polls.caption}\n${table(polls.head, polls.rows)}\n`);
      const hops = hopTable(r, s);
      if (hops) io.stdout.write(`${classLabel(s)}, paced hops\n${table(hops.head, hops.rows)}\n`);
    }
    const res = resourceTable(r);
    io.stdout.write(`CPU and memory per role\n${table(res.head, res.rows)}\n`);
    io.stdout.write(
      `report ${r.files.report}\nfigures ${r.files.timeFigure} ${r.files.rateFigure}\nresults ${r.files.json}\n`,
    );
    return 0;
  },
};
