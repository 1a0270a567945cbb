/**
 * The controller's host registry: every inventory host, its agent's link and what the agent last said
 * (heartbeat, sources, sessions it is busy with), the registration that binds an agent to its host's
 * inventory identity key, and whether a host is available for a session.
 */
import type { HostPort } from '../net/index.js';
import { parseHostPort } from '../net/index.js';
import type { JsonObject } from '../protocol/index.js';
import { checkSignature } from './auth.js';
import type { AgentLink, ControlCore, HostState, Live } from './core.js';
import { instruct } from './core.js';
import type { Candidate } from './selection.js';
import type { AgentReport, AgentStatus } from './wire.js';

/** What a connection's signatures are bound to: its challenge and its TLS session. */
export interface ConnectionAuth {
  challenge: string;
  binding: Uint8Array;
}

/** How a host looks from outside: `smig control status`'s state. */
export type HostCondition = 'available' | 'busy' | 'offline' | 'silent' | 'honeypot';

/** Every inventory host and its agent. */
export class HostRegistry {
  readonly #c: ControlCore;
  readonly #hosts: Map<string, HostState> = new Map();

  constructor(core: ControlCore) {
    this.#c = core;
    for (const inv of core.o.inventory.hosts) {
      this.#hosts.set(inv.name, {
        inv,
        link: null,
        lastSeen: null,
        out: false,
        sources: [],
        busy: new Map(),
        honeypot: false,
      });
    }
  }

  get(name: string): HostState | undefined {
    return this.#hosts.get(name);
  }

  all(): HostState[] {
    return [...this.#hosts.values()];
  }

  /** An agent's `register`: the host it is (checked against the inventory and its key), or null when refused (the link closes). */
  register(
    link: AgentLink,
    m: Extract<AgentStatus, { type: 'register' }>,
    payload: JsonObject,
    auth: ConnectionAuth,
  ): HostState | null {
    const log = this.#c.log;
    const refuse = (error: string): null => {
      log.event('agent-refused', { remote: link.remote, reason: error });
      instruct(link, { type: 'refused', error });
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
        return refuse(
          `${m.name} relays on ${m.listen}, but the inventory says ${h.inv.addressText} (fix --listen or the inventory)`,
        );
      }
    } else {
      const remote = link.remote.replace(/^\[?(.*?)\]?:\d+$/, '$1');
      h = [...this.#hosts.values()].find(
        (x) =>
          x.inv.address.port === listen.port &&
          (x.inv.address.host.toLowerCase() === listen.host.toLowerCase() || x.inv.address.host === remote),
      );
      if (h === undefined) return refuse(`no inventory host has the address ${m.listen} (give the agent --name)`);
    }
    if (h.inv.key !== null) {
      const v = checkSignature(
        'register',
        auth.challenge,
        auth.binding,
        payload,
        [h.inv.key],
        `${h.inv.name}'s inventory key`,
      );
      if (!v.ok) return refuse(`${h.inv.name}: registration refused: ${v.reason}`);
    } else {
      log.event('agent-unauthenticated', {
        host: h.inv.name,
        remote: link.remote,
        reason: 'no key in the inventory (--insecure-no-identities)',
      });
    }
    if (h.link !== null && h.link !== link) void h.link.close(); // it reconnected before we noticed the old link drop
    h.link = link;
    h.lastSeen = this.#c.clock.now();
    h.out = m.out;
    h.sources = m.sources;
    // what the agent says it is busy with is the truth now (it got no instruction we do not know of)
    h.busy = new Map(m.sessions.filter((r) => r.state === 'active').map((r) => [r.session, r.role]));
    log.event('agent-registered', {
      host: h.inv.name,
      remote: link.remote,
      out: m.out,
      sources: m.sources.join(','),
      busy: h.busy.size,
    });
    instruct(link, { type: 'registered', host: h.inv.name, heartbeatMs: this.#c.heartbeatMs });
    for (const r of m.sessions) if (r.role === 'source') this.#sourceReport(h, r);
    for (const live of this.#c.live.values()) {
      if (
        live.st.source.host === h.inv.name &&
        live.st.state === 'sending' &&
        !m.sessions.some((r) => r.session === live.st.id)
      ) {
        // it never got the instruction (the connection broke), or it restarted and forgot: not running anywhere
        live.end({
          ok: false,
          error: `${h.inv.name}'s agent does not know the session (it restarted, or never got the instruction)`,
          retryable: true,
        });
      }
    }
    this.#c.hostsChanged.notify();
    return h;
  }

  /** A registered agent's STATUS after its `register`. */
  fromAgent(h: HostState, m: AgentStatus): void {
    h.lastSeen = this.#c.clock.now();
    switch (m.type) {
      case 'heartbeat':
      case 'register':
        return;
      case 'ack':
      case 'nack': {
        const live = this.#c.live.get(m.session);
        const w = live?.acks.get(h.inv.name);
        if (w !== undefined) {
          live!.acks.delete(h.inv.name);
          w.resolve(m);
        }
        return;
      }
      case 'result': {
        const live = this.#c.live.get(m.session);
        if (live === undefined || live.st.source.host !== h.inv.name) return;
        live.end(m.ok ? { ok: true, outcome: m.outcome! } : { ok: false, error: m.error ?? 'failed', retryable: true });
        return;
      }
      case 'released':
        if (h.busy.delete(m.session)) {
          this.#c.log.event('host-released', { host: h.inv.name, session: m.session.slice(0, 16) });
          this.#c.hostsChanged.notify();
        }
        return;
    }
  }

  /** A source's report at registration resolves a session being recovered or run. */
  #sourceReport(h: HostState, r: AgentReport): void {
    const live = this.#c.live.get(r.session);
    if (live === undefined || live.st.source.host !== h.inv.name) return;
    live.graceTimer?.cancel();
    if (r.state === 'active') {
      this.#c.log.event('session-adopted', { session: r.session.slice(0, 16), host: h.inv.name });
    } else if (r.state === 'done' && r.outcome !== undefined) live.end({ ok: true, outcome: r.outcome });
    else live.end({ ok: false, error: r.error ?? 'the source reported a failure', retryable: true });
  }

  /** A host's agent link ended: its pending acks fail, and a session it is the source of gets a grace period. */
  agentLost(h: HostState, reason: string): void {
    h.link = null;
    this.#c.log.event('agent-lost', { host: h.inv.name, reason });
    this.#c.hostsChanged.notify();
    for (const live of this.#c.live.values()) {
      const ack = live.acks.get(h.inv.name);
      if (ack !== undefined) {
        live.acks.delete(h.inv.name);
        ack.resolve({ type: 'nack', session: live.st.id, error: `${h.inv.name}'s agent disconnected (${reason})` });
      }
      if (live.st.source.host === h.inv.name && live.st.state === 'sending')
        this.graceForSource(live, `the source's agent disconnected (${reason})`);
    }
  }

  /** The source's agent is gone: the session fails unless it comes back (and still runs it) in time. */
  graceForSource(live: Live, why: string): void {
    const ms = this.#c.recoverMs;
    live.graceTimer?.cancel();
    live.graceTimer = this.#c.clock.timer(ms, () =>
      live.end({ ok: false, error: `${why}; it did not come back within ${ms} ms`, retryable: false }),
    );
  }

  /** Waits until a host's agent is connected, at most `ms`. */
  async waitForAgent(h: HostState, ms: number): Promise<void> {
    const clock = this.#c.clock;
    const until = clock.now() + ms;
    while (h.link === null && !this.#c.closing && clock.now() < until)
      await this.#c.hostsChanged.wait(until - clock.now());
  }

  /** How a host looks at `now` (monotonic clock); see {@link hostCondition}. */
  condition(h: HostState, now: number): HostCondition {
    return hostCondition(h, now, this.#c.heartbeatMs);
  }

  /** The hosts a session may choose now: available and not being migrated. */
  candidates(): Candidate[] {
    const now = this.#c.clock.now();
    return [...this.#hosts.values()]
      .filter((h) => this.condition(h, now) === 'available' && !this.#c.migrating.has(h.inv.name))
      .map((h) => ({ name: h.inv.name, roles: h.inv.roles, canReceive: h.out }));
  }
}

/**
 * A host's condition at `now`: a honeypot stays one; without an agent it is offline; an agent silent for more
 * than 3 heartbeat intervals is silent (not chosen, though still connected); otherwise busy while it holds a
 * session, else available.
 */
export function hostCondition(h: HostState, now: number, heartbeatMs: number): HostCondition {
  if (h.honeypot) return 'honeypot';
  if (h.link === null) return 'offline';
  if (h.lastSeen === null || now - h.lastSeen > 3 * heartbeatMs) return 'silent';
  return h.busy.size > 0 ? 'busy' : 'available';
}

function parseListen(text: string): HostPort {
  return parseHostPort(text, 'register: listen');
}
