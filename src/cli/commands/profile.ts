/**
 * `smig profile learn|show|plan`: learn a normal-traffic profile from a capture, print it, and plan a paced
 * transfer with it (docs/DESIGN.md §4, §6).
 */

import type { Command } from 'commander';
import { Option } from 'commander';
import { smigError } from '../../errors.js';
import type { Profile } from '../../profile/model.js';
import { formatDuration, formatRate, parseDuration, parseRate, parseSize } from '../../util/units.js';
import { rangeText, sessionEstimate } from '../estimate.js';
import { formatSeconds } from '../format.js';
import type { CliIO } from '../io.js';
import { ioOf } from '../io.js';
import { argParser, parseBin, parseCount, parseSeed } from '../options.js';
import { ensureParentDir, writeOutputFile } from '../output.js';
import type { CommandSpec } from '../spec.js';
import { formatNumber, table } from '../table.js';

interface LearnFlags {
  output: string;
  filter?: string;
  bin: bigint;
  from?: bigint;
  to?: bigint;
  levels?: number;
  burstGap: bigint;
}

interface ShowFlags {
  json?: boolean;
  plot?: string;
  seed: number;
}

interface PlanFlags {
  size: number;
  dataRelays: number;
  strategy: string;
  rate?: number;
  seed?: number;
  json?: boolean;
}

function parseLevels(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 8)
    throw smigError('SMIG_ERR_USAGE', `'${text}' is not a number of levels from 1 to 8`);
  return n;
}

export const profileCommand: CommandSpec = {
  name: 'profile',
  summary: 'learn a normal-traffic profile from a capture (rates, levels, sizes, gaps), show it, plan a paced transfer',
  examples: [
    'smig profile learn site.pcap --filter "not port 22" -o site.profile.json',
    'smig profile learn site.pcap --to 60s -o first-minute.json',
    'smig profile show site.profile.json --plot profile.html',
    'smig profile plan site.profile.json --size 512MB --strategy profile',
  ],
  configure(cmd: Command): void {
    cmd
      .command('learn')
      .description('learn a profile from a capture: per-bin series, rate-level Markov chain, sizes, gaps, bursts')
      .argument('<capture>', 'capture file (pcap, pcapng, optionally gzip-compressed; - for stdin)')
      .requiredOption('-o, --output <profile>', 'write the profile (JSON) to FILE; - for stdout')
      .option('-f, --filter <expr>', 'learn only from packets matching EXPR (tcpdump syntax subset, as smig analyze)')
      .addOption(
        new Option('--bin <dur>', 'bin width of the per-bin series')
          .argParser(argParser(parseBin))
          .default(1_000_000_000n, '1s'),
      )
      .option(
        '--from <dur>',
        'window start, after the earliest packet passing the filter',
        argParser((t) => parseDuration(t, '--from')),
      )
      .option(
        '--to <dur>',
        'window end (exclusive), after the earliest packet passing the filter',
        argParser((t) => parseDuration(t, '--to')),
      )
      .option(
        '--levels <n>',
        'rate levels of the Markov chain, 1–8 (default: round(√(bins/4)))',
        argParser(parseLevels),
      )
      .addOption(
        new Option('--burst-gap <dur>', 'packets closer than this belong to one burst')
          .argParser(argParser((t) => parseDuration(t, '--burst-gap')))
          .default(1_000_000n, '1ms'),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  $ smig profile learn site.pcap -o site.json\n  $ smig profile learn site.pcap --filter "src host 10.0.0.5" --bin 100ms --to 60s -o train.json\n',
      )
      .action(async (capture: string, flags: LearnFlags, sub: Command) => learn(capture, flags, ioOf(sub)));
    cmd
      .command('show')
      .description('print a profile: provenance, rates, levels with their dwell times, sizes, gaps, bursts')
      .argument('<profile>', 'profile file')
      .option('--json', 'print the summary as JSON')
      .option('--plot <file>', 'plot the learned series beside one sampled from the profile, to FILE.svg or FILE.html')
      .option('--seed <n>', 'seed of the sampled series in the plot', argParser(parseSeed), 1)
      .action(async (file: string, flags: ShowFlags, sub: Command) => show(file, flags, ioOf(sub)));
    cmd
      .command('plan')
      .description(
        'the pacing plan for a transfer: expected time with a strategy, and the lower bound size ÷ profile rate',
      )
      .argument('<profile>', 'profile file')
      .requiredOption(
        '--size <size>',
        'bytes to move (e.g. 512MB, 2GiB)',
        argParser((t) => parseSize(t, '--size')),
      )
      .option('--strategy <name>', 'bulk | constant | profile | replay', 'profile')
      .option(
        '--rate <rate>',
        "constant strategy: wire rate as tc writes it: 128kbit (bits/s), 16kbps = 16 kB/s (tc's bps is BYTES/s), a bare number bits/s; or 16kB/s, 10Mbit/s (default: the profile's mean byte rate)",
        argParser((t) => parseRate(t, '--rate')),
      )
      .option('--seed <n>', 'session seed (default random)', argParser(parseSeed))
      .option(
        '--data-relays <n>',
        'data relays of the session whose time is simulated (source → relays → leader → destination)',
        argParser(parseCount(1)),
        1,
      )
      .option('--json', 'print the plan and the estimate as JSON')
      .action(async (file: string, flags: PlanFlags, sub: Command) => plan(file, flags, ioOf(sub)));
  },
};

