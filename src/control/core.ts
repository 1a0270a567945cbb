/**
 * What the controller's parts share (see controller.ts for the whole): its options, its clock, the sessions it
 * knows (journaled and live), which hosts are being migrated, the journal, the background tasks, and the types
 * of hosts, triggers and live sessions. Each part (hosts.ts, sessions.ts, alerts.ts, operator.ts, recovery.ts)
 * holds one {@link ControlCore}; none of them owns the controller's life, which is engine.ts's (journal, start,
 * stop) and controller.ts's (listener, links, EVE file).
 */
import { randomBytes } from 'node:crypto';
import type { PublicIdentity } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { HostPort, ListenerLimits } from '../net/index.js';
import type { TimerClock, TimerHandle } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { JsonObject, Message } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import type { HookEvent, HookSpec } from './hooks.js';
import type { Inventory, InventoryHost } from './inventory.js';
import type { Journal, SessionOutcome, SessionState, TriggerReason } from './journal.js';
import type { SessionCounts } from './selection.js';
import { checkCounts, DEFAULT_COUNTS } from './selection.js';
import type { AgentInstruct, AgentRole, AgentStatus } from './wire.js';

/** Options of {@link Controller.start}. */
export interface ControllerOptions {
  clusterKey: Uint8Array;
  /** Every host needs a `key` unless {@link insecureNoIdentities}. */
  inventory: Inventory;
  /** Public keys of the operators allowed to send requests (`--operator-key`); required unless {@link insecureNoIdentities}. */
  operatorKeys?: PublicIdentity[];
  /**
   * Accept hosts without an inventory key and, when no operator key is given, unsigned operator requests
   * (anyone with the cluster key may then register as such a host or give orders). Loudly logged.
   * Hosts that do have a key must still sign; with operator keys, requests must still be signed.
   */
  insecureNoIdentities?: boolean;
  /** Where agents and `smig control migrate|status` connect. */
  listen: HostPort;
  /** The session journal file. */
  journal: string;
  /** Suricata EVE file to follow. */
  eve?: string;
  evePollMs?: number;
  /** Test hook: read the EVE file from its start. */
  eveFromStart?: boolean;
  /** Act on alerts of severity ≤ this (1 most severe). Default 2. */
  maxSeverity?: number;
  /** Ignore a host's alerts for this long after it was flagged. Default 5 min. */
  cooldownMs?: number;
  hooks?: HookSpec[];
  /** Time limit of one hook. Default 5 min. */
  hookTimeoutMs?: number;
  counts?: SessionCounts;
  /** From trigger to DONE. Default 1 h. */
  deadlineMs?: number;
  /** Agents' heartbeat interval; an agent silent for 3 intervals is not chosen. Default 5 s. */
  heartbeatMs?: number;
  /** How long a trigger waits for enough available hosts. Default 30 s. */
  hostWaitMs?: number;
  /** How long the chosen hosts have to acknowledge their instructions. Default 15 s. */
  prepareTimeoutMs?: number;
  /** After a restart, or when the source's agent disconnects mid-session: how long to wait for it. Default 30 s. */
  recoverWaitMs?: number;
  /** Retry a failed session once with fresh hosts. Default true. */
  retry?: boolean;
  /** A fresh pacing plan for each session (undefined: bulk). */
  plan?: () => PacingPlan | undefined;
  log?: Logger;
  /** Each line a hook prints (default: a `hook-output` log event). */
  hookOutput?: (event: HookEvent, line: string) => void;
  channel?: ChannelTimeouts;
  /** Caps of the listener (connections, handshakes, per address, opening frame); defaults of src/net. */
  limits?: ListenerLimits;
  /**
   * Every time the controller reads and every timer it sets (heartbeat silence, host wait, deadlines, grace
   * periods, hook limits, EVE polling, journal timestamps). Default: the real clock; tests pass a FakeClock.
   */
  clock?: TimerClock;
}

/** Longest duration a controller option may have (node timers: 2^31 − 1 ms ≈ 24.8 days). */
export const MAX_TIMER_MS: number = 20 * 24 * 3600_000;

/**
 * What the controller's logic needs of an agent's connection: send it a frame, close it, name its peer. In the
 * daemon a TLS link (controller.ts); in tests an in-memory recorder, so the logic runs without sockets.
 */
export interface AgentLink {
  /** The peer's address, for logs. */
  readonly remote: string;
  post(m: Message): void;
  close(): Promise<void> | void;
}

