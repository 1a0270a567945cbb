/**
 * The shape of a bench run's results (bench.json): what `runBench` returns and what the report reads, in its own
 * module so the report depends on the shape and not on the runner.
 */
import type { AdversarySummary, CvMode } from '../analysis/adversary.js';
import type { BlockTest } from '../analysis/analyze.js';
import type { StretchResult } from '../analysis/stretches.js';
import type { CaptureLink } from '../pacing/link.js';
import type { BenchLayout } from './layout.js';

/** The migration strategies a bench compares. */
export const BENCH_STRATEGIES = ['bulk', 'constant', 'profile', 'replay'] as const;
export type BenchStrategy = (typeof BENCH_STRATEGIES)[number];

/** The trained observer on one link (or the reference against itself): ROC AUC, its 95 % interval, balanced accuracy. */
export type BenchAdversary = AdversarySummary;

/** One test of a link against the reference (a row of `smig analyze --json` comparisons). */
export interface BenchTest {
  feature: string;
  test: string;
  statistic: number;
  pvalue: number;
  n: number;
  m: number;
  critical: number | null;
  distinguishable: boolean;
  /** Per-bin tests: the same test on stretches of the learned half as long as the link (`smig analyze --stretches`). */
  stretches?: StretchResult;
  /** Size and gap tests: the same D with its p-value by blocks of the split's length (`smig analyze --blocks`). */
  blocks?: BlockTest;
}

/** A link compared on one side (its reverse direction, or against the learned half): its tests without its name. */
export type LinkSide = Omit<BenchLink, 'link' | 'capture' | 'reverse' | 'fidelity' | 'reverseFidelity'>;

/** One observed link of a run: its data direction only. */
export interface BenchLink {
  link: string;
  capture: string;
  filter: string;
  packets: number;
  bytes: number;
  tests: BenchTest[];
  /** KS of packets or bytes per bin rejects "same distribution as the reference" at α. */
  distinguishable: boolean;
  /** The trained observer's verdict on this link (with `adversary`). */
  adversary?: BenchAdversary;
  /** The link's reverse direction against the normal capture's reverse direction (with a reverse filter). */
  reverse?: LinkSide;
  /**
   * The link against the learned half itself (the traffic the profile was learned from), not the hold-out: how
   * faithfully the pacer imitates what it learned. Far from the hold-out but close to this means the capture's
   * halves differ, not that the pacer failed.
   */
  fidelity?: LinkSide;
  /** The link's reverse direction against the learned half's reverse direction (both filters known). */
  reverseFidelity?: LinkSide;
}

/** CPU and peak memory of one process. */
export interface BenchResources {
  cpuSeconds: number;
  maxRssKiB: number;
}

/** One run: a plain copy or a migration of one size with one strategy. */
export interface BenchRun {
  kind: 'plain' | 'migration';
  strategy: 'plain' | BenchStrategy;
  size: number;
  seconds: number;
  /** size ÷ the profile's mean byte rate: how long normal traffic takes to carry it (one link). */
  lowerBoundSeconds: number;
  ratio: number;
  /**
   * A paced migration: the payload at its plan's mean payload rate (frame bytes of the profile's packets, after the
   * TCP/IP and TLS headers each one costs), one paced hop's time for it, and seconds ÷ that. ratio ÷ oneHopRatio
   * is what the profile's packet sizes cost; oneHopRatio what the path (relays, leader, cushions, lulls) adds.
   */
  oneHopSeconds?: number;
  oneHopRatio?: number;
  sha256: string;
  /** IP bytes the source put on the wire (data direction, all its links) ÷ size − 1. */
  overhead: number;
  /**
   * Share of the wire bytes of all tested links (data direction, captured length) that is not payload: 1 − hops × size ÷
   * those bytes, hops = 3 for a migration (source → relay → leader → destination), 1 for the plain copy. Headers,
   * TLS, frame headers, PAD fill and cover: what stealth costs in bytes.
   */
  wireOverhead?: number;
  links: BenchLink[];
  /** Per role (source, data relay 1, …, destination). */
  resources: Record<string, BenchResources>;
  /** Packets lost by the run's captures: dropped by smig capture (output lagging) or by the kernel (ring full). */
  captureDrops: number;
  /** The trained observer on the reference against itself (even vs odd blocks), beside the links' AUCs. */
  adversaryBaseline?: BenchAdversary;
  /** The same for the reference's reverse direction (with a reverse filter). */
  reverseAdversaryBaseline?: BenchAdversary;
  /** The key relay flows (migrations), each placed among the normal capture's TCP flows. */
  keyFlows?: BenchKeyFlow[];
  /**
   * The polls for the outcome (src/roles/poll.ts) beside each data connection, source → data relay and data relay →
   * leader, both ways, as flows (`connections` polls; `seconds` from the first to the last).
   */
  pollFlows?: BenchKeyFlow[];
  /**
   * What each paced hop's pacer did (the source's data links, the data relays, the leader; from their `pacing`
   * log events): where a session's time beyond its bound went.
   */
  hops?: BenchHop[];
}