async function learn(capture: string, flags: LearnFlags, io: CliIO): Promise<void> {
  const { learnProfile } = await import('../../profile/learn.js');
  const { saveProfile, stringifyProfile } = await import('../../profile/model.js');
  const { profile, warnings } = await learnProfile(capture, {
    filter: flags.filter,
    binNs: flags.bin,
    fromNs: flags.from,
    toNs: flags.to,
    levels: flags.levels,
    burstGapNs: flags.burstGap,
  });
  for (const w of warnings) io.stderr.write(`smig profile: warning: ${w.message}\n`);
  if (flags.output === '-') io.stdout.write(stringifyProfile(profile));
  else {
    await ensureParentDir(flags.output, '--output');
    await saveProfile(flags.output, profile);
  }
  io.stderr.write(
    `smig profile: learned ${profile.bins} bins of ${formatDuration(BigInt(profile.binNs))} from ${profile.provenance.capture} ` +
      `(${profile.packets} packets, ${profile.bytes} bytes, mean ${formatRate(profile.rates.bytesPerSecond)}, ${profile.chain.levels.length} levels)` +
      `${flags.output === '-' ? '' : ` → ${flags.output}`}\n`,
  );
}

async function show(file: string, flags: ShowFlags, io: CliIO): Promise<void> {
  const { loadProfile } = await import('../../profile/model.js');
  const { summarizeProfile, profilePlotInput } = await import('../../profile/report.js');
  const p = await loadProfile(file);
  if (flags.plot) {
    const { plotFormatFor, renderAnalysisPlot } = await import('../../analysis/plot.js');
    const format = plotFormatFor(flags.plot);
    const text = await renderAnalysisPlot(profilePlotInput(p, p.provenance.capture, flags.seed), format);
    await writeOutputFile(flags.plot, text, '--plot');
    io.stderr.write(`smig profile: plot written to ${flags.plot}\n`);
  }
  const s = summarizeProfile(p);
  if (flags.json) {
    io.stdout.write(JSON.stringify(s, (_k, v: unknown) => (v === Infinity ? null : v), 2) + '\n');
    return;
  }
  const pv = s.provenance;
  const at = (ns: string): string => (ns === '0' ? '0s' : formatDuration(BigInt(ns)));
  const window = `${at(pv.from)} … ${pv.to === null ? 'end' : at(pv.to)}`;
  io.stdout.write(`Profile of ${pv.capture} (${pv.captureBytes} bytes, sha256 ${pv.sha256})\n`);
  io.stdout.write(
    table(
      ['', ''],
      [
        ['filter', pv.filter ?? '(none)'],
        ['direction', pv.direction],
        ['window', `${window} after the earliest packet; bin 0 at ${pv.start}`],
        [
          'series',
          `${s.bins} bins of ${formatDuration(BigInt(p.binNs))} = ${formatNumber(s.duration)} s (packets span ${formatNumber(pv.span)} s)`,
        ],
        ['traffic', `${s.packets} packets, ${s.bytes} bytes`],
        [
          'mean rate',
          `${formatRate(s.rates.bytesPerSecond)} (${formatNumber(s.rates.bytesPerSecond)} B/s), ${formatNumber(s.rates.packetsPerSecond)} packets/s`,
        ],
        [
          'per bin',
          `bytes p50 ${formatNumber(s.perBin.bytes.p50)}, p90 ${formatNumber(s.perBin.bytes.p90)}, max ${formatNumber(s.perBin.bytes.max)}; packets p50 ${formatNumber(s.perBin.packets.p50)}, p90 ${formatNumber(s.perBin.packets.p90)}, max ${formatNumber(s.perBin.packets.max)}`,
        ],
      ],
      ['l', 'l'],
    )
      .split('\n')
      .slice(1)
      .join('\n'),
  );
  io.stdout.write(`\nRate levels (Markov chain over bytes per bin; dwell = mean run length)\n`);
  io.stdout.write(
    table(
      ['level', 'bytes/bin from', 'to', 'bins', 'share', 'B/s mean', 'pkt/s mean', 'stay p', 'dwell s'],
      s.levels.map((l) => [
        l.level,
        l.min,
        l.max,
        l.bins,
        l.share,
        l.bytesPerSecond,
        l.packetsPerSecond,
        l.stay,
        l.meanDwellSeconds,
      ]),
    ),
  );
  const z = s.sizes;
  io.stdout.write(
    `\nPacket sizes (wire bytes): mean ${formatNumber(z.mean)}, min ${z.min}, p50 ${formatNumber(z.p50)}, p90 ${formatNumber(z.p90)}, p99 ${formatNumber(z.p99)}, max ${z.max}\n`,
  );
  io.stdout.write(`  most common: ${z.top.map((t) => `${t.size} B (${(100 * t.share).toFixed(1)}%)`).join(', ')}\n`);
  if (s.iat.length > 0) {
    io.stdout.write(
      `Inter-arrival (s): ${s.iat
        .filter(([q]) => [0.1, 0.5, 0.9, 0.99].includes(q))
        .map(([q, v]) => `p${Math.round(q * 100)} ${formatNumber(v)}`)
        .join(', ')} (${p.iat.n} gaps)\n`,
    );
  }
  const b = s.bursts;
  io.stdout.write(
    `Bursts (gaps < ${formatDuration(BigInt(b.gapNs))}): ${b.count}; packets per burst mean ${formatNumber(b.packets.mean)}, p90 ${formatNumber(b.packets.p90)}, max ${b.packets.max}; bytes per burst p50 ${formatNumber(b.bytes.p50)}, max ${b.bytes.max}\n`,
  );
  if (p.shape !== undefined) {
    const { shapeLink, notTcpText } = await import('../../pacing/link.js');
    const l = shapeLink(p.shape);
    const ack = 14 + l.tcpip;
    io.stdout.write(
      `Link (as its packets show it): IPv${l.ipVersion}, full segments ${l.segment} B (MTU ${l.mtu}), TCP timestamps ${l.tcpTimestamps ? 'on' : 'off'} (${ack} B ACKs); pace hosts set so with smig send --match-link (smig lab up --mtu ${l.mtu} --tcp-timestamps ${l.tcpTimestamps ? 'on' : 'off'}${l.ipVersion === 6 ? ' --ipv6' : ''})\n`,
    );
    if (p.shape.nonTcpShare) io.stdout.write(`Transport: ${notTcpText(p.shape.nonTcpShare)}\n`);
    const r = p.shape.reverse;
    if (r !== undefined) {
      const { ACK_SLACK } = await import('../../pacing/shape.js');
      const count = (h: { values: number[]; counts: number[] }): number =>
        h.counts.reduce((a, c, i) => a + (h.values[i]! > l.segment - l.mtu + l.tcpip + ACK_SLACK ? c : 0), 0);
      const n = r.counts.reduce((a, b) => a + b, 0);
      const rd = p.shape.reverseData;
      io.stdout.write(
        `Reverse direction: ${n} packets on the same connections, ${rd === undefined ? `${count(r)} larger than a pure ACK` : `${count(rd)} with data larger than a pure ACK`} (echo records take their sizes)\n`,
      );
    }
  }
}

