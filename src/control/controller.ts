/**
 * The controller daemon (`smig control`; docs/DESIGN.md §3 "Parties", paper §5.2 Algorithm 1): it hears
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
 *
 * This file is the composition root: it opens the journal, listens, follows EVE and routes each connection.
 * The parts: core.ts (shared state and types), hosts.ts (host registry: agents, registration bound to the
 * inventory keys, availability), operator.ts (the operator API: status, migrate, reinstate), alerts.ts (EVE
 * triage: alerts to triggers), sessions.ts (session runner: steps 1-5, hooks, retry), recovery.ts (restart).
 */
import { smigError } from '../errors.js';
import type { ChannelListener, FramedConnection, HostPort } from '../net/index.js';
import { listenChannel } from '../net/index.js';
import type { TimerHandle } from '../pacing/clock.js';
import { repeat } from '../pacing/clock.js';
import type { Message } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import { Link } from '../roles/link.js';
import { logRejected } from '../roles/log.js';
import { AlertHandler } from './alerts.js';
import { channelBinding, newChallenge } from './auth.js';
import type { AgentLink, ControllerOptions, HostState } from './core.js';
import { ControlCore } from './core.js';
import { EveFollower } from './eve.js';
import type { ConnectionAuth } from './hosts.js';
import { HostRegistry } from './hosts.js';
import { Journal } from './journal.js';
import type { ControllerStatus } from './operator.js';
import { OperatorApi } from './operator.js';
import { recoverSessions } from './recovery.js';
import { SessionRunner } from './sessions.js';
import { parseAgentStatus, parseOperatorRequest } from './wire.js';

export type { ControllerOptions } from './core.js';
export { MAX_TIMER_MS } from './core.js';
export type { ControllerStatus, HostStatus, SessionStatus } from './operator.js';

/**
 * The controller daemon.
 * @example
 * const c = await Controller.start({ clusterKey, inventory, listen, journal: 'control.journal', eve: '/var/log/suricata/eve.json' });
 * ... await c.close();
 */
export class Controller {
  readonly #c: ControlCore;
  readonly #hosts: HostRegistry;
  readonly #runner: SessionRunner;
  readonly #operator: OperatorApi;
  #listener: ChannelListener | undefined;
  #eve: EveFollower | undefined;
  #alerts: AlertHandler | undefined;
  #sweep: TimerHandle | undefined;

