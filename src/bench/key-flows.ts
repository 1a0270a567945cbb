/**
 * The key relay flows of a bench run, set beside the normal capture's TCP flows: a key relay's traffic is a short
 * flow at the start of the session (a handshake, the SESSION with the plan, one share, END, closed by the leader
 * once the key is rebuilt), and an observer of that link sees its duration and size. Each key flow is placed among
 * the normal capture's TCP flows by duration and by bytes (its percentile: 50 is the median normal flow).
 */
import type { LinkSpec } from './link-analysis.js';
import { runOk } from './proc.js';
import type { BenchKeyFlow } from './result.js';

/** The normal capture's TCP flows, as the key flows are compared with them. */
export interface NormalFlows {
  count: number;
  seconds: number[];
  bytes: number[];
}

interface FlowJson {
  proto: string;
  start: string;
  duration: number;
  origPackets: number;
  origBytes: number;
  respPackets: number;
  respBytes: number;
}

/** Most flows read per capture (`smig analyze --flows`). */
const MAX_FLOWS = 100_000;

/** The TCP flows of each `capture@filter` class, in one `smig analyze` (a run's key links share one capture). */
async function flowsOf(classes: readonly { capture: string; filter: string }[]): Promise<FlowJson[][]> {
  const p = await runOk('smig analyze', [
    'analyze',
    '--json',
    '--no-progress',
    '--flows',
    String(MAX_FLOWS),
    ...classes.flatMap((c, i) => ['--class', `k${i}=${c.capture}@${c.filter}`]),
  ]);
  const j = JSON.parse(p.stdout) as { captures: { name: string; flows?: FlowJson[] }[] };
  return classes.map((_, i) =>
    (j.captures.find((c) => c.name === `k${i}`)?.flows ?? []).filter((f) => f.proto === 'tcp'),
  );
}

/** The TCP flows of the normal capture (durations and sizes, ascending). */
export async function normalFlows(capture: string): Promise<NormalFlows> {
  const [flows = []] = await flowsOf([{ capture, filter: 'tcp' }]);
  return {
    count: flows.length,
    seconds: flows.map((f) => f.duration).sort((a, b) => a - b),
    bytes: flows.map((f) => f.origBytes + f.respBytes).sort((a, b) => a - b),
  };
}

/** Share of `sorted` below `x`, ties counted half, %; null when `sorted` is empty (a capture with no TCP flow). */
export function percentileOf(sorted: readonly number[], x: number): number | null {
  if (sorted.length === 0) return null;
  let below = 0;
  let equal = 0;
  for (const v of sorted) {
    if (v < x) below++;
    else if (v === x) equal++;
  }
  return (100 * (below + equal / 2)) / sorted.length;
}

/** Both directions of a link spec (its data direction and its reverse one). */
function bothWays(l: LinkSpec): string {
  return l.reverseFilter === undefined ? l.filter : `(${l.filter}) or (${l.reverseFilter})`;
}

/** Every key link of a run, measured from its capture and placed among the normal flows. */
export async function keyFlows(links: readonly LinkSpec[], normal: NormalFlows): Promise<BenchKeyFlow[]> {
  if (links.length === 0) return [];
  const all = await flowsOf(links.map((l) => ({ capture: l.capture, filter: bothWays(l) })));
  const out: BenchKeyFlow[] = [];
  for (const [k, l] of links.entries()) {
    const flows = all[k]!;
    if (flows.length === 0) continue;
    const starts = flows.map((f) => Number(f.start));
    const ends = flows.map((f, i) => starts[i]! + f.duration);
    const seconds = Math.max(...ends) - Math.min(...starts);
    const bytes = flows.reduce((s, f) => s + f.origBytes + f.respBytes, 0);
    out.push({
      link: l.link,
      connections: flows.length,
      seconds,
      packets: flows.reduce((s, f) => s + f.origPackets + f.respPackets, 0),
      bytes,
      durationPercentile: percentileOf(normal.seconds, seconds),
      bytesPercentile: percentileOf(normal.bytes, bytes),
    });
  }
  return out;
}

/** The bytes of each run's poll flows (`all`), and of those the source sends (`source`: links named from it). */
export function pollBytes(
  polls: readonly BenchKeyFlow[] | undefined,
  source: string,
): { all: number[]; source: number } {
  const all = (polls ?? []).map((p) => p.bytes);
  const fromSource = (polls ?? []).filter((p) => p.link.startsWith(`${source} `));
  return { all, source: fromSource.reduce((x, p) => x + p.bytes, 0) };
}