async function plan(file: string, flags: PlanFlags, io: CliIO): Promise<void> {
  const { loadProfile } = await import('../../profile/model.js');
  const { createPlan, overheadOf, planDuration, stringifyPlan, traceRepeatWarning } = await import(
    '../../pacing/plan.js'
  );
  const p: Profile = await loadProfile(file);
  const pl = createPlan({ strategy: flags.strategy as never, profile: p, rate: flags.rate, seed: flags.seed });
  const repeats = traceRepeatWarning(pl, flags.size);
  if (repeats !== undefined) io.stderr.write(`smig profile plan: warning: ${repeats}\n`);
  const d = planDuration(pl, flags.size);
  const range = await sessionEstimate(pl, flags.size, flags.dataRelays);
  const planBytes = Buffer.byteLength(stringifyPlan(pl));
  if (flags.json) {
    io.stdout.write(
      JSON.stringify(
        {
          plan: pl,
          duration: d,
          session: range === null ? null : { dataRelays: flags.dataRelays, ...range },
          planBytes,
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const o = pl.overheads;
  io.stdout.write(
    `Pacing plan: strategy ${pl.strategy}, seed ${pl.seed}, bin ${formatDuration(BigInt(pl.binNs))}, ` +
      `overhead ${overheadOf(pl)} B per write (TLS ${o.tls} + TCP/IP ${o.tcpip} + link ${o.link})\n`,
  );
  io.stdout.write(
    table(
      ['', ''],
      [
        ['size', `${flags.size} bytes`],
        ['profile mean rate', formatRate(p.rates.bytesPerSecond)],
        [
          'pacer rate',
          d.wireRate === null
            ? 'unpaced (as fast as the links go)'
            : `${formatRate(d.wireRate)} on the wire, ${formatRate(d.payloadRate!)} payload`,
        ],
        [
          'expected time',
          range === null
            ? '- (link speed)'
            : `${rangeText(range, formatSeconds)}, ${flags.dataRelays} data relay${flags.dataRelays === 1 ? '' : 's'}`,
        ],
        ['one hop', d.expectedSeconds === null ? '-' : `${formatSeconds(d.expectedSeconds)} at the plan's mean rate`],
        ['lower bound', `${formatSeconds(d.lowerBoundSeconds!)} (size ÷ profile mean byte rate)`],
        ['ratio', range === null ? '-' : `${formatNumber(range.p50 / d.lowerBoundSeconds!)} (expected ÷ lower bound)`],
        ['plan', `${planBytes} bytes of JSON`],
      ],
      ['l', 'l'],
    )
      .split('\n')
      .slice(1)
      .join('\n'),
  );
}
