/**
 * The flow of `smig demo`: a profile learned from a shipped real normal capture, a generated payload
 * migrated with `bulk` and with `profile` through source → data relay → leader → destination (a key relay beside)
 * while every link is captured, and every link's data direction compared with the capture's hold-out (KS of
 * packets and bytes per bin). It is `smig bench` (./bench.ts) with one size, two strategies and the smallest
 * layout: on a 5-host network-namespace lab when root, on 127.0.0.1 otherwise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AdversarySummary, CvMode } from '../analysis/adversary.js';
import { blocksCanReject } from '../analysis/block-ks.js';
import type { StretchResult } from '../analysis/stretches.js';
import { smigError } from '../errors.js';
import { PACKAGE_ROOT } from './proc.js';

export { PACKAGE_ROOT };

import { DEMO_CAPTURE, DEMO_DATA_FILTER } from './normal.js';
import { mostRejected } from './report-format.js';
import type { BenchTest } from './result.js';

export { DEMO_CAPTURE, DEMO_DATA_FILTER, splitBlocks } from './normal.js';

/** What `runDemo` needs. */
export interface DemoOptions {
  /** Directory for every file of the demo (made if missing). */
  out: string;
  /** Payload size in bytes (the same for both strategies). */
  size: number;
  /** Bin width of the profile and of the tests, as `smig` durations take it (e.g. `500ms`). */
  bin: string;
  /** Where the hosts run (default: the lab when root and iproute2 is there, else loopback). */
  hosts?: 'lab' | 'loopback';
  /** Also run the trained observer on every link. */
  adversary?: boolean;
  /** How the observer deals windows to folds (`--adversary-cv`; default one by one). */
  adversaryCv?: CvMode;
  /** Relays (default one data relay, one key relay, threshold 1). */
  layout?: { dataRelays: number; keyRelays: number; threshold: number };
  /** Progress lines (no newline). */
  log: (line: string) => void;
}

/** One KS test of a link against the hold-out. */
export interface DemoKs {
  D: number;
  p: number;
  n: number;
  m: number;
  distinguishable: boolean;
}

/**
 * A per-packet test of one link (sizes or gaps) against the hold-out: KS D and p, packet by packet, and the p of
 * the same D by 5 s blocks (`smig analyze --blocks`); null when its blocks are too few to reject at all.
 */
export interface DemoPacketKs {
  D: number;
  p: number;
  byBlocks: number | null;
}

/** The verdict on one link of one strategy's migration. */
export interface DemoVerdict {
  strategy: 'bulk' | 'profile';
  link: string;
  packets: DemoKs;
  bytes: DemoKs;
  /** Packet sizes and gaps (not part of the verdict: see DemoPacketKs). */
  size: DemoPacketKs;
  gap: DemoPacketKs;
  /** Either per-bin test rejects "same distribution as the hold-out". */
  distinguishable: boolean;
  /**
   * The learned half's stretches as long as the link, tested the same way (`smig analyze --stretches`): how many of
   * them either test rejects at most (packets or bytes); absent for a link longer than the learned half.
   */
  stretches?: { rejected: number; count: number };
  /** The trained observer on this link (with `adversary`). */
  adversary?: AdversarySummary;
}

/** What `runDemo` returns. */
export interface DemoResult {
  out: string;
  hosts: 'lab' | 'loopback';
  /** The generated payload both strategies migrated. */
  payload: string;
  profile: string;
  holdout: string;
  /** The bench report: rates of normal (hold-out), bulk and stealth (profile) on the source link, tables per link. */
  report: string;
  migrations: { strategy: 'bulk' | 'profile'; seconds: number; sha256: string; capture: string }[];
  verdicts: DemoVerdict[];
  /** The trained observer on the hold-out against itself (with `adversary`). */
  adversaryBaseline?: AdversarySummary;
}

/** The demo's default layout: the smallest (5 hosts). */
export const DEMO_LAYOUT = { dataRelays: 1, keyRelays: 1, threshold: 1 } as const;

