/**
 * `smig send --dry-run`: the pacing plan of a session per link (expected time, lower bound), as a table or
 * `--json`, without connecting.
 */
import type { HostPort } from '../net/address.js';
import type { PacingPlan } from '../pacing/plan.js';
import { formatDuration, formatRate } from '../util/units.js';
import { rangeText, sessionEstimate } from './estimate.js';
import type { CliIO } from './io.js';
import { formatNumber, table } from './table.js';

/** The flags of `smig send` a dry run reads. */
export interface DryRunOptions {
  dest: HostPort;
  dataRelays: HostPort[];
  keyRelays: HostPort[];
  leader?: HostPort;
  json?: boolean;
}

/**
 * `--dry-run`: the plan per link. Every data link carries about 1/N of the envelope, the leader's link to the
 * destination all of the payload; each paced hop runs at the plan's mean rate, so the slowest hop (the
 * destination's) sets the expected time. The lower bound is size ÷ the profile's mean byte rate.
 */
export async function dryRun(
  opts: DryRunOptions,
  plan: PacingPlan,
  length: number | null,
  file: string,
  io: CliIO,
): Promise<void> {
  const { formatHostPort } = await import('../net/address.js');
  const { planDuration, overheadOf, traceRepeatWarning } = await import('../pacing/plan.js');
  const { DATA_FRAME_OVERHEAD, DATA_SEGMENT_FRAME_OVERHEAD, frameBytes } = await import('../roles/pace.js');
  const { PREFIX_BYTES, TAG_BYTES, TRAILER_BYTES, DEFAULT_SEGMENT_SIZE } = await import('../crypto/envelope.js');
  const n = opts.dataRelays.length;
  const leader = opts.leader === undefined ? '(a random data relay)' : formatHostPort(opts.leader);
  const envelope =
    length === null
      ? null
      : PREFIX_BYTES + length + TAG_BYTES * Math.ceil(length / DEFAULT_SEGMENT_SIZE) + TRAILER_BYTES;
  const hop = (
    name: string,
    bytes: number | null,
    frame: number,
  ): { hop: string; bytes: number | null; wireRate: number | null; expectedSeconds: number | null } => {
    const d = planDuration(plan, bytes === null ? 0 : frameBytes(plan, bytes, frame));
    return { hop: name, bytes, wireRate: d.wireRate, expectedSeconds: bytes === null ? null : d.expectedSeconds };
  };
  const share = envelope === null ? null : Math.ceil(envelope / n);
  const links = [
    ...opts.dataRelays.map((r) => hop(`source → data relay ${formatHostPort(r)}`, share, DATA_FRAME_OVERHEAD)),
    ...opts.dataRelays.map((r) =>
      hop(`data relay ${formatHostPort(r)} → leader ${leader}`, share, DATA_SEGMENT_FRAME_OVERHEAD),
    ),
    hop(`leader ${leader} → destination ${formatHostPort(opts.dest)}`, length, DATA_FRAME_OVERHEAD),
  ];
  const slowest =
    plan.strategy === 'bulk' || length === null ? null : Math.max(...links.map((l) => l.expectedSeconds!));
  const range = length === null ? null : await sessionEstimate(plan, length, n);
  const expected = range === null ? null : range.p50;
  const lower = length === null ? null : planDuration(plan, length).lowerBoundSeconds;
  const repeats = length === null ? undefined : traceRepeatWarning(plan, length);
  if (repeats !== undefined) io.stderr.write(`smig send: warning: ${repeats}\n`);
  if (opts.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          dryRun: true,
          file,
          bytes: length,
          envelopeBytes: envelope,
          plan,
          links,
          unpaced: opts.keyRelays.map((k) => `source → key relay ${formatHostPort(k)}`),
          expectedSeconds: expected,
          expectedRange: range,
          slowestHopSeconds: slowest,
          lowerBoundSeconds: lower,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  const secs = (s: number | null): string => (s === null ? '-' : `${formatNumber(s)} s`);
  const o = plan.overheads;
  io.stdout.write(
    plan.strategy === 'bulk'
      ? 'Pacing plan: strategy bulk (no pacing: every hop as fast as it goes)\n'
      : `Pacing plan: strategy ${plan.strategy}, seed ${plan.seed}, bin ${formatDuration(BigInt(plan.binNs))}, ` +
          `overhead ${overheadOf(plan)} B per write (TLS ${o.tls} + TCP/IP ${o.tcpip} + link ${o.link})\n`,
  );
  io.stdout.write(
    `${file === '-' ? 'stdin: length unknown, no time estimate' : `${file}: ${length} bytes, envelope ≈ ${envelope} bytes`}\n`,
  );
  io.stdout.write(
    table(
      ['link', 'bytes', 'wire rate', 'at mean rate'],
      [
        ...links.map((l) => [
          l.hop,
          l.bytes === null ? '-' : l.bytes,
          l.wireRate === null ? 'unpaced' : formatRate(l.wireRate),
          secs(l.expectedSeconds),
        ]),
        ...opts.keyRelays.map((k) => [
          `source → key relay ${formatHostPort(k)} (and on to the leader)`,
          'a share',
          'unpaced',
          '-',
        ]),
      ],
      ['l', 'r', 'r', 'r'],
    ),
  );
  io.stdout.write(
    `expected time  ${plan.strategy === 'bulk' ? '- (as fast as the links go)' : range === null ? '-' : rangeText(range, (s) => secs(s))}\n`,
  );
  if (slowest !== null)
    io.stdout.write(
      `slowest hop    ${secs(slowest)} at the plan's mean rate (${plan.profile?.trace !== undefined && plan.strategy === 'profile' ? 'each hop draws its own writes; a hop short of data waits, pads or covers' : 'each hop draws its own bins; a hop without data loses its burst'})\n`,
    );
  io.stdout.write(
    `lower bound    ${lower === null ? '- (needs --profile and a known size)' : `${secs(lower)} (size ÷ profile mean byte rate)`}\n`,
  );
  if (expected !== null && lower !== null && lower > 0)
    io.stdout.write(`ratio          ${formatNumber(expected / lower)} (expected ÷ lower bound)\n`);
}
