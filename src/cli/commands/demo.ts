/** `smig demo`: the main job on built-in defaults, end to end on a namespace lab or on 127.0.0.1. */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CvMode } from '../../analysis/adversary.js';
import { smigError } from '../../errors.js';
import { parseSize } from '../../util/units.js';
import type { CliIO } from '../io.js';
import { argParser } from '../options.js';
import { ensureDir } from '../output.js';
import type { CommandSpec } from '../spec.js';
import { table } from '../table.js';

interface DemoFlags {
  out?: string;
  size: number;
  hosts?: 'lab' | 'loopback';
  json?: boolean;
  adversary?: boolean;
  adversaryCv?: CvMode;
}

/** Payloads beyond this would make the profile run last minutes (the profile's mean is ~10 kB/s). */
const MAX_SIZE = 2_000_000;

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary:
    'the main job on built-in defaults: learn a profile from a shipped real capture, migrate with bulk and profile on a small lab while every link is captured, print the verdicts',
  examples: ['smig demo', 'smig demo --out demo/ --json'],
  configure(cmd: Command): void {
    cmd
      .option(
        '-o, --out <dir>',
        'write the captures, profile and report into DIR (default: a fresh temporary directory)',
      )
      .addOption(
        new Option('--size <bytes>', `payload size, the same for both strategies (at most ${MAX_SIZE})`)
          .argParser(
            argParser((t) => {
              const n = parseSize(t, '--size');
              if (n < 1 || n > MAX_SIZE)
                throw smigError('SMIG_ERR_BAD_SIZE', `--size: ${n} is not between 1 and ${MAX_SIZE} bytes`);
              return n;
            }),
          )
          .default(250_000, '250kB'),
      )
      .addOption(
        new Option(
          '--hosts <site>',
          'where the hosts run: lab (5 network namespaces; root) or loopback (127.0.0.1) (default: lab as root, else loopback)',
        ).choices(['lab', 'loopback']),
      )
      .option('--data-relays <n>', "data relays (default 1; the paper's evaluation uses 2 and 5)")
      .option('--key-relays <n>', 'key relays (default 1)')
      .option('--threshold <k>', 'key shares needed, at most --key-relays (default 1)')
      .option('--json', 'print the result as JSON on stdout')
      .option(
        '--adversary',
        'also run the trained observer on every link (a random forest: ROC AUC beside the hold-out-vs-itself baseline)',
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
          'As root (with iproute2) the hosts are a 5-host network-namespace lab (smig lab: source, data relay, leader, key',
          'relay, destination), each host link captured by smig capture; otherwise they are processes on 127.0.0.1 and one',
          'smig capture on lo records them (capturing needs root or CAP_NET_RAW either way). The profile is learned from one',
          '5 s block of each pair of the shipped captures/ndpi__netflix.pcap (data direction dst host 192.168.1.7; which one',
          "drawn with smig bench's default --split-seed); the others are the hold-out each link's data direction is tested",
          'against (two-sample KS of packets and bytes per 500 ms bin, α = 0.05). It is smig bench with one size and two',
          'strategies. A profile run lasts about 30-80 s (its lulls are random); KS at α = 0.05 calls even a perfect',
          'imitation distinguishable 5 % of the time.',
        ].join('\n'),
      );
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as DemoFlags;
    const { runDemo, DEMO_LAYOUT } = await import('../../bench/demo.js');
    const { parseLayout } = await import('../../bench/bench.js');
    const layout = parseLayout(
      opts as unknown as { dataRelays?: string; keyRelays?: string; threshold?: string },
      DEMO_LAYOUT,
    );
    if (opts.out !== undefined) await ensureDir(resolve(opts.out), '--out');
    const out = opts.out !== undefined ? resolve(opts.out) : mkdtempSync(join(tmpdir(), 'smig-demo-'));
    const t0 = performance.now();
    const r = await runDemo({
      out,
      size: opts.size,
      bin: '500ms',
      layout,
      ...(opts.hosts === undefined ? {} : { hosts: opts.hosts }),
      adversary: opts.adversary === true,
      ...(opts.adversaryCv === undefined ? {} : { adversaryCv: opts.adversaryCv }),
      log: (line) => io.stderr.write(`smig demo: ${line}\n`),
    });
    io.stderr.write(`smig demo: finished in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    if (opts.json) {
      io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return 0;
    }
    const { binVerdict, fmtP } = await import('../../bench/report-format.js');
    const ks = (k: { D: number; p: number; n: number; m: number }): (string | number)[] => [k.D, k.p, k.n, k.m];
    io.stdout.write(
      `Each link (data direction, ${r.hosts === 'lab' ? 'namespace lab' : 'loopback'}) against the hold-out of the normal capture (KS, 500 ms bins, α = 0.05)\n`,
    );
    io.stdout.write(
      table(
        ['strategy', 'link', 'pkt/bin D', 'p', 'n', 'm', 'bytes/bin D', 'p', 'n', 'm', 'verdict'],
        r.verdicts.map((v) => [
          v.strategy,
          v.link,
          ...ks(v.packets),
          ...ks(v.bytes),
          binVerdict(
            {
              distinguishable: v.distinguishable,
              tests: [
                { feature: 'packets_per_bin', ...v.packets },
                { feature: 'bytes_per_bin', ...v.bytes },
              ],
            },
            0.05,
          ) + (v.stretches ? ` (normal stretches as long: ${v.stretches.rejected} of ${v.stretches.count})` : ''),
        ]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
    );
    const pk = (k: { D: number; p: number; byBlocks: number | null }): string[] => [
      k.D.toFixed(3),
      fmtP(k.p),
      k.byBlocks === null ? 'n/a' : fmtP(k.byBlocks),
    ];
    io.stdout.write(
      '\nPer packet, against the same hold-out: KS of sizes and of gaps, packet by packet and by 5 s blocks (the same D, its p from dealing whole blocks to the two sides: packets come in bursts; n/a: too few blocks)\n',
    );
    io.stdout.write(
      table(
        ['strategy', 'link', 'size D', 'p', 'by blocks', 'gap D', 'p', 'by blocks'],
        r.verdicts.map((v) => [v.strategy, v.link, ...pk(v.size), ...pk(v.gap)]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    if (r.adversaryBaseline) {
      const { fmtAuc } = await import('../../bench/report.js');
      io.stdout.write(
        `\nTrained observer (random forest on 5 s windows with packets, 5-fold CV${opts.adversaryCv === 'blocks' ? ' by 10 s blocks' : ''} 5 times; 0.5 = cannot tell): hold-out vs hold-out ${fmtAuc(r.adversaryBaseline)}\n`,
      );
      io.stdout.write(
        table(
          ['strategy', 'link', 'AUC [95 % CI]'],
          r.verdicts.map((v) => [v.strategy, v.link, fmtAuc(v.adversary)]),
          ['l', 'l', 'r'],
        ),
      );
    }
    io.stdout.write(
      `\nreport (packets per second of normal, bulk and stealth on the source link; every test): ${r.report}\nfiles: ${r.out}\n`,
    );
    return 0;
  },
};
