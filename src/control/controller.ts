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
 * This file is the network adapter: it listens, follows the EVE file and routes each connection. The logic
 * is engine.ts ({@link ControlEngine}: no sockets, every time and timer on the injected `clock`), over the
 * parts: core.ts (shared state and types), hosts.ts (host registry: agents, registration bound to the
 * inventory keys, availability), alerts.ts (EVE triage: alerts to triggers), sessions.ts (session runner:
 * steps 1-5, hooks, retry), recovery.ts (restart); operator.ts (the operator API: status, migrate,
 * reinstate) answers on the operator's link.
 */
import { smigError } from '../errors.js';
import type { ChannelListener, FramedConnection, HostPort } from '../net/index.js';
import { listenChannel } from '../net/index.js';
import type { Message } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import { Link } from '../roles/link.js';
import { logRejected } from '../util/log.js';
import { channelBinding, newChallenge } from './auth.js';
import type { AgentLink, ControllerOptions } from './core.js';
import type { AgentConnection } from './engine.js';
import { ControlEngine } from './engine.js';
import { EveFollower } from './eve.js';
import type { ConnectionAuth } from './hosts.js';
import type { ControllerStatus } from './operator.js';
import { OperatorApi } from './operator.js';
import { parseOperatorRequest } from './wire.js';

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
  readonly #e: ControlEngine;
  readonly #operator: OperatorApi;
  #listener: ChannelListener | undefined;
  #eve: EveFollower | undefined;

  private constructor(e: ControlEngine) {
    this.#e = e;
    this.#operator = new OperatorApi(e.core, e.hosts, e.runner, {
      listen: () => this.address,
      eve: () => (this.#eve === undefined ? null : { path: this.#eve.path, ...this.#eve.stats, ...e.alerts.counts }),
    });
  }

  /**
   * Opens the journal (recovering what it records), listens, follows the EVE file.
   * @throws SmigError SMIG_ERR_FILE (journal), SMIG_ERR_CONNECTION (listen address), SMIG_ERR_USAGE (counts)
   */
  static async start(o: ControllerOptions): Promise<Controller> {
    const e = await ControlEngine.open(o);
    const c = new Controller(e);
    const core = e.core;
    try {
      c.#listener = await listenChannel(o.listen, {
        key: o.clusterKey,
        ...o.channel,
        onConnection: (conn) => c.#accept(conn),
        ...o.limits,
        onRejected: logRejected(core.log),
      });
    } catch (err) {
      await core.journal.close();
      throw err;
    }
    e.start();
    if (o.eve !== undefined) {
      c.#eve = new EveFollower(o.eve, {
        pollMs: o.evePollMs,
        clock: core.clock,
        fromStart: o.eveFromStart,
        onAlert: (a, line) => e.alerts.onAlert(a, line),
        onWarning: (w) => core.log.event('eve-warning', { kind: w.kind, reason: w.message }),
      });
      await c.#eve.start();
    }
    return c;
  }

  /** The bound address. */
  get address(): HostPort {
    return this.#listener!.address;
  }

  /** Stops: EVE, the listener (agents reconnect to the next controller), waits for running hooks; sessions stay in the journal. */
  async close(): Promise<void> {
    if (!this.#e.stopping()) return;
    await this.#eve?.close();
    this.#e.endLive();
    await this.#listener?.close();
    await this.#e.drain();
  }

  /** What `smig control status` shows. */
  status(): ControllerStatus {
    return this.#operator.status();
  }

  /** Routes a connection: an agent (its first frame a STATUS `register`) or an operator (an INSTRUCT request). */
  #accept(conn: FramedConnection): void {
    if (this.#e.core.closing) {
      conn.destroy();
      return;
    }
    const link = new Link(conn, 'control', `peer ${conn.remote}`);
    const peer: AgentLink = { remote: conn.remote, post: (m) => link.post(m), close: () => link.close() };
    let kind: 'agent' | 'operator' | null = null;
    let agent: AgentConnection | null = null;
    // one fresh challenge per connection: a signature is good for this connection and this TLS session only
    const auth: ConnectionAuth = { challenge: newChallenge(), binding: channelBinding(conn) };
    link.start((msg: Message) => {
      if (msg.type === FrameType.PING || msg.type === FrameType.ERROR) return;
      if (kind === null) kind = msg.type === FrameType.STATUS ? 'agent' : 'operator';
      if (kind === 'agent') {
        if (msg.type !== FrameType.STATUS)
          throw smigError('SMIG_ERR_PROTOCOL_STATE', 'control link: INSTRUCT from an agent');
        agent ??= this.#e.agent(peer, auth);
        agent.status(msg.payload);
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
    void link.ended.then((end) => agent?.ended(end.error?.message ?? 'disconnected'));
  }
}