/** A host of the inventory and what its agent last said. */
export interface HostState {
  inv: InventoryHost;
  link: AgentLink | null;
  /** When its agent was last heard, on the monotonic clock (`clock.now()`). */
  lastSeen: number | null;
  out: boolean;
  sources: string[];
  busy: Map<string, AgentRole>;
  honeypot: boolean;
}

/** A trigger: one flagged host to migrate, over at most two attempts. */
export interface Trigger {
  id: string;
  host: HostState;
  sourceName: string;
  reason: TriggerReason;
  listeners: Set<(m: JsonObject) => void>;
  /** Hosts that refused or did not answer in an earlier attempt: a retry does without them. */
  avoid: Set<string>;
}

/** What a session ended with. */
export type Ending =
  | { ok: true; outcome: SessionOutcome }
  | { ok: false; error: string; retryable: boolean; blame?: string[] };

/** A session being run (or recovered) now. */
export interface Live {
  st: SessionState;
  trigger: Trigger;
  /** Resolves the session's end (first call wins). */
  end: (e: Ending) => void;
  ended: Promise<Ending>;
  /** Waiters for acks keyed by host name. */
  acks: Map<string, { resolve: (m: AgentStatus) => void }>;
  graceTimer?: TimerHandle;
}

/** Wakes whoever waits for the hosts to change (an agent came, went, or released a session). */
export class Wake {
  readonly #clock: TimerClock;
  #waiters: (() => void)[] = [];
  constructor(clock: TimerClock) {
    this.#clock = clock;
  }
  /** Resolves at the next {@link notify}, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#clock.timer(ms, done);
      const self = this;
      function done(): void {
        t.cancel();
        self.#waiters = self.#waiters.filter((w) => w !== done);
        resolve();
      }
      this.#waiters.push(done);
    });
  }
  notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** The state the controller's parts share. */
export class ControlCore {
  readonly o: ControllerOptions;
  readonly log: Logger;
  readonly counts: SessionCounts;
  readonly sessions: Map<string, SessionState> = new Map();
  readonly live: Map<string, Live> = new Map();
  readonly migrating: Map<string, Trigger> = new Map();
  readonly clock: TimerClock;
  readonly hostsChanged: Wake;
  readonly tasks: Set<Promise<void>> = new Set();
  /** Set once by ControlEngine.open before anything uses it. */
  journal!: Journal;
  closing = false;

  /** @throws SmigError SMIG_ERR_USAGE (a duration out of range, counts) */
  constructor(o: ControllerOptions) {
    const timers: [string, number | undefined][] = [
      ['deadline', o.deadlineMs],
      ['heartbeat', o.heartbeatMs],
      ['host wait', o.hostWaitMs],
      ['prepare timeout', o.prepareTimeoutMs],
      ['recover wait', o.recoverWaitMs],
      ['hook timeout', o.hookTimeoutMs],
      ['EVE poll', o.evePollMs],
    ];
    for (const [what, v] of timers) {
      // node timers hold at most 2^31 − 1 ms; the deadline also travels as the hosts' time to live (+ 1 min)
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1 || v > MAX_TIMER_MS))
        throw smigError('SMIG_ERR_USAGE', `${what}: ${v} ms is not from 1 ms to 20 days`);
    }
    this.o = o;
    this.clock = o.clock ?? new RealClock();
    this.hostsChanged = new Wake(this.clock);
    this.log = o.log ?? silentLogger;
    this.counts = checkCounts(o.counts ?? { ...DEFAULT_COUNTS });
  }

  get heartbeatMs(): number {
    return this.o.heartbeatMs ?? 5000;
  }

  get recoverMs(): number {
    return this.o.recoverWaitMs ?? 30_000;
  }

  /** Runs `p` in the background; close() waits for it. */
  task(p: Promise<unknown>): void {
    const q = p.then(
      () => {},
      (err: unknown) => {
        if (!this.closing) this.log.event('internal-error', { reason: (err as Error).message });
      },
    );
    this.tasks.add(q);
    void q.then(() => this.tasks.delete(q));
  }

  /** Tells a trigger's listeners (operators waiting with `migrate --wait`). */
  emit(t: Trigger, m: JsonObject): void {
    for (const l of [...t.listeners]) l(m);
  }
}

/** Sends an instruction to an agent. */
export function instruct(link: AgentLink, m: AgentInstruct): void {
  link.post({ type: FrameType.INSTRUCT, payload: m as unknown as JsonObject });
}

/** A fresh trigger or session id. */
export function newId(): string {
  return randomBytes(16).toString('hex');
}
