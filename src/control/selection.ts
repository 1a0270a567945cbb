/**
 * Choosing the hosts of a session (paper §5.2 Algorithm 1: `choose_random_9VM_from_availableVMs`,
 * `VMdestination = VMs[random]`, `split_VMs`, `VMleader = random(dataChunkVMs)`; docs/DESIGN.md §3 "Parties").
 *
 * Among the available hosts other than the flagged one:
 * 1. the destination is drawn uniformly from the hosts that may receive (role `destination`, an agent
 *    with `--out`) and that leave enough relays for the rest;
 * 2. the data and key relays are a uniform random draw without replacement (Fisher–Yates) from the
 *    hosts that may relay, the destination excluded: the first `dataRelays` carry data, the next
 *    `keyRelays` hold key shares;
 * 3. the leader is drawn uniformly from the data relays.
 * Every draw uses the CSPRNG (`crypto.randomInt`, rejection-sampled, no modulo bias); an attacker who
 * saw earlier sessions learns nothing about the next one. The flagged host never takes a role in its
 * own session, and is never the destination.
 */
import { randomInt } from 'node:crypto';
import { smigError } from '../errors.js';
import type { HostRole } from './inventory.js';

/** How many hosts of each kind a session uses (docs/DESIGN.md §3 defaults: 5 data relays, 3 key relays, 2-of-3). */
export interface SessionCounts {
  dataRelays: number;
  keyRelays: number;
  /** Key shares needed, 1..keyRelays. */
  threshold: number;
}

/** The defaults of the paper: nine hosts besides the source. */
export const DEFAULT_COUNTS: Readonly<SessionCounts> = { dataRelays: 5, keyRelays: 3, threshold: 2 };

/** An available host, as the selection sees it. */
export interface Candidate {
  name: string;
  roles: ReadonlySet<HostRole>;
  /** Its agent runs with `--out` (it can serve as a destination). */
  canReceive: boolean;
}

/** The hosts of one session, by name. */
export interface HostPlan {
  destination: string;
  dataRelays: string[];
  keyRelays: string[];
  /** One of {@link dataRelays}. */
  leader: string;
  threshold: number;
}

/** `randomInt(n)`: a uniform integer in [0, n). Injectable for tests; the default is the CSPRNG. */
export type RandomInt = (n: number) => number;

const csprng: RandomInt = (n) => randomInt(n);

/**
 * Checks session counts.
 * @throws SmigError SMIG_ERR_USAGE naming the count
 */
export function checkCounts(c: SessionCounts): SessionCounts {
  const whole = (v: number, min: number, max: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw smigError('SMIG_ERR_USAGE', `${what}: ${v} is not a whole number from ${min} to ${max}`);
  };
  whole(c.dataRelays, 1, 255, 'data relays');
  whole(c.keyRelays, 1, 255, 'key relays');
  whole(c.threshold, 1, c.keyRelays, `threshold (with ${c.keyRelays} key relays)`);
  return c;
}

/**
 * Draws the hosts of a session for `source` from `available` (which may include the source: it is left out).
 * @throws SmigError SMIG_ERR_NO_HOSTS, one line saying what is missing and which hosts were available
 * @example selectHosts('h0', candidates, DEFAULT_COUNTS) // { destination: 'h7', dataRelays: [...], ... }
 */
export function selectHosts(
  source: string,
  available: readonly Candidate[],
  counts: SessionCounts,
  rand: RandomInt = csprng,
): HostPlan {
  checkCounts(counts);
  const others = available.filter((c) => c.name !== source);
  const relays = others.filter((c) => c.roles.has('relay'));
  const need = counts.dataRelays + counts.keyRelays;
  const receivers = others.filter((c) => c.roles.has('destination') && c.canReceive);
  // a receiver is feasible when enough relays remain without it
  const feasible = receivers.filter((d) => relays.length - (d.roles.has('relay') ? 1 : 0) >= need);
  if (feasible.length === 0) {
    const names = others.map((c) => c.name);
    const list =
      names.length === 0 ? 'none' : names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')}, …`;
    const layout = `1 destination, ${counts.dataRelays} data relays, ${counts.keyRelays} key relays`;
    const why =
      receivers.length === 0
        ? 'none of them can be the destination (role destination and an agent with --out)'
        : `${relays.length} of them can relay`;
    throw smigError(
      'SMIG_ERR_NO_HOSTS',
      `cannot migrate ${source}: ${others.length} other hosts available (${list}), a session needs ${need + 1} (${layout}); ${why}`,
    );
  }
  const destination = feasible[draw(rand, feasible.length)]!.name;
  const pool = relays.filter((c) => c.name !== destination).map((c) => c.name);
  // partial Fisher–Yates: the first `need` places of `pool` become a uniform random ordered draw
  for (let i = 0; i < need; i++) {
    const j = i + draw(rand, pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  const dataRelays = pool.slice(0, counts.dataRelays);
  const keyRelays = pool.slice(counts.dataRelays, need);
  return {
    destination,
    dataRelays,
    keyRelays,
    leader: dataRelays[draw(rand, dataRelays.length)]!,
    threshold: counts.threshold,
  };
}

function draw(rand: RandomInt, n: number): number {
  const k = rand(n);
  if (!Number.isInteger(k) || k < 0 || k >= n) throw new RangeError(`random: ${k} is not in [0, ${n})`);
  return k;
}
