/**
 * The controller daemon (`smig control`; issue 5, DESIGN §3 "Parties", paper §5.2 Algorithm 1): it hears
 * the IDS, picks random available hosts, instructs them, follows the session, enforces its deadline, runs
 * the operator's hooks, and keeps a journal so that a restart loses nothing and runs nothing twice.
 *
 * One session, step by step (each step journaled before it is acted on):
 * 1. trigger: an EVE alert ({@link AlertTriage}) or `smig control migrate HOST[:SOURCE]`; the flagged host
 *    must be in the inventory with role `source`, its agent connected, and not already migrating.
 * 2. selection ({@link selectHosts}) among the available hosts (agent connected, heartbeat fresh, not busy,
 *    not a honeypot); when too few are available the controller waits up to `hostWaitMs` for hosts to
 *    come back, then refuses (the `failed` hook runs, the refusal is in the journal and the status).
 *    The chosen hosts are busy from now until each reports `released`.
 * 3. `relay` to every relay, `receive` to the destination (which answers with the port it opened); every
 *    one must acknowledge within `prepareTimeoutMs` (the paper's `send_instruction_to_VMdestination`, …).
 * 4. `send` to the source's agent, with the hosts, the session id and the pacing plan; it runs the
 *    migration and reports the destination's DONE (`result`). The deadline runs from the selection.
 * 5. DONE ok: the source becomes a honeypot (kept out of every later session until `reinstate`), then the
 *    hooks make-honeypot, disconnect, connect, notify-ids run in order. A failure runs `failed` and, once
 *    per trigger, a retry with freshly drawn hosts — unless the failure is the source's own (its agent
 *    is gone, or it has no such source).
 *
 * Restart: see journal.ts. Sessions whose source was already instructed are resolved by asking the
 * source's agent, which reports its sessions when it registers again (agents reconnect on their own).
 */
import { randomBytes } from 'node:crypto';
import { encodePublicKey } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import { formatHostPort, listenChannel } from '../net/index.js';
import type { ChannelListener, FramedConnection, HostPort, ListenerLimits } from '../net/index.js';
import { stringifyPlan } from '../pacing/plan.js';
import type { PacingPlan } from '../pacing/plan.js';
import { FrameType } from '../protocol/index.js';
import type { JsonObject, Message } from '../protocol/index.js';
import { Link } from '../roles/link.js';
import { logRejected, silentLogger } from '../roles/log.js';
import type { Logger } from '../roles/log.js';
import type { ChannelTimeouts } from '../roles/source.js';
import type { PublicIdentity } from '../crypto/identity.js';
import { channelBinding, checkSignature, newChallenge } from './auth.js';
import { AlertTriage, EveFollower } from './eve.js';
import type { EveAlert, EveStats } from './eve.js';
import { SUCCESS_EVENTS, hookEnvironment, runHook } from './hooks.js';
import type { HookEvent, HookResult, HookSpec } from './hooks.js';
import type { Inventory, InventoryHost } from './inventory.js';
import { Journal, KEEP_CLOSED } from './journal.js';
import type { SessionOutcome, SessionState, TriggerReason } from './journal.js';
import { DEFAULT_COUNTS, checkCounts, selectHosts } from './selection.js';
import type { Candidate, HostPlan, SessionCounts } from './selection.js';
import { parseAgentStatus, parseOperatorRequest } from './wire.js';
import type { AgentInstruct, AgentReport, AgentRole, AgentStatus, OperatorRequest } from './wire.js';

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
}

/** Longest duration a controller option may have (node timers: 2^31 − 1 ms ≈ 24.8 days). */
export const MAX_TIMER_MS: number = 20 * 24 * 3600_000;

/** A host as `smig control status` shows it. */
export interface HostStatus {
  name: string;
  address: string;
  roles: string[];
  state: 'available' | 'busy' | 'offline' | 'silent' | 'honeypot';
  out: boolean;
  sources: string[];
  /** Sessions it is busy with (ids). */
  sessions: string[];
  /** Milliseconds since its agent was last heard, null if never. */
  lastSeenMs: number | null;
}

/** A session as `smig control status` shows it. */
export interface SessionStatus {
  id: string;
  trigger: string;
  attempt: number;
  created: string;
  reason: TriggerReason;
  source: string;
  sourceName: string | null;
  destination: string | null;
  leader: string | null;
  dataRelays: string[];
  keyRelays: string[];
  threshold: number | null;
  state: 'planned' | 'sending' | 'done' | 'failed' | 'refused';
  closed: boolean;
  error: string | null;
  outcome: SessionOutcome | null;
  hooks: { hook: string; status: number | null; error: string | null }[];
}

/** Everything `smig control status` prints. */
export interface ControllerStatus {
  listen: string;
  journal: string;
  counts: SessionCounts;
  hosts: HostStatus[];
  /** Newest first, at most 20. */
  sessions: SessionStatus[];
  eve: (EveStats & { path: string; unknown: number; suppressed: number; triggered: number }) | null;
}

interface HostState {
  inv: InventoryHost;
  link: Link | null;
  lastSeen: number | null;
  out: boolean;
  sources: string[];
  busy: Map<string, AgentRole>;
  honeypot: boolean;
}

/** A trigger: one flagged host to migrate, over at most two attempts. */
interface Trigger {
  id: string;
  host: HostState;
  sourceName: string;
  reason: TriggerReason;
  listeners: Set<(m: JsonObject) => void>;
  /** Hosts that refused or did not answer in an earlier attempt: a retry does without them. */
  avoid: Set<string>;
}

/** What a session ended with. */
type Ending = { ok: true; outcome: SessionOutcome } | { ok: false; error: string; retryable: boolean; blame?: string[] };

/** A session being run (or recovered) now. */
interface Live {
  st: SessionState;
  trigger: Trigger;
  /** Resolves the session's end (first call wins). */
  end: (e: Ending) => void;
  ended: Promise<Ending>;
  /** Waiters for acks keyed by host name. */
  acks: Map<string, { resolve: (m: AgentStatus) => void }>;
  graceTimer?: NodeJS.Timeout;
}

