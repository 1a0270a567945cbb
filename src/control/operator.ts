/**
 * The controller's operator API: checks an operator request's signature against the `--operator-key`s and
 * serves it — `status` (paged so that each STATUS body stays well under a control frame's limit), `migrate`
 * (a dry-run plan, or a trigger whose progress a waiting operator follows), `reinstate` (a honeypot back in
 * service).
 */
import type { HostPort } from '../net/index.js';
import { formatHostPort } from '../net/index.js';
import { repeat } from '../pacing/clock.js';
import type { JsonObject } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import type { Link } from '../roles/link.js';
import { checkSignature } from './auth.js';
import type { ControlCore, Trigger } from './core.js';
import type { EveStats } from './eve.js';
import type { ConnectionAuth, HostRegistry } from './hosts.js';
import type { SessionOutcome, SessionState, TriggerReason } from './journal.js';
import type { SessionCounts } from './selection.js';
import { selectHosts } from './selection.js';
import type { SessionRunner } from './sessions.js';
import type { OperatorRequest } from './wire.js';

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

/** What the status needs from the daemon itself: its bound address and its EVE follower's figures. */
export interface DaemonView {
  listen: () => HostPort;
  eve: () => ControllerStatus['eve'];
}

/** Serves operators' requests. */
export class OperatorApi {
  readonly #c: ControlCore;
  readonly #hosts: HostRegistry;
  readonly #runner: SessionRunner;
  readonly #view: DaemonView;
  /** Unsigned operator requests served (only without operator keys). */
  #unsigned = 0;

  constructor(core: ControlCore, hosts: HostRegistry, runner: SessionRunner, view: DaemonView) {
    this.#c = core;
    this.#hosts = hosts;
    this.#runner = runner;
    this.#view = view;
  }

  /** What `smig control status` shows. */
  status(): ControllerStatus {
    const now = this.#c.clock.now();
    const hosts = this.#hosts.all().map(
      (h): HostStatus => ({
        name: h.inv.name,
        address: h.inv.addressText,
        roles: [...h.inv.roles],
        state: this.#hosts.condition(h, now),
        out: h.out,
        sources: h.sources,
        sessions: [...h.busy.keys()],
        lastSeenMs: h.lastSeen === null ? null : now - h.lastSeen,
      }),
    );
    const sessions = [...this.#c.sessions.values()]
      .slice(-20)
      .reverse()
      .map((s) => sessionStatus(s));
    const eve = this.#view.eve();
    return {
      listen: formatHostPort(this.#view.listen()),
      journal: this.#c.journal.path,
      counts: this.#c.counts,
      hosts,
      sessions,
      eve,
    };
  }

  /** Null when the operator's request may be served, else the one-line reason it is refused (logged). */
  check(link: Link, payload: JsonObject, auth: ConnectionAuth): string | null {
    const keys = this.#c.o.operatorKeys ?? [];
    const what = typeof payload.type === 'string' ? payload.type.slice(0, 20) : '?';
    if (keys.length === 0) {
      // --insecure-no-identities: said at the first request and every 100th, not for each status poll
      if (this.#unsigned++ % 100 === 0)
        this.#c.log.event('operator-unauthenticated', {
          remote: link.conn.remote,
          request: what,
          requests: this.#unsigned,
        });
      return null;
    }
    const v = checkSignature(
      'operator',
      auth.challenge,
      auth.binding,
      payload,
      keys,
      'an --operator-key of the controller',
    );
    if (v.ok) return null;
    const reason = `operator request '${what}' refused: ${v.reason}`;
    this.#c.log.event('operator-refused', { remote: link.conn.remote, reason });
    return reason;
  }

  /** Serves a request that passed {@link check}. */
  serve(link: Link, r: OperatorRequest): void {
    const c = this.#c;
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
        pages.forEach((hosts, p) =>
          reply({
            type: 'status',
            page: p,
            pages: pages.length,
            hosts,
            ...(p === 0
              ? { listen: s.listen, journal: s.journal, counts: s.counts, sessions: s.sessions, eve: s.eve }
              : {}),
          } as unknown as JsonObject),
        );
        void link.close();
        return;
      }
      case 'reinstate': {
        const h = this.#hosts.get(r.host);
        if (h === undefined) reply({ type: 'refused', error: `no host '${r.host}' in the inventory` });
        else {
          const was = h.honeypot;
          h.honeypot = false;
          if (was) c.task(c.journal.append({ rec: 'honeypot', host: h.inv.name, on: false }));
          c.log.event('host-reinstated', { host: h.inv.name, was: was ? 'honeypot' : 'in service' });
          c.hostsChanged.notify();
          reply({ type: 'reinstated', host: h.inv.name, was: was ? 'honeypot' : 'in service' });
        }
        void link.close();
        return;
      }
      case 'migrate': {
        let t: Trigger;
        try {
          if (r.dryRun) {
            const { host, sourceName } = this.#runner.checkTrigger(r.host, r.source);
            const plan = selectHosts(host.inv.name, this.#hosts.candidates(), c.counts);
            reply({ type: 'plan', host: host.inv.name, source: sourceName, ...plan } as unknown as JsonObject);
            void link.close();
            return;
          }
          t = this.#runner.trigger(r.host, r.source, { kind: 'manual' });
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
        const keepalive = repeat(c.clock, 15_000, () => link.post({ type: FrameType.PING, seq: 0 }));
        const listener = (m: JsonObject): void => {
          reply(m);
          if (m.type === 'finished') {
            keepalive.cancel();
            t.listeners.delete(listener);
            void link.close();
          }
        };
        t.listeners.add(listener);
        reply({ type: 'accepted', trigger: t.id });
        void link.ended.then(() => {
          keepalive.cancel();
          t.listeners.delete(listener);
        });
      }
    }
  }
}

/** Lost relays of one session shown by the status (the journal keeps them all). */
const STATUS_LOST_RELAYS = 8;

/** A session's status view. */
function sessionStatus(s: SessionState): SessionStatus {
  const hooks = [...s.hooks.entries()].map(([hook, h]) => ({ hook, status: h.status, error: h.error }));
  return {
    id: s.id,
    trigger: s.trigger,
    attempt: s.attempt,
    created: new Date(s.created).toISOString(),
    reason: s.reason,
    source: s.source.host,
    sourceName: s.source.name,
    destination: s.plan?.destination ?? null,
    leader: s.plan?.leader ?? null,
    dataRelays: s.plan?.dataRelays ?? [],
    keyRelays: s.plan?.keyRelays ?? [],
    threshold: s.plan?.threshold ?? null,
    state: s.plan === null ? 'refused' : s.state,
    closed: s.closed,
    error: s.error,
    hooks,
    // a source reports up to 255 lost relays of up to 300 characters: the status shows the first few
    outcome:
      s.outcome === null ? null : { ...s.outcome, lostRelays: s.outcome.lostRelays.slice(0, STATUS_LOST_RELAYS) },
  };
}