/** Runs the demo: `smig bench` with one size, bulk and profile, one data relay and one key relay (threshold 1). */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  if (!existsSync(DEMO_CAPTURE)) throw smigError('SMIG_ERR_FILE', `the shipped capture ${DEMO_CAPTURE} is missing`);
  const { runBench } = await import('./bench.js');
  const { findExecutable } = await import('../lab/lab.js');
  const hosts =
    opts.hosts ?? (process.getuid?.() === 0 && (await findExecutable('ip')) !== undefined ? 'lab' : 'loopback');
  opts.log(
    hosts === 'lab'
      ? 'hosts: a 5-host network-namespace lab (smig lab), captures on every host link'
      : 'hosts: processes on 127.0.0.1, one capture on lo',
  );
  const r = await runBench({
    hosts,
    sizes: [opts.size],
    strategies: ['bulk', 'profile'],
    normal: DEMO_CAPTURE,
    normalFilter: DEMO_DATA_FILTER,
    bin: opts.bin,
    alpha: 0.05,
    out: opts.out,
    labName: 'demo',
    layout: opts.layout ?? DEMO_LAYOUT,
    plain: false,
    adversary: opts.adversary === true,
    ...(opts.adversaryCv === undefined ? {} : { adversaryCv: opts.adversaryCv }),
    log: opts.log,
  });
  const ks = (
    tests: { feature: string; statistic: number; pvalue: number; n: number; m: number; distinguishable: boolean }[],
    feature: string,
  ): DemoKs => {
    const t = tests.find((x) => x.feature === feature);
    if (!t) throw smigError('SMIG_ERR_INTERNAL', `smig analyze gave no ${feature} comparison`);
    return { D: t.statistic, p: t.pvalue, n: t.n, m: t.m, distinguishable: t.distinguishable };
  };
  const perPacket = (tests: BenchTest[], feature: 'size' | 'iat'): DemoPacketKs => {
    const t = tests.find((x) => x.feature === feature);
    if (!t) throw smigError('SMIG_ERR_INTERNAL', `smig analyze gave no ${feature} comparison`);
    const b = t.blocks;
    return { D: t.statistic, p: t.pvalue, byBlocks: b === undefined || !blocksCanReject(b, r.alpha) ? null : b.pvalue };
  };
  const runs = r.runs.filter(
    (x): x is typeof x & { strategy: 'bulk' | 'profile' } => x.strategy === 'bulk' || x.strategy === 'profile',
  );
  return {
    out: opts.out,
    hosts,
    payload: join(opts.out, 'runs', `payload-${opts.size}.bin`),
    profile: r.normal.profile,
    holdout: r.normal.reference,
    report: r.files.report,
    migrations: runs.map((x) => ({
      strategy: x.strategy,
      seconds: x.seconds,
      sha256: x.sha256,
      capture: x.links[0]!.capture,
    })),
    verdicts: runs.flatMap((x) =>
      x.links.map((l) => ({
        strategy: x.strategy,
        link: l.link,
        packets: ks(l.tests, 'packets_per_bin'),
        bytes: ks(l.tests, 'bytes_per_bin'),
        size: perPacket(l.tests, 'size'),
        gap: perPacket(l.tests, 'iat'),
        distinguishable: l.distinguishable,
        ...stretchesOf(mostRejected(l.tests)),
        ...(l.adversary ? { adversary: l.adversary } : {}),
      })),
    ),
    ...(runs.find((x) => x.adversaryBaseline)?.adversaryBaseline
      ? { adversaryBaseline: runs.find((x) => x.adversaryBaseline)!.adversaryBaseline! }
      : {}),
  };
}

/** A verdict's `stretches` field from the stretch result that rejects the larger share. */
function stretchesOf(s: StretchResult | undefined): { stretches?: { rejected: number; count: number } } {
  return s === undefined ? {} : { stretches: { rejected: s.rejected, count: s.count } };
}