class Wake {
  #waiters: (() => void)[] = [];
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
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

/**
 * The controller daemon.
 * @example
 * const c = await Controller.start({ clusterKey, inventory, listen, journal: 'control.journal', eve: '/var/log/suricata/eve.json' });
 * ... await c.close();
 */
export class Controller {
  readonly #o: ControllerOptions;
  readonly #log: Logger;
  readonly #counts: SessionCounts;
  readonly #hosts = new Map<string, HostState>();
  readonly #sessions = new Map<string, SessionState>();
  readonly #live = new Map<string, Live>();
  readonly #migrating = new Map<string, Trigger>();
  readonly #hostsChanged = new Wake();
  readonly #tasks = new Set<Promise<void>>();
  #journal!: Journal;
  #listener: ChannelListener | undefined;
  #eve: EveFollower | undefined;
  #triage: AlertTriage | undefined;
  #eveCounts = { unknown: 0, suppressed: 0, triggered: 0 };
  #unknownSeen = new Map<string, number>();
  #sweep: NodeJS.Timeout | undefined;
  #closing = false;
  /** Unsigned operator requests served (only without operator keys). */
  #unsigned = 0;

  private constructor(o: ControllerOptions) {
    const timers: [string, number | undefined][] = [
      ['deadline', o.deadlineMs], ['heartbeat', o.heartbeatMs], ['host wait', o.hostWaitMs], ['prepare timeout', o.prepareTimeoutMs],
      ['recover wait', o.recoverWaitMs], ['hook timeout', o.hookTimeoutMs], ['EVE poll', o.evePollMs],
    ];
    for (const [what, v] of timers) {
      // node timers hold at most 2^31 − 1 ms; the deadline also travels as the hosts' time to live (+ 1 min)
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1 || v > MAX_TIMER_MS)) throw smigError('SMIG_ERR_USAGE', `${what}: ${v} ms is not from 1 ms to 20 days`);
    }
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#counts = checkCounts(o.counts ?? { ...DEFAULT_COUNTS });
    for (const inv of o.inventory.hosts) {
      this.#hosts.set(inv.name, { inv, link: null, lastSeen: null, out: false, sources: [], busy: new Map(), honeypot: false });
    }
  }

  /**
   * Opens the journal (recovering what it records), listens, follows the EVE file.
   * @throws SmigError SMIG_ERR_FILE (journal), SMIG_ERR_CONNECTION (listen address), SMIG_ERR_USAGE (counts)
   */
  static async start(o: ControllerOptions): Promise<Controller> {
    const c = new Controller(o);
    const keyless = o.inventory.hosts.filter((h) => h.key === null).map((h) => h.name);
    const operators = o.operatorKeys ?? [];
    if (!o.insecureNoIdentities) {
      if (keyless.length > 0) {
        const list = keyless.length > 5 ? `${keyless.slice(0, 5).join(', ')} and ${keyless.length - 5} more` : keyless.join(', ');
        throw smigError('SMIG_ERR_CONFIG', `inventory: no key for ${list} (give each host its public identity: key: FILE.pub; or run with --insecure-no-identities)`);
      }
      if (operators.length === 0) throw smigError('SMIG_ERR_USAGE', '--operator-key FILE.pub is required (the operator\'s public identity; or run with --insecure-no-identities)');
    } else {
      c.#log.event('insecure', {
        reason: 'running with --insecure-no-identities: any holder of the cluster key may register as a host without a key' +
          (operators.length === 0 ? ' and give operator orders' : ''),
        keyless: keyless.join(',') || undefined,
      });
    }
    const { journal, state, warnings } = await Journal.open(o.journal);
    c.#journal = journal;
    for (const w of warnings) c.#log.event('journal-warning', { reason: w });
    for (const name of state.honeypots) {
      const h = c.#hosts.get(name);
      if (h !== undefined) h.honeypot = true;
    }
    for (const s of state.sessions.values()) c.#sessions.set(s.id, s);
    try {
      c.#listener = await listenChannel(o.listen, {
        key: o.clusterKey,
        ...o.channel,
        onConnection: (conn) => c.#accept(conn),
        ...o.limits,
        onRejected: logRejected(c.#log),
      });
    } catch (err) {
      await journal.close();
      throw err;
    }
    c.#recover();
    if (o.eve !== undefined) {
      c.#triage = new AlertTriage(o.inventory, { maxSeverity: o.maxSeverity ?? 2, cooldownMs: o.cooldownMs ?? 300_000 });
      c.#eve = new EveFollower(o.eve, {
        pollMs: o.evePollMs,
        fromStart: o.eveFromStart,
        onAlert: (a, line) => c.#onAlert(a, line),
        onWarning: (w) => c.#log.event('eve-warning', { kind: w.kind, reason: w.message }),
      });
      await c.#eve.start();
    }
    c.#sweep = setInterval(() => c.#hostsChanged.notify(), c.#heartbeatMs); // silence makes hosts unavailable
    c.#sweep.unref?.();
    return c;
  }

  /** The bound address. */
  get address(): HostPort {
    return this.#listener!.address;
  }

  get #heartbeatMs(): number {
    return this.#o.heartbeatMs ?? 5000;
  }

  /** Stops: EVE, the listener (agents reconnect to the next controller), waits for running hooks; sessions stay in the journal. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#sweep);
    await this.#eve?.close();
    for (const l of this.#live.values()) {
      clearTimeout(l.graceTimer);
      l.end({ ok: false, error: 'the controller is stopping', retryable: false }); // not journaled: the next start resolves it
    }
    await this.#listener?.close();
    this.#hostsChanged.notify();
    await Promise.race([Promise.allSettled([...this.#tasks]), new Promise((r) => setTimeout(r, 10_000).unref?.())]);
    await this.#journal.close();
  }

  /** What `smig control status` shows. */
  status(): ControllerStatus {
    const now = Date.now();
    const hosts = [...this.#hosts.values()].map((h): HostStatus => ({
      name: h.inv.name, address: h.inv.addressText, roles: [...h.inv.roles], state: this.#hostState(h, now), out: h.out,
      sources: h.sources, sessions: [...h.busy.keys()], lastSeenMs: h.lastSeen === null ? null : now - h.lastSeen,
    }));
    const sessions = [...this.#sessions.values()].slice(-20).reverse().map((s) => sessionStatus(s));
    const eve = this.#eve === undefined ? null : { path: this.#eve.path, ...this.#eve.stats, ...this.#eveCounts };
    return { listen: formatHostPort(this.address), journal: this.#journal.path, counts: this.#counts, hosts, sessions, eve };
  }

  // ------------------------------------------------------------------------------------------------
  // Connections

  #accept(conn: FramedConnection): void {
    if (this.#closing) {
      conn.destroy();
      return;
    }
    const link = new Link(conn, 'control', `peer ${conn.remote}`);
    let kind: 'agent' | 'operator' | null = null;
    let host: HostState | null = null;
    // one fresh challenge per connection: a signature is good for this connection and this TLS session only
    const auth = { challenge: newChallenge(), binding: channelBinding(conn) };
    link.start((msg: Message) => {
      if (msg.type === FrameType.PING || msg.type === FrameType.ERROR) return;
      if (kind === null) kind = msg.type === FrameType.STATUS ? 'agent' : 'operator';
      if (kind === 'agent') {
        if (msg.type !== FrameType.STATUS) throw smigError('SMIG_ERR_PROTOCOL_STATE', 'control link: INSTRUCT from an agent');
        const m = parseAgentStatus(msg.payload);
        if (host === null) {
          if (m.type !== 'register') throw smigError('SMIG_ERR_PROTOCOL_STATE', `control link: STATUS ${m.type} before register`);
          host = this.#register(link, m, msg.payload, auth);
          return;
        }
        this.#fromAgent(host, m);
        return;
      }
      if (msg.type !== FrameType.INSTRUCT) throw smigError('SMIG_ERR_PROTOCOL_STATE', 'control link: STATUS from an operator');
      const r = parseOperatorRequest(msg.payload);
      const refusal = this.#checkOperator(link, msg.payload, auth);
      if (refusal !== null) {
        link.post({ type: FrameType.STATUS, payload: { type: 'refused', auth: true, error: refusal } });
        void link.close();
        return;
      }
      this.#operator(link, r);
    });
    link.post({ type: FrameType.INSTRUCT, payload: { type: 'challenge', nonce: auth.challenge } });
    void link.ended.then((end) => {
      if (host !== null && host.link === link) this.#agentLost(host, end.error?.message ?? 'disconnected');
    });
  }

  /** Null when the operator's request may be served, else the one-line reason it is refused (logged). */
  #checkOperator(link: Link, payload: JsonObject, auth: { challenge: string; binding: Uint8Array }): string | null {
    const keys = this.#o.operatorKeys ?? [];
    const what = typeof payload.type === 'string' ? payload.type.slice(0, 20) : '?';
    if (keys.length === 0) {
      // --insecure-no-identities: said at the first request and every 100th, not for each status poll
      if (this.#unsigned++ % 100 === 0) this.#log.event('operator-unauthenticated', { remote: link.conn.remote, request: what, requests: this.#unsigned });
      return null;
    }
    const v = checkSignature('operator', auth.challenge, auth.binding, payload, keys, 'an --operator-key of the controller');
    if (v.ok) return null;
    const reason = `operator request '${what}' refused: ${v.reason}`;
    this.#log.event('operator-refused', { remote: link.conn.remote, reason });
    return reason;
  }

  #register(link: Link, m: Extract<AgentStatus, { type: 'register' }>, payload: JsonObject, auth: { challenge: string; binding: Uint8Array }): HostState | null {
    const refuse = (error: string): null => {
      this.#log.event('agent-refused', { remote: link.conn.remote, reason: error });
      this.#instruct(link, { type: 'refused', error });
      void link.close();
      return null;
    };
    let h: HostState | undefined;
    let listen: HostPort;
    try {
      listen = parseListen(m.listen);
    } catch (err) {
      return refuse((err as Error).message);
    }
    if (m.name !== null) {
      h = this.#hosts.get(m.name);
      if (h === undefined) return refuse(`no host '${m.name}' in the inventory`);
      if (h.inv.address.port !== listen.port) {
        return refuse(`${m.name} relays on ${m.listen}, but the inventory says ${h.inv.addressText} (fix --listen or the inventory)`);
      }
    } else {
      const remote = link.conn.remote.replace(/^\[?(.*?)\]?:\d+$/, '$1');
      h = [...this.#hosts.values()].find((x) => x.inv.address.port === listen.port &&
        (x.inv.address.host.toLowerCase() === listen.host.toLowerCase() || x.inv.address.host === remote));
      if (h === undefined) return refuse(`no inventory host has the address ${m.listen} (give the agent --name)`);
    }
    if (h.inv.key !== null) {
      const v = checkSignature('register', auth.challenge, auth.binding, payload, [h.inv.key], `${h.inv.name}'s inventory key`);
      if (!v.ok) return refuse(`${h.inv.name}: registration refused: ${v.reason}`);
    } else {
      this.#log.event('agent-unauthenticated', { host: h.inv.name, remote: link.conn.remote, reason: 'no key in the inventory (--insecure-no-identities)' });
    }
    if (h.link !== null && h.link !== link) void h.link.close(); // it reconnected before we noticed the old link drop
    h.link = link;
    h.lastSeen = Date.now();
    h.out = m.out;
    h.sources = m.sources;
    // what the agent says it is busy with is the truth now (it got no instruction we do not know of)
    h.busy = new Map(m.sessions.filter((r) => r.state === 'active').map((r) => [r.session, r.role]));
    this.#log.event('agent-registered', { host: h.inv.name, remote: link.conn.remote, out: m.out, sources: m.sources.join(','), busy: h.busy.size });
    this.#instruct(link, { type: 'registered', host: h.inv.name, heartbeatMs: this.#heartbeatMs });
    for (const r of m.sessions) if (r.role === 'source') this.#sourceReport(h, r);
    for (const live of this.#live.values()) {
      if (live.st.source.host === h.inv.name && live.st.state === 'sending' && !m.sessions.some((r) => r.session === live.st.id)) {
        // it never got the instruction (the connection broke), or it restarted and forgot: not running anywhere
        live.end({ ok: false, error: `${h.inv.name}'s agent does not know the session (it restarted, or never got the instruction)`, retryable: true });
      }
    }
    this.#hostsChanged.notify();
    return h;
  }

  #fromAgent(h: HostState, m: AgentStatus): void {
    h.lastSeen = Date.now();
    switch (m.type) {
      case 'heartbeat':
      case 'register':
        return;
      case 'ack':
      case 'nack': {
        const live = this.#live.get(m.session);
        const w = live?.acks.get(h.inv.name);
        if (w !== undefined) {
          live!.acks.delete(h.inv.name);
          w.resolve(m);
        }
        return;
      }
      case 'result': {
        const live = this.#live.get(m.session);
        if (live === undefined || live.st.source.host !== h.inv.name) return;
        live.end(m.ok ? { ok: true, outcome: m.outcome! } : { ok: false, error: m.error ?? 'failed', retryable: true });
        return;
      }
      case 'released':
        if (h.busy.delete(m.session)) {
          this.#log.event('host-released', { host: h.inv.name, session: m.session.slice(0, 16) });
          this.#hostsChanged.notify();
        }
        return;
    }
  }

  /** A source's report at registration resolves a session being recovered or run. */
  #sourceReport(h: HostState, r: AgentReport): void {
    const live = this.#live.get(r.session);
    if (live === undefined || live.st.source.host !== h.inv.name) return;
    clearTimeout(live.graceTimer);
    if (r.state === 'active') {
      this.#log.event('session-adopted', { session: r.session.slice(0, 16), host: h.inv.name });
    } else if (r.state === 'done' && r.outcome !== undefined) live.end({ ok: true, outcome: r.outcome });
    else live.end({ ok: false, error: r.error ?? 'the source reported a failure', retryable: true });
  }

  #agentLost(h: HostState, reason: string): void {
    h.link = null;
    this.#log.event('agent-lost', { host: h.inv.name, reason });
    this.#hostsChanged.notify();
    for (const live of this.#live.values()) {
      const ack = live.acks.get(h.inv.name);
      if (ack !== undefined) {
        live.acks.delete(h.inv.name);
        ack.resolve({ type: 'nack', session: live.st.id, error: `${h.inv.name}'s agent disconnected (${reason})` });
      }
      if (live.st.source.host === h.inv.name && live.st.state === 'sending') this.#graceForSource(live, `the source's agent disconnected (${reason})`);
    }
  }

  /** The source's agent is gone: the session fails unless it comes back (and still runs it) in time. */
  #graceForSource(live: Live, why: string): void {
    clearTimeout(live.graceTimer);
    live.graceTimer = setTimeout(() => live.end({ ok: false, error: `${why}; it did not come back within ${this.#recoverMs} ms`, retryable: false }), this.#recoverMs);
  }

  get #recoverMs(): number {
    return this.#o.recoverWaitMs ?? 30_000;
  }

  #instruct(link: Link, m: AgentInstruct): void {
    link.post({ type: FrameType.INSTRUCT, payload: m as unknown as JsonObject });
  }

  #hostState(h: HostState, now: number): HostStatus['state'] {
    if (h.honeypot) return 'honeypot';
    if (h.link === null) return 'offline';
    if (h.lastSeen === null || now - h.lastSeen > 3 * this.#heartbeatMs) return 'silent';
    return h.busy.size > 0 ? 'busy' : 'available';
  }

  // ------------------------------------------------------------------------------------------------
  // Operators

  #operator(link: Link, r: OperatorRequest): void {
    const reply = (m: JsonObject): void => link.post({ type: FrameType.STATUS, payload: m });
    switch (r.type) {
      case 'status': {
        const s = this.status();
        // pages of hosts, each STATUS body well under the 64 KiB a control frame may carry
        const pages: HostStatus[][] = [[]];
        // the sessions travel on the first page: the oldest go when they would not fit (peers control their texts)
        while (s.sessions.length > 1 && Buffer.byteLength(JSON.stringify(s.sessions)) > 40 * 1024) s.sessions.pop();
        let size = Buffer.byteLength(JSON.stringify({ sessions: s.sessions, eve: s.eve }));
        for (const h of s.hosts) {
          const n = JSON.stringify(h).length + 1;
          if (size + n > 48 * 1024 && pages.at(-1)!.length > 0) {
            pages.push([]);
            size = 0;
          }
          pages.at(-1)!.push(h);
          size += n;
        }
        pages.forEach((hosts, p) => reply({
          type: 'status', page: p, pages: pages.length, hosts,
          ...(p === 0 ? { listen: s.listen, journal: s.journal, counts: s.counts, sessions: s.sessions, eve: s.eve } : {}),
        } as unknown as JsonObject));
        void link.close();
        return;
      }
      case 'reinstate': {
        const h = this.#hosts.get(r.host);
        if (h === undefined) reply({ type: 'refused', error: `no host '${r.host}' in the inventory` });
        else {
          const was = h.honeypot;
          h.honeypot = false;
          if (was) this.#task(this.#journal.append({ rec: 'honeypot', host: h.inv.name, on: false }));
          this.#log.event('host-reinstated', { host: h.inv.name, was: was ? 'honeypot' : 'in service' });
          this.#hostsChanged.notify();
          reply({ type: 'reinstated', host: h.inv.name, was: was ? 'honeypot' : 'in service' });
        }
        void link.close();
        return;
      }
      case 'migrate': {
        let t: Trigger;
        try {
          if (r.dryRun) {
            const { host, sourceName } = this.#checkTrigger(r.host, r.source);
            const plan = selectHosts(host.inv.name, this.#candidates(), this.#counts);
            reply({ type: 'plan', host: host.inv.name, source: sourceName, ...plan } as unknown as JsonObject);
            void link.close();
            return;
          }
          t = this.#trigger(r.host, r.source, { kind: 'manual' });
        } catch (err) {
          reply({ type: 'refused', error: (err as Error).message });
          void link.close();
          return;
        }
        if (!r.wait) {
          reply({ type: 'accepted', trigger: t.id });
          void link.close();
          return;
        }
        const keepalive = setInterval(() => link.post({ type: FrameType.PING, seq: 0 }), 15_000);
        const listener = (m: JsonObject): void => {
          reply(m);
          if (m.type === 'finished') {
            clearInterval(keepalive);
            t.listeners.delete(listener);
            void link.close();
          }
        };
        t.listeners.add(listener);
        reply({ type: 'accepted', trigger: t.id });
        void link.ended.then(() => {
          clearInterval(keepalive);
          t.listeners.delete(listener);
        });
      }
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Triggers

  #onAlert(a: EveAlert, line: number): void {
    const r = this.#triage!.triage(a, (h) => this.#hosts.get(h.name)!.honeypot || this.#migrating.has(h.name));
    for (const ip of r.unknown) {
      this.#eveCounts.unknown++;
      const n = (this.#unknownSeen.get(ip) ?? 0) + 1;
      if (this.#unknownSeen.size < 10_000 || this.#unknownSeen.has(ip)) this.#unknownSeen.set(ip, n);
      // log the first alert of each unknown address, then every 100th
      if (n === 1 || n % 100 === 0) this.#log.event('eve-unknown-address', { ip, line, alerts: n, signature: a.signature });
    }
    for (const s of r.suppressed) {
      this.#eveCounts.suppressed++;
      this.#log.event('eve-suppressed', { host: s.host.name, reason: s.reason, line, severity: a.severity });
    }
    for (const inv of r.flagged) {
      this.#log.event('eve-alert', { host: inv.name, line, severity: a.severity, sid: a.signatureId, signature: a.signature });
      const alert = { signature: a.signature, signatureId: a.signatureId, severity: a.severity, srcIp: a.srcIp, destIp: a.destIp, timestamp: a.timestamp };
      try {
        this.#trigger(inv.name, null, { kind: 'eve', alert });
        this.#eveCounts.triggered++;
      } catch (err) {
        // the alert is not lost: a refused session in the journal and the status, and the failed hook
        const error = (err as Error).message;
        this.#log.event('trigger-refused', { host: inv.name, reason: error });
        const t: Trigger = { id: newId(), host: this.#hosts.get(inv.name)!, sourceName: '', reason: { kind: 'eve', alert }, listeners: new Set(), avoid: new Set() };
        this.#task(this.#record(t, t.id, 1, null, Date.now()).then((st) => this.#conclude(st, t, { ok: false, error, retryable: false })));
      }
    }
  }

  /** Checks that `name` can be migrated now; returns its state and the source name. */
  #checkTrigger(name: string, source: string | null): { host: HostState; sourceName: string } {
    const h = this.#hosts.get(name);
    if (h === undefined) throw smigError('SMIG_ERR_USAGE', `no host '${name}' in the inventory`);
    if (!h.inv.roles.has('source')) throw smigError('SMIG_ERR_USAGE', `${name}: its inventory roles do not include source`);
    if (h.honeypot) throw smigError('SMIG_ERR_MIGRATION', `${name} is a honeypot since its last migration (smig control reinstate ${name} returns it to service)`);
    const other = this.#migrating.get(name);
    if (other !== undefined) throw smigError('SMIG_ERR_MIGRATION', `${name} is already being migrated (trigger ${other.id})`);
    if (h.link === null) throw smigError('SMIG_ERR_MIGRATION', `${name}'s agent is not connected`);
    const sourceName = source ?? h.inv.source ?? h.sources[0];
    if (sourceName === undefined) throw smigError('SMIG_ERR_MIGRATION', `${name}'s agent has no --source to migrate`);
    if (!h.sources.includes(sourceName)) {
      throw smigError('SMIG_ERR_MIGRATION', `${name}'s agent has no source '${sourceName}' (it has: ${h.sources.join(', ') || 'none'})`);
    }
    return { host: h, sourceName };
  }

  /** Starts migrating a host (returns at once; the trigger runs in the background). */
  #trigger(name: string, source: string | null, reason: TriggerReason): Trigger {
    if (this.#closing) throw smigError('SMIG_ERR_MIGRATION', 'the controller is stopping');
    const { host, sourceName } = this.#checkTrigger(name, source);
    const t: Trigger = { id: newId(), host, sourceName, reason, listeners: new Set(), avoid: new Set() };
    this.#migrating.set(name, t);
    this.#log.event('trigger', { host: name, source: sourceName, reason: reason.kind, trigger: t.id.slice(0, 16) });
    this.#task(this.#runTrigger(t, 1, t.id));
    return t;
  }

  /** Attempts (from `attempt`, with the first session id `id`) until success, a final failure, or a stop. */
  async #runTrigger(t: Trigger, attempt: number, id: string): Promise<void> {
    try {
      for (; !this.#closing; attempt++) {
        const plan = await this.#waitForPlan(t);
        if (this.#closing) return;
        const deadline = Date.now() + (this.#o.deadlineMs ?? 3_600_000);
        const st = await this.#record(t, id, attempt, plan.plan, deadline);
        if (plan.plan === null) {
          await this.#conclude(st, t, { ok: false, error: plan.error, retryable: false });
          return;
        }
        const ending = await this.#runSession(st, t);
        if (this.#closing) return; // left in the journal: the next start resolves it
        const retry = await this.#conclude(st, t, ending, attempt === 1);
        if (!retry) return;
        id = newId();
      }
    } finally {
      if (this.#migrating.get(t.host.inv.name) === t) this.#migrating.delete(t.host.inv.name);
    }
  }

  /** Selects hosts, waiting up to hostWaitMs for enough to be available. */
  async #waitForPlan(t: Trigger): Promise<{ plan: HostPlan; error?: undefined } | { plan: null; error: string }> {
    const until = Date.now() + (this.#o.hostWaitMs ?? 30_000);
    let logged = false;
    for (;;) {
      try {
        return { plan: selectHosts(t.host.inv.name, this.#candidates().filter((c) => !t.avoid.has(c.name)), this.#counts) };
      } catch (err) {
        const error = (err as Error).message;
        if (this.#closing || Date.now() >= until) return { plan: null, error };
        if (!logged) this.#log.event('waiting-for-hosts', { host: t.host.inv.name, reason: error });
        logged = true;
        await this.#hostsChanged.wait(Math.max(1, until - Date.now()));
      }
    }
  }

  #candidates(): Candidate[] {
    const now = Date.now();
    return [...this.#hosts.values()]
      .filter((h) => this.#hostState(h, now) === 'available' && !this.#migrating.has(h.inv.name))
      .map((h) => ({ name: h.inv.name, roles: h.inv.roles, canReceive: h.out }));
  }

  /** Journals a new session and reserves its hosts. */
  async #record(t: Trigger, id: string, attempt: number, plan: HostPlan | null, deadline: number): Promise<SessionState> {
    const source = { host: t.host.inv.name, name: t.sourceName === '' ? null : t.sourceName };
    const st: SessionState = {
      id, trigger: t.id, attempt, created: Date.now(), source, reason: t.reason, plan, deadline, state: 'planned',
      outcome: null, error: null, retry: false, hooks: new Map(), closed: false, ended: null,
    };
    if (plan !== null) {
      const reserve = (name: string, role: AgentRole): void => void this.#hosts.get(name)!.busy.set(id, role);
      reserve(plan.destination, 'destination');
      for (const r of [...plan.dataRelays, ...plan.keyRelays]) reserve(r, 'relay');
      t.host.busy.set(id, 'source');
    }
    this.#sessions.set(id, st);
    await this.#journal.append({ rec: 'session', id, trigger: t.id, attempt, source, reason: t.reason, plan, deadline });
    this.#log.event(plan === null ? 'session-refused' : 'session-planned', {
      session: id.slice(0, 16), attempt, source: source.host, destination: plan?.destination, leader: plan?.leader,
      dataRelays: plan?.dataRelays.join(','), keyRelays: plan?.keyRelays.join(','),
    });
    this.#emit(t, { type: 'progress', session: id, attempt, state: plan === null ? 'refused' : 'planned', plan: plan as unknown as JsonObject });
    return st;
  }

  #newLive(st: SessionState, t: Trigger): Live {
    let end!: (e: Ending) => void;
    const ended = new Promise<Ending>((resolve) => (end = resolve));
    const live: Live = { st, trigger: t, end: (e) => end(e), ended, acks: new Map() };
    this.#live.set(st.id, live);
    return live;
  }

  /** Steps 3 and 4: instruct, follow, enforce the deadline. */
  async #runSession(st: SessionState, t: Trigger): Promise<Ending> {
    const plan = st.plan!;
    const live = this.#newLive(st, t);
    const ttlMs = Math.max(1000, st.deadline - Date.now() + 60_000);
    const deadline = setTimeout(() => live.end({ ok: false, error: `the deadline of ${this.#o.deadlineMs ?? 3_600_000} ms passed`, retryable: true }),
      Math.max(0, st.deadline - Date.now()));
    try {
      // 3. destination and relays
      const prepared = await Promise.race([this.#prepare(live, plan, ttlMs), live.ended]);
      if ('ok' in prepared) return prepared;
      // 4. the source (journaled first: after a crash from here on the source may be running)
      if (t.host.link === null) return { ok: false, error: `${t.host.inv.name}'s agent disconnected before the session started`, retryable: false };
      st.state = 'sending';
      await this.#journal.append({ rec: 'sending', id: st.id });
      this.#emit(t, { type: 'progress', session: st.id, attempt: st.attempt, state: 'sending' });
      const ack = this.#expectAck(live, t.host.inv.name);
      this.#instruct(t.host.link, {
        type: 'send', session: st.id, source: t.sourceName, destination: prepared.destination,
        dataRelays: plan.dataRelays.map((n) => this.#hosts.get(n)!.inv.addressText),
        keyRelays: plan.keyRelays.map((n) => this.#hosts.get(n)!.inv.addressText),
        leader: this.#hosts.get(plan.leader)!.inv.addressText, threshold: plan.threshold, ttlMs, plan: this.#planText(),
        destKey: destKeyLine(this.#hosts.get(plan.destination)!.inv.key),
      });
      const a = await Promise.race([ack, live.ended, timeout(this.#o.prepareTimeoutMs ?? 15_000)]);
      if (a === null) live.end({ ok: false, error: `${t.host.inv.name} did not acknowledge the send instruction`, retryable: true });
      else if ('type' in a && a.type === 'nack') live.end({ ok: false, error: `${t.host.inv.name}: ${a.error}`, retryable: !/no --source/.test(a.error) });
      return await live.ended;
    } finally {
      clearTimeout(deadline);
      clearTimeout(live.graceTimer);
      this.#live.delete(st.id);
    }
  }

  /** Sends relay/receive and collects the acks; resolves the destination's address, or an Ending. */
  async #prepare(live: Live, plan: HostPlan, ttlMs: number): Promise<{ destination: string } | Ending> {
    const id = live.st.id;
    const hosts = [plan.destination, ...plan.dataRelays, ...plan.keyRelays];
    const acks = hosts.map((name) => this.#expectAck(live, name));
    // a sealed session (the destination has a key): the destination installs only what the source's key signed
    const sealed = this.#hosts.get(plan.destination)!.inv.key !== null;
    const sourceKey = sealed ? destKeyLine(this.#hosts.get(live.st.source.host)?.inv.key ?? null) : null;
    for (const name of hosts) {
      const link = this.#hosts.get(name)!.link;
      if (link === null) return { ok: false, error: `${name}'s agent disconnected before the session started`, retryable: true };
      this.#instruct(link, name === plan.destination ? { type: 'receive', session: id, ttlMs, sourceKey } : { type: 'relay', session: id, ttlMs });
    }
    const limit = this.#o.prepareTimeoutMs ?? 15_000;
    const all = await Promise.race([Promise.all(acks), timeout(limit)]);
    if (all === null) {
      const silent = hosts.filter((n) => live.acks.has(n));
      return { ok: false, error: `no answer within ${limit} ms from ${silent.join(', ')}`, retryable: true, blame: silent };
    }
    const refused = all.map((m, i) => [hosts[i]!, m] as const).find(([, m]) => m.type === 'nack');
    if (refused !== undefined) return { ok: false, error: `${refused[0]}: ${(refused[1] as { error: string }).error}`, retryable: true, blame: [refused[0]] };
    const port = (all[0] as { port?: number }).port;
    if (port === undefined) return { ok: false, error: `${plan.destination} opened no port`, retryable: true };
    return { destination: formatHostPort({ host: this.#hosts.get(plan.destination)!.inv.address.host, port }) };
  }

  #expectAck(live: Live, host: string): Promise<AgentStatus> {
    return new Promise((resolve) => live.acks.set(host, { resolve }));
  }

  #planText(): string | null {
    const p = this.#o.plan?.();
    return p === undefined || p.strategy === 'bulk' ? null : stringifyPlan(p);
  }

  /**
   * Journals the end of a session, tells its hosts, runs the hooks, closes it. Returns whether a retry follows.
   */
  async #conclude(st: SessionState, t: Trigger, e: Ending, mayRetry = false): Promise<boolean> {
    const retry = !e.ok && e.retryable && mayRetry && (this.#o.retry ?? true) && !this.#closing;
    if (!e.ok) for (const b of e.blame ?? []) t.avoid.add(b);
    if (e.ok) {
      st.state = 'done';
      st.outcome = e.outcome;
      await this.#journal.append({ rec: 'result', id: st.id, ok: true, outcome: e.outcome });
      t.host.honeypot = true;
      await this.#journal.append({ rec: 'honeypot', host: t.host.inv.name, on: true });
      this.#log.event('session-done', { session: st.id.slice(0, 16), source: st.source.host, destination: st.plan!.destination, bytes: e.outcome.bytes, seconds: e.outcome.seconds });
    } else {
      st.state = 'failed';
      st.error = e.error;
      st.retry = retry;
      await this.#journal.append({ rec: 'result', id: st.id, ok: false, error: e.error, retry });
      this.#log.event('session-failed', { session: st.id.slice(0, 16), source: st.source.host, reason: e.error, retry });
      if (st.plan !== null) this.#abortHosts(st, e.error);
    }
    st.ended = Date.now();
    this.#emit(t, { type: 'progress', session: st.id, attempt: st.attempt, state: st.state, error: st.error, outcome: st.outcome as unknown as JsonObject });
    await this.#runHooks(st, t);
    if (!retry) this.#emit(t, { type: 'finished', ok: e.ok, trigger: t.id, session: st.id, error: st.error, outcome: st.outcome as unknown as JsonObject });
    return retry;
  }

  /** Tells every host of a failed session to let go (a relay that served it releases when its links close). */
  #abortHosts(st: SessionState, reason: string): void {
    const plan = st.plan!;
    for (const name of new Set([st.source.host, plan.destination, ...plan.dataRelays, ...plan.keyRelays])) {
      const h = this.#hosts.get(name)!;
      if (h.link !== null && h.busy.has(st.id)) this.#instruct(h.link, { type: 'abort', session: st.id, reason: reason.slice(0, 500) });
    }
  }

  /** Runs the hooks of a concluded session that have not finished yet, in order, then journals `closed`. */
  async #runHooks(st: SessionState, t: Trigger): Promise<void> {
    const events = st.state === 'done' ? SUCCESS_EVENTS : (['failed'] as const);
    const hooks = this.#o.hooks ?? [];
    for (const event of events) {
      const specs = hooks.filter((h) => h.event === event);
      for (let index = 0; index < specs.length; index++) {
        const key = `${event}#${index}`;
        const prior = st.hooks.get(key);
        if (prior?.ended) continue;
        await this.#journal.append({ rec: 'hook', id: st.id, event, index, phase: 'start' });
        st.hooks.set(key, { started: true, ended: false, status: null, error: null });
        let r: HookResult;
        try {
          const env = hookEnvironment({
            event, session: st.id, trigger: st.trigger, attempt: st.attempt, reason: st.reason, source: t.host.inv,
            sourceName: st.source.name, plan: st.plan, host: (n) => this.#hosts.get(n)?.inv, outcome: st.outcome,
            error: st.error, retry: st.retry, hookRetry: prior?.started === true,
          });
          r = await runHook(specs[index]!, index, {
            env, timeoutMs: this.#o.hookTimeoutMs ?? 300_000,
            onOutput: (line) => (this.#o.hookOutput ? this.#o.hookOutput(event, line) : this.#log.event('hook-output', { hook: event, line })),
          });
        } catch (err) {
          // a hook that cannot even be prepared is a failed hook: the chain goes on and the session closes
          r = { event, index, command: specs[index]!.command, status: 127, timedOut: false, error: `cannot start: ${(err as Error).message}`, ms: 0 };
        }
        st.hooks.set(key, { started: true, ended: true, status: r.status, error: r.error });
        await this.#journal.append({ rec: 'hook', id: st.id, event, index, phase: 'end', status: r.status, error: r.error });
        this.#log.event(r.error === null ? 'hook-done' : 'hook-failed', { session: st.id.slice(0, 16), hook: event, index, status: r.status, ms: r.ms, reason: r.error ?? undefined });
        this.#emit(t, { type: 'hook', session: st.id, hook: event, index, status: r.status, error: r.error });
      }
    }
    st.closed = true;
    await this.#journal.append({ rec: 'closed', id: st.id });
    // memory follows the journal's compaction: the newest KEEP_CLOSED closed sessions
    const closed = [...this.#sessions.values()].filter((x) => x.closed);
    for (const x of closed.slice(0, Math.max(0, closed.length - KEEP_CLOSED))) this.#sessions.delete(x.id);
  }

  #emit(t: Trigger, m: JsonObject): void {
    for (const l of [...t.listeners]) l(m);
  }

  #task(p: Promise<unknown>): void {
    const q = p.then(() => {}, (err: unknown) => {
      if (!this.#closing) this.#log.event('internal-error', { reason: (err as Error).message });
    });
    this.#tasks.add(q);
    void q.then(() => this.#tasks.delete(q));
  }

  // ------------------------------------------------------------------------------------------------
  // Restart

  /** Resolves what the journal left open (journal.ts "How restart resolves a session"). */
  #recover(): void {
    const open = [...this.#sessions.values()].filter((s) => !s.closed);
    for (const st of open) {
      const h = this.#hosts.get(st.source.host);
      if (h === undefined) {
        this.#log.event('journal-warning', { reason: `session ${st.id}: source ${st.source.host} is no longer in the inventory (closed)` });
        this.#task(this.#journal.append({ rec: 'closed', id: st.id }).then(() => void (st.closed = true)));
        continue;
      }
      // hosts of an unresolved session stay busy until their agents say otherwise at registration
      if (st.plan !== null && (st.state === 'planned' || st.state === 'sending')) {
        h.busy.set(st.id, 'source');
        for (const n of [st.plan.destination, ...st.plan.dataRelays, ...st.plan.keyRelays]) this.#hosts.get(n)?.busy.set(st.id, 'relay');
      }
      const t: Trigger = { id: st.trigger, host: h, sourceName: st.source.name ?? '', reason: st.reason, listeners: new Set(), avoid: new Set() };
      if (st.state === 'done' || st.state === 'failed') {
        this.#log.event('session-recovered', { session: st.id.slice(0, 16), state: st.state, step: 'hooks' });
        this.#task(this.#finishRecovered(st, t, null));
        continue;
      }
      this.#migrating.set(h.inv.name, t);
      if (st.state === 'planned') {
        this.#log.event('session-recovered', { session: st.id.slice(0, 16), state: st.state, step: 'fail: the source was never instructed' });
        const e: Ending = { ok: false, error: 'the controller stopped before the source was instructed', retryable: true };
        this.#task(this.#finishRecovered(st, t, e));
        continue;
      }
      // sending: ask the source's agent (it reports when it registers)
      this.#log.event('session-recovered', { session: st.id.slice(0, 16), state: st.state, step: 'asking the source' });
      const live = this.#newLive(st, t);
      this.#graceForSource(live, "the source's agent has not reported since the controller restarted");
      const left = st.deadline - Date.now();
      const dl = setTimeout(() => live.end({ ok: false, error: 'the deadline passed', retryable: true }), Math.max(0, left));
      this.#task(live.ended.then(async (e) => {
        clearTimeout(dl);
        clearTimeout(live.graceTimer);
        this.#live.delete(st.id);
        if (!this.#closing) await this.#finishRecovered(st, t, e);
      }));
    }
  }

  /** Waits until a host's agent is connected, at most `ms`. */
  async #waitForAgent(h: HostState, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (h.link === null && !this.#closing && Date.now() < until) await this.#hostsChanged.wait(until - Date.now());
  }

  /** Concludes a recovered session (or only runs its pending hooks), then the retry it is owed. */
  async #finishRecovered(st: SessionState, t: Trigger, e: Ending | null): Promise<void> {
    try {
      let retry: boolean;
      if (e === null) {
        await this.#runHooks(st, t);
        retry = st.state === 'failed' && st.retry;
      } else retry = await this.#conclude(st, t, e, st.attempt === 1);
      const retried = [...this.#sessions.values()].some((s) => s.trigger === st.trigger && s.attempt > st.attempt);
      if (retry && !retried) await this.#waitForAgent(t.host, this.#recoverMs); // agents reconnect after a restart
      if (retry && !retried && !this.#closing && t.host.link !== null && t.sourceName !== '') {
        this.#migrating.set(t.host.inv.name, t);
        await this.#runTrigger(t, st.attempt + 1, newId());
      } else if (retry && !retried) {
        this.#log.event('retry-skipped', { session: st.id.slice(0, 16), reason: `${t.host.inv.name}'s agent is not connected` });
      }
    } finally {
      if (this.#migrating.get(t.host.inv.name) === t) this.#migrating.delete(t.host.inv.name);
    }
  }
}

/** Lost relays of one session shown by the status (the journal keeps them all). */
const STATUS_LOST_RELAYS = 8;

/** A session's status view. */
function sessionStatus(s: SessionState): SessionStatus {
  const hooks = [...s.hooks.entries()].map(([hook, h]) => ({ hook, status: h.status, error: h.error }));
  return {
    id: s.id, trigger: s.trigger, attempt: s.attempt, created: new Date(s.created).toISOString(), reason: s.reason,
    source: s.source.host, sourceName: s.source.name, destination: s.plan?.destination ?? null, leader: s.plan?.leader ?? null,
    dataRelays: s.plan?.dataRelays ?? [], keyRelays: s.plan?.keyRelays ?? [], threshold: s.plan?.threshold ?? null,
    state: s.plan === null ? 'refused' : s.state, closed: s.closed, error: s.error, hooks,
    // a source reports up to 255 lost relays of up to 300 characters: the status shows the first few
    outcome: s.outcome === null ? null : { ...s.outcome, lostRelays: s.outcome.lostRelays.slice(0, STATUS_LOST_RELAYS) },
  };
}

/** The public key line the source seals to (no comment: it is never trusted), or null. */
function destKeyLine(key: InventoryHost['key']): string | null {
  return key === null ? null : encodePublicKey({ sign: key.sign, agree: key.agree }).trim();
}

function newId(): string {
  return randomBytes(16).toString('hex');
}

function timeout(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(() => resolve(null), ms).unref?.());
}

function parseListen(text: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (m === null) throw smigError('SMIG_ERR_BAD_ADDRESS', `register: listen '${text}' is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