  private constructor(o: ControllerOptions) {
    this.#c = new ControlCore(o);
    this.#hosts = new HostRegistry(this.#c);
    this.#runner = new SessionRunner(this.#c, this.#hosts);
    this.#operator = new OperatorApi(this.#c, this.#hosts, this.#runner, {
      listen: () => this.address,
      eve: () =>
        this.#eve === undefined ? null : { path: this.#eve.path, ...this.#eve.stats, ...this.#alerts!.counts },
    });
  }

  /**
   * Opens the journal (recovering what it records), listens, follows the EVE file.
   * @throws SmigError SMIG_ERR_FILE (journal), SMIG_ERR_CONNECTION (listen address), SMIG_ERR_USAGE (counts)
   */
  static async start(o: ControllerOptions): Promise<Controller> {
    const c = new Controller(o);
    const core = c.#c;
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
      core.log.event('insecure', {
        reason:
          'running with --insecure-no-identities: any holder of the cluster key may register as a host without a key' +
          (operators.length === 0 ? ' and give operator orders' : ''),
        keyless: keyless.join(',') || undefined,
      });
    }
    const { journal, state, warnings } = await Journal.open(o.journal, () => core.clock.wallNow());
    core.journal = journal;
    for (const w of warnings) core.log.event('journal-warning', { reason: w });
    for (const name of state.honeypots) {
      const h = c.#hosts.get(name);
      if (h !== undefined) h.honeypot = true;
    }
    for (const s of state.sessions.values()) core.sessions.set(s.id, s);
    try {
      c.#listener = await listenChannel(o.listen, {
        key: o.clusterKey,
        ...o.channel,
        onConnection: (conn) => c.#accept(conn),
        ...o.limits,
        onRejected: logRejected(core.log),
      });
    } catch (err) {
      await journal.close();
      throw err;
    }
    recoverSessions(core, c.#hosts, c.#runner);
    if (o.eve !== undefined) {
      const alerts = new AlertHandler(core, c.#hosts, c.#runner);
      c.#alerts = alerts;
      c.#eve = new EveFollower(o.eve, {
        pollMs: o.evePollMs,
        clock: core.clock,
        fromStart: o.eveFromStart,
        onAlert: (a, line) => alerts.onAlert(a, line),
        onWarning: (w) => core.log.event('eve-warning', { kind: w.kind, reason: w.message }),
      });
      await c.#eve.start();
    }
    // silence makes hosts unavailable: whoever waits for hosts looks again every heartbeat interval
    c.#sweep = repeat(core.clock, core.heartbeatMs, () => core.hostsChanged.notify()).unref();
    return c;
  }

  /** The bound address. */
  get address(): HostPort {
    return this.#listener!.address;
  }

  /** Stops: EVE, the listener (agents reconnect to the next controller), waits for running hooks; sessions stay in the journal. */
  async close(): Promise<void> {
    const core = this.#c;
    if (core.closing) return;
    core.closing = true;
    this.#sweep?.cancel();
    await this.#eve?.close();
    for (const l of core.live.values()) {
      l.graceTimer?.cancel();
      l.end({ ok: false, error: 'the controller is stopping', retryable: false }); // not journaled: the next start resolves it
    }
    await this.#listener?.close();
    core.hostsChanged.notify();
    let stop: TimerHandle | undefined;
    await Promise.race([
      Promise.allSettled([...core.tasks]),
      new Promise((r) => void (stop = core.clock.timer(10_000, () => r(null)).unref())),
    ]);
    stop?.cancel();
    await core.journal.close();
  }

  /** What `smig control status` shows. */
  status(): ControllerStatus {
    return this.#operator.status();
  }

  /** Routes a connection: an agent (its first frame a STATUS `register`) or an operator (an INSTRUCT request). */
  #accept(conn: FramedConnection): void {
    if (this.#c.closing) {
      conn.destroy();
      return;
    }
    const link = new Link(conn, 'control', `peer ${conn.remote}`);
    const peer: AgentLink = { remote: conn.remote, post: (m) => link.post(m), close: () => link.close() };
    let kind: 'agent' | 'operator' | null = null;
    let host: HostState | null = null;
    // one fresh challenge per connection: a signature is good for this connection and this TLS session only
    const auth: ConnectionAuth = { challenge: newChallenge(), binding: channelBinding(conn) };
    link.start((msg: Message) => {
      if (msg.type === FrameType.PING || msg.type === FrameType.ERROR) return;
      if (kind === null) kind = msg.type === FrameType.STATUS ? 'agent' : 'operator';
      if (kind === 'agent') {
        if (msg.type !== FrameType.STATUS)
          throw smigError('SMIG_ERR_PROTOCOL_STATE', 'control link: INSTRUCT from an agent');
        const m = parseAgentStatus(msg.payload);
        if (host === null) {
          if (m.type !== 'register')
            throw smigError('SMIG_ERR_PROTOCOL_STATE', `control link: STATUS ${m.type} before register`);
          host = this.#hosts.register(peer, m, msg.payload, auth);
          return;
        }
        this.#hosts.fromAgent(host, m);
        return;
      }
      if (msg.type !== FrameType.INSTRUCT)
        throw smigError('SMIG_ERR_PROTOCOL_STATE', 'control link: STATUS from an operator');
      const r = parseOperatorRequest(msg.payload);
      const refusal = this.#operator.check(link, msg.payload, auth);
      if (refusal !== null) {
        link.post({ type: FrameType.STATUS, payload: { type: 'refused', auth: true, error: refusal } });
        void link.close();
        return;
      }
      this.#operator.serve(link, r);
    });
    link.post({ type: FrameType.INSTRUCT, payload: { type: 'challenge', nonce: auth.challenge } });
    void link.ended.then((end) => {
      if (host !== null && host.link === peer) this.#hosts.agentLost(host, end.error?.message ?? 'disconnected');
    });
  }
}