/** One paced hop of a run: its pacer's report (roles/pace.ts `HopPacingReport`). */
export interface BenchHop {
  /** As the links are named: `source → data relay 1`, `data relay 1 → leader`, `leader → destination`. */
  hop: string;
  /** The pacer's first write to its last, s. */
  seconds: number;
  writes: number;
  /** Frame bytes written: data and PAD (the TLS records' plaintext). */
  frameBytes: number;
  /** Of them, PAD (cover and fill); shaped hops only. */
  padBytes?: number;
  /** Seconds the schedule paused for data it did not have yet; shaped hops only. */
  pausedSeconds?: number;
  /** Seconds from its first write to the last that carried data (cover after it); shaped hops only. */
  dataSeconds?: number;
  /** How late the 99th percentile write was granted, ms. */
  lateP99Ms: number;
}

/** One key relay flow of a run. */
export interface BenchKeyFlow {
  link: string;
  /** TCP connections seen on the link (1 unless it reconnected). */
  connections: number;
  /** First packet to last, s. */
  seconds: number;
  packets: number;
  /** IP bytes, both directions. */
  bytes: number;
  /** Share of the normal capture's TCP flows that lasted less, %; null when it has none (a UDP capture). */
  durationPercentile: number | null;
  /** Share of the normal capture's TCP flows that carried fewer bytes, %; null when it has none. */
  bytesPercentile: number | null;
}

/** What {@link runBench} returns (and writes as bench.json). */
export interface BenchResult {
  version: 1;
  hosts: 'lab' | 'loopback';
  created: string;
  bin: string;
  alpha: number;
  /** The trained observer's settings, when it ran (`--adversary`). */
  adversary?: { cv: CvMode; permutations: number };
  normal: {
    capture: string;
    filter: string | null;
    reference: string;
    profile: string;
    meanByteRate: number;
    /** Block length of the learn/hold-out split, s (absent with a given profile). */
    splitSeconds?: number;
    /** Seed of that split: which block of each pair was learned (0: the even ones; absent before 2026-12-07: 0). */
    splitSeed?: number;
    /**
     * The learned half itself tested against the hold-out as a link would be (absent with a given profile): what a
     * pacer that reproduced the learned traffic perfectly would score, the best any link can expect.
     */
    learned?: BenchLink;
    /**
     * The trained observer on the whole normal capture against itself (its even vs odd 10 s blocks, data direction):
     * normal vs normal on all the normal traffic there is, where the runs' `adversaryBaseline` has only the hold-out.
     */
    adversaryBaseline?: BenchAdversary;
    /** Filter of the normal capture's reverse direction, when the links' reverse directions were tested. */
    reverseFilter?: string;
    /** The normal capture's TCP flows (the whole capture), which the key relay flows are set beside. */
    tcpFlows?: { count: number; medianSeconds: number | null; medianBytes: number | null };
  };
  /**
   * How the lab's links were set to match the capture (`profile` runs shape for them): MTU, TCP timestamps, full
   * segment, TCP/IP header bytes, IP version (6: the lab ran over IPv6); null on loopback.
   */
  link: CaptureLink | null;
  layout: BenchLayout;
  runs: BenchRun[];
  /** The stealth criteria counted over each migration run's links, and over the learned half (criteria.ts). */
  criteria?: BenchCriteria;
  files: { json: string; report: string; timeFigure: string; rateFigure: string; detailFigure: string };
}

/** Counts of links meeting each criterion. */
export interface CriteriaCounts {
  links: number;
  /** Packets and bytes per bin both pass. */
  perBin: number;
  /** Sizes and gaps both pass, packet by packet. */
  packets: number;
  /** Sizes and gaps both pass by blocks (packet by packet where a test has no blocks). */
  packetsByBlocks: number;
  /** Links the observer scored (enough windows). */
  scored: number;
  /** Of them, within the baseline + 0.05 (`profile`, `replay`), or at AUC 0.9 or above (`bulk`, `constant`; criteria.ts). */
  observer: number;
  /**
   * The same on equal footing: the mean AUC of the link's segments as long as the hold-out (its whole AUC when it is
   * not longer; analysis/adversary-segments.ts). Absent in results written before it was counted.
   */
  observerEqual?: number;
}

/** One run's counts, with what they were read against. */
export interface RunCriteria extends CriteriaCounts {
  strategy: BenchRun['strategy'];
  size: number;
  ratio: number;
  /** seconds ÷ one paced hop's time at the plan's mean payload rate (BenchRun.oneHopRatio), when known. */
  oneHopRatio?: number;
  wireOverhead: number | null;
  /** The observer's baseline AUC of the run (null without the observer or with too few windows). */
  baseline: number | null;
  /** What the observer criterion is: within the baseline, or detected. */
  observerRule: 'within' | 'detected';
}

/** bench.json's `criteria`: each migration run's counts, and the learned half's. */
export interface BenchCriteria {
  runs: RunCriteria[];
  learned?: CriteriaCounts;
}
