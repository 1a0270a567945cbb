/**
 * The controller without its sockets: the host registry, the session runner, the alert triage and the restart
 * recovery over one {@link ControlCore}, fed events — an agent's frames and the end of its link, an EVE alert, an
 * operator's trigger, the ticks of the injected clock — and answering with frames posted on {@link AgentLink}s,
 * journal records and hook runs. controller.ts is its adapter to the network (TLS listener, links, the EVE file);
 * tests drive it directly with a FakeClock and in-memory links (test/unit/control-core*.test.ts).
 */
import { smigError } from '../errors.js';
import type { TimerHandle } from '../pacing/clock.js';
import { repeat } from '../pacing/clock.js';
import type { JsonObject } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { AlertHandler } from './alerts.js';
import type { AgentLink, ControllerOptions, HostState } from './core.js';
import { ControlCore } from './core.js';
import type { ConnectionAuth } from './hosts.js';
import { HostRegistry } from './hosts.js';
import { Journal } from './journal.js';
import { recoverSessions } from './recovery.js';
import { SessionRunner } from './sessions.js';
import { parseAgentStatus } from './wire.js';

/** One agent connection as the engine sees it: its STATUS payloads in order, then its end. */
export interface AgentConnection {
  /**
   * A STATUS frame's payload. The first must be a `register`.
   * @throws SmigError SMIG_ERR_PROTOCOL_STATE, SMIG_ERR_PROTOCOL_FORMAT: the link should fail
   */
  status(payload: JsonObject): void;
  /** The link ended (closed, broken, refused). */
  ended(reason: string): void;
}

/** The controller's logic: everything but the listener, the links and the EVE file. */
export class ControlEngine {
  readonly core: ControlCore;
  readonly hosts: HostRegistry;
  readonly runner: SessionRunner;
  readonly alerts: AlertHandler;
  #sweep: TimerHandle | undefined;

  private constructor(o: ControllerOptions) {
    this.core = new ControlCore(o);
    this.hosts = new HostRegistry(this.core);
    this.runner = new SessionRunner(this.core, this.hosts);
    this.alerts = new AlertHandler(this.core, this.hosts, this.runner);
  }

  /**
   * Opens the journal (time-stamped on the engine's clock) and takes back what it records: honeypots and
   * sessions. Nothing runs until {@link start}.
   * Refuses first an inventory without keys or no operator key, unless `insecureNoIdentities`.
   * @throws SmigError SMIG_ERR_FILE (journal), SMIG_ERR_USAGE (a duration or counts out of range, no operator
   *   key), SMIG_ERR_CONFIG (a host without a key)
   */
  static async open(o: ControllerOptions): Promise<ControlEngine> {
    const e = new ControlEngine(o);
    const core = e.core;
    checkIdentities(o, core.log);
    const { journal, state, warnings } = await Journal.open(o.journal, () => core.clock.wallNow());
    core.journal = journal;
    for (const w of warnings) core.log.event('journal-warning', { reason: w });
    for (const name of state.honeypots) {
      const h = e.hosts.get(name);
      if (h !== undefined) h.honeypot = true;
    }
    for (const s of state.sessions.values()) core.sessions.set(s.id, s);
    return e;
  }

  /** Resolves the sessions the journal left open and starts the heartbeat sweep. */
  start(): void {
    const core = this.core;
    recoverSessions(core, this.hosts, this.runner);
    // silence makes hosts unavailable: whoever waits for hosts looks again every heartbeat interval
    this.#sweep = repeat(core.clock, core.heartbeatMs, () => core.hostsChanged.notify()).unref();
  }

  /** A new agent connection on `link` (signatures bound to `auth`). */
  agent(link: AgentLink, auth: ConnectionAuth): AgentConnection {
    let host: HostState | null = null;
    return {
      status: (payload) => {
        const m = parseAgentStatus(payload);
        if (host === null) {
          if (m.type !== 'register')
            throw smigError('SMIG_ERR_PROTOCOL_STATE', `control link: STATUS ${m.type} before register`);
          host = this.hosts.register(link, m, payload, auth);
          return;
        }
        this.hosts.fromAgent(host, m);
      },
      ended: (reason) => {
        if (host !== null && host.link === link) this.hosts.agentLost(host, reason);
      },
    };
  }

  /** Stops: see {@link stopping}, {@link endLive}, {@link drain}. The daemon closes its listener in between. */
  async close(): Promise<void> {
    if (!this.stopping()) return;
    this.endLive();
    await this.drain();
  }

  /** Marks the controller as stopping (no new triggers, waits end) and stops the sweep; false if it already was. */
  stopping(): boolean {
    const core = this.core;
    if (core.closing) return false;
    core.closing = true;
    this.#sweep?.cancel();
    return true;
  }

  /** Ends the live sessions, unjournaled: the next start resolves them. */
  endLive(): void {
    for (const l of this.core.live.values()) {
      l.graceTimer?.cancel();
      l.end({ ok: false, error: 'the controller is stopping', retryable: false });
    }
  }

  /** Wakes every waiter, lets the background tasks (running hooks) finish, at most 10 s on the clock, closes the journal. */
  async drain(): Promise<void> {
    const core = this.core;
    core.hostsChanged.notify();
    let stop: TimerHandle | undefined;
    await Promise.race([
      Promise.allSettled([...core.tasks]),
      new Promise((r) => void (stop = core.clock.timer(10_000, () => r(null)).unref())),
    ]);
    stop?.cancel();
    await core.journal.close();
  }
}

/**
 * Refuses an inventory host without a key, or no operator key, unless insecureNoIdentities (then said loudly).
 * @throws SmigError SMIG_ERR_CONFIG, SMIG_ERR_USAGE
 */
function checkIdentities(o: ControllerOptions, log: Logger): void {
  const keyless = o.inventory.hosts.filter((h) => h.key === null).map((h) => h.name);
  const operators = o.operatorKeys ?? [];
  if (!o.insecureNoIdentities) {
    if (keyless.length > 0) {
      const list =
        keyless.length > 5 ? `${keyless.slice(0, 5).join(', ')} and ${keyless.length - 5} more` : keyless.join(', ');
      throw smigError(
        'SMIG_ERR_CONFIG',
        `inventory: no key for ${list} (give each host its public identity: key: FILE.pub; or run with --insecure-no-identities)`,
      );
    }
    if (operators.length === 0)
      throw smigError(
        'SMIG_ERR_USAGE',
        "--operator-key FILE.pub is required (the operator's public identity; or run with --insecure-no-identities)",
      );
  } else {
    log.event('insecure', {
      reason:
        'running with --insecure-no-identities: any holder of the cluster key may register as a host without a key' +
        (operators.length === 0 ? ' and give operator orders' : ''),
      keyless: keyless.join(',') || undefined,
    });
  }
}
