/**
 * The controller's session runner: a trigger's life from the flagged host's checks to its last attempt —
 * host selection (waiting for enough available hosts), the journaled session, the instructions to the
 * destination, the relays and the source, the wait for their acks and the source's result under the
 * deadline, the conclusion (honeypot or abort), the operator's hooks, and the one retry with fresh hosts.
 */
import { encodePublicKey } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import { formatHostPort } from '../net/index.js';
import type { TimerHandle } from '../pacing/clock.js';
import { stringifyPlan } from '../pacing/plan.js';
import type { JsonObject } from '../protocol/index.js';
import type { ControlCore, Ending, HostState, Live, Trigger } from './core.js';
import { instruct, newId } from './core.js';
import type { HookResult } from './hooks.js';
import { hookEnvironment, runHook, SUCCESS_EVENTS } from './hooks.js';
import type { HostRegistry } from './hosts.js';
import type { InventoryHost } from './inventory.js';
import type { SessionState, TriggerReason } from './journal.js';
import { KEEP_CLOSED } from './journal.js';
import type { HostPlan } from './selection.js';
import { selectHosts } from './selection.js';
import type { AgentRole, AgentStatus } from './wire.js';

/** Runs triggers and their sessions. */
export class SessionRunner {
  readonly #c: ControlCore;
  readonly #hosts: HostRegistry;

  constructor(core: ControlCore, hosts: HostRegistry) {
    this.#c = core;
    this.#hosts = hosts;
  }

  /** Checks that `name` can be migrated now; returns its state and the source name. */
  checkTrigger(name: string, source: string | null): { host: HostState; sourceName: string } {
    const h = this.#hosts.get(name);
    if (h === undefined) throw smigError('SMIG_ERR_USAGE', `no host '${name}' in the inventory`);
    if (!h.inv.roles.has('source'))
      throw smigError('SMIG_ERR_USAGE', `${name}: its inventory roles do not include source`);
    if (h.honeypot)
      throw smigError(
        'SMIG_ERR_MIGRATION',
        `${name} is a honeypot since its last migration (smig control reinstate ${name} returns it to service)`,
      );
    const other = this.#c.migrating.get(name);
    if (other !== undefined)
      throw smigError('SMIG_ERR_MIGRATION', `${name} is already being migrated (trigger ${other.id})`);
    if (h.link === null) throw smigError('SMIG_ERR_MIGRATION', `${name}'s agent is not connected`);
    const sourceName = source ?? h.inv.source ?? h.sources[0];
    if (sourceName === undefined) throw smigError('SMIG_ERR_MIGRATION', `${name}'s agent has no --source to migrate`);
    if (!h.sources.includes(sourceName)) {
      throw smigError(
        'SMIG_ERR_MIGRATION',
        `${name}'s agent has no source '${sourceName}' (it has: ${h.sources.join(', ') || 'none'})`,
      );
    }
    return { host: h, sourceName };
  }

  /** Starts migrating a host (returns at once; the trigger runs in the background). */
  trigger(name: string, source: string | null, reason: TriggerReason): Trigger {
    if (this.#c.closing) throw smigError('SMIG_ERR_MIGRATION', 'the controller is stopping');
    const { host, sourceName } = this.checkTrigger(name, source);
    const t: Trigger = { id: newId(), host, sourceName, reason, listeners: new Set(), avoid: new Set() };
    this.#c.migrating.set(name, t);
    this.#c.log.event('trigger', { host: name, source: sourceName, reason: reason.kind, trigger: t.id.slice(0, 16) });
    this.#c.task(this.runTrigger(t, 1, t.id));
    return t;
  }

  /** Attempts (from `attempt`, with the first session id `id`) until success, a final failure, or a stop. */
  async runTrigger(t: Trigger, attempt: number, id: string): Promise<void> {
    const c = this.#c;
    try {
      for (; !c.closing; attempt++) {
        const plan = await this.#waitForPlan(t);
        if (c.closing) return;
        // wall-clock time: it is journaled and keeps running across a restart
        const deadline = c.clock.wallNow() + (c.o.deadlineMs ?? 3_600_000);
        const st = await this.record(t, id, attempt, plan.plan, deadline);
        if (plan.plan === null) {
          await this.conclude(st, t, { ok: false, error: plan.error, retryable: false });
          return;
        }
        const ending = await this.#runSession(st, t);
        if (c.closing) return; // left in the journal: the next start resolves it
        const retry = await this.conclude(st, t, ending, attempt === 1);
        if (!retry) return;
        id = newId();
      }
    } finally {
      if (c.migrating.get(t.host.inv.name) === t) c.migrating.delete(t.host.inv.name);
    }
  }

  /** Selects hosts, waiting up to hostWaitMs for enough to be available. */
  async #waitForPlan(t: Trigger): Promise<{ plan: HostPlan; error?: undefined } | { plan: null; error: string }> {
    const c = this.#c;
    const clock = c.clock;
    const until = clock.now() + (c.o.hostWaitMs ?? 30_000);
    let logged = false;
    for (;;) {
      try {
        return {
          plan: selectHosts(
            t.host.inv.name,
            this.#hosts.candidates().filter((x) => !t.avoid.has(x.name)),
            c.counts,
          ),
        };
      } catch (err) {
        const error = (err as Error).message;
        if (c.closing || clock.now() >= until) return { plan: null, error };
        if (!logged) c.log.event('waiting-for-hosts', { host: t.host.inv.name, reason: error });
        logged = true;
        await c.hostsChanged.wait(Math.max(1, until - clock.now()));
      }
    }
  }

  /** Journals a new session and reserves its hosts. */
  async record(
    t: Trigger,
    id: string,
    attempt: number,
    plan: HostPlan | null,
    deadline: number,
  ): Promise<SessionState> {
    const c = this.#c;
    const source = { host: t.host.inv.name, name: t.sourceName === '' ? null : t.sourceName };
    const st: SessionState = {
      id,
      trigger: t.id,
      attempt,
      created: c.clock.wallNow(),
      source,
      reason: t.reason,
      plan,
      deadline,
      state: 'planned',
      outcome: null,
      error: null,
      retry: false,
      hooks: new Map(),
      closed: false,
      ended: null,
    };
    if (plan !== null) {
      const reserve = (name: string, role: AgentRole): void => void this.#hosts.get(name)!.busy.set(id, role);
      reserve(plan.destination, 'destination');
      for (const r of [...plan.dataRelays, ...plan.keyRelays]) reserve(r, 'relay');
      t.host.busy.set(id, 'source');
    }
    c.sessions.set(id, st);
    await c.journal.append({ rec: 'session', id, trigger: t.id, attempt, source, reason: t.reason, plan, deadline });
    c.log.event(plan === null ? 'session-refused' : 'session-planned', {
      session: id.slice(0, 16),
      attempt,
      source: source.host,
      destination: plan?.destination,
      leader: plan?.leader,
      dataRelays: plan?.dataRelays.join(','),
      keyRelays: plan?.keyRelays.join(','),
    });
    c.emit(t, {
      type: 'progress',
      session: id,
      attempt,
      state: plan === null ? 'refused' : 'planned',
      plan: plan as unknown as JsonObject,
    });
    return st;
  }

  /** Registers a session as live: agents' acks and results reach it. */
  newLive(st: SessionState, t: Trigger): Live {
    let end!: (e: Ending) => void;
    const ended = new Promise<Ending>((resolve) => (end = resolve));
    const live: Live = { st, trigger: t, end: (e) => end(e), ended, acks: new Map() };
    this.#c.live.set(st.id, live);
    return live;
  }

  /** Steps 3 and 4: instruct, follow, enforce the deadline. */
  async #runSession(st: SessionState, t: Trigger): Promise<Ending> {
    const c = this.#c;
    const plan = st.plan!;
    const live = this.newLive(st, t);
    const left = st.deadline - c.clock.wallNow();
    const ttlMs = Math.max(1000, left + 60_000);
    const deadline = c.clock.timer(Math.max(0, left), () =>
      live.end({ ok: false, error: `the deadline of ${c.o.deadlineMs ?? 3_600_000} ms passed`, retryable: true }),
    );
    const sendTimeout = this.#timeout(c.o.prepareTimeoutMs ?? 15_000);
    try {
      // 3. destination and relays
      const prepared = await Promise.race([this.#prepare(live, plan, ttlMs), live.ended]);
      if ('ok' in prepared) return prepared;
      // 4. the source (journaled first: after a crash from here on the source may be running)
      if (t.host.link === null)
        return {
          ok: false,
          error: `${t.host.inv.name}'s agent disconnected before the session started`,
          retryable: false,
        };
      st.state = 'sending';
      await c.journal.append({ rec: 'sending', id: st.id });
      c.emit(t, { type: 'progress', session: st.id, attempt: st.attempt, state: 'sending' });
      const ack = this.#expectAck(live, t.host.inv.name);
      instruct(t.host.link, {
        type: 'send',
        session: st.id,
        source: t.sourceName,
        destination: prepared.destination,
        dataRelays: plan.dataRelays.map((n) => this.#hosts.get(n)!.inv.addressText),
        keyRelays: plan.keyRelays.map((n) => this.#hosts.get(n)!.inv.addressText),
        leader: this.#hosts.get(plan.leader)!.inv.addressText,
        threshold: plan.threshold,
        ttlMs,
        plan: this.#planText(),
        destKey: destKeyLine(this.#hosts.get(plan.destination)!.inv.key),
      });
      const a = await Promise.race([ack, live.ended, sendTimeout.arm()]);
      if (a === null)
        live.end({ ok: false, error: `${t.host.inv.name} did not acknowledge the send instruction`, retryable: true });
      else if ('type' in a && a.type === 'nack')
        live.end({ ok: false, error: `${t.host.inv.name}: ${a.error}`, retryable: !/no --source/.test(a.error) });
      return await live.ended;
    } finally {
      deadline.cancel();
      sendTimeout.cancel();
      live.graceTimer?.cancel();
      c.live.delete(st.id);
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
      if (link === null)
        return { ok: false, error: `${name}'s agent disconnected before the session started`, retryable: true };
      instruct(
        link,
        name === plan.destination
          ? { type: 'receive', session: id, ttlMs, sourceKey }
          : { type: 'relay', session: id, ttlMs },
      );
    }
    const limit = this.#c.o.prepareTimeoutMs ?? 15_000;
    const t = this.#timeout(limit);
    const all = await Promise.race([Promise.all(acks), t.arm()]);
    t.cancel();
    if (all === null) {
      const silent = hosts.filter((n) => live.acks.has(n));
      return {
        ok: false,
        error: `no answer within ${limit} ms from ${silent.join(', ')}`,
        retryable: true,
        blame: silent,
      };
    }
    const refused = all.map((m, i) => [hosts[i]!, m] as const).find(([, m]) => m.type === 'nack');
    if (refused !== undefined)
      return {
        ok: false,
        error: `${refused[0]}: ${(refused[1] as { error: string }).error}`,
        retryable: true,
        blame: [refused[0]],
      };
    const port = (all[0] as { port?: number }).port;
    if (port === undefined) return { ok: false, error: `${plan.destination} opened no port`, retryable: true };
    return { destination: formatHostPort({ host: this.#hosts.get(plan.destination)!.inv.address.host, port }) };
  }

  /** A time limit on the controller's clock: `arm()` starts it (a promise of null when it passes), `cancel()` drops it. */
  #timeout(ms: number): { arm: () => Promise<null>; cancel: () => void } {
    let handle: TimerHandle | undefined;
    return {
      arm: () => new Promise((resolve) => void (handle = this.#c.clock.timer(ms, () => resolve(null)).unref())),
      cancel: () => handle?.cancel(),
    };
  }

  #expectAck(live: Live, host: string): Promise<AgentStatus> {
    return new Promise((resolve) => live.acks.set(host, { resolve }));
  }

  #planText(): string | null {
    const p = this.#c.o.plan?.();
    return p === undefined || p.strategy === 'bulk' ? null : stringifyPlan(p);
  }

  /**
   * Journals the end of a session, tells its hosts, runs the hooks, closes it. Returns whether a retry follows.
   */
  async conclude(st: SessionState, t: Trigger, e: Ending, mayRetry = false): Promise<boolean> {
    const c = this.#c;
    const retry = !e.ok && e.retryable && mayRetry && (c.o.retry ?? true) && !c.closing;
    if (!e.ok) for (const b of e.blame ?? []) t.avoid.add(b);
    if (e.ok) {
      st.state = 'done';
      st.outcome = e.outcome;
      await c.journal.append({ rec: 'result', id: st.id, ok: true, outcome: e.outcome });
      t.host.honeypot = true;
      await c.journal.append({ rec: 'honeypot', host: t.host.inv.name, on: true });
      c.log.event('session-done', {
        session: st.id.slice(0, 16),
        source: st.source.host,
        destination: st.plan!.destination,
        bytes: e.outcome.bytes,
        seconds: e.outcome.seconds,
      });
    } else {
      st.state = 'failed';
      st.error = e.error;
      st.retry = retry;
      await c.journal.append({ rec: 'result', id: st.id, ok: false, error: e.error, retry });
      c.log.event('session-failed', { session: st.id.slice(0, 16), source: st.source.host, reason: e.error, retry });
      if (st.plan !== null) this.#abortHosts(st, e.error);
    }
    st.ended = c.clock.wallNow();
    c.emit(t, {
      type: 'progress',
      session: st.id,
      attempt: st.attempt,
      state: st.state,
      error: st.error,
      outcome: st.outcome as unknown as JsonObject,
    });
    await this.runHooks(st, t);
    if (!retry)
      c.emit(t, {
        type: 'finished',
        ok: e.ok,
        trigger: t.id,
        session: st.id,
        error: st.error,
        outcome: st.outcome as unknown as JsonObject,
      });
    return retry;
  }

  /** Tells every host of a failed session to let go (a relay that served it releases when its links close). */
  #abortHosts(st: SessionState, reason: string): void {
    const plan = st.plan!;
    for (const name of new Set([st.source.host, plan.destination, ...plan.dataRelays, ...plan.keyRelays])) {
      const h = this.#hosts.get(name)!;
      if (h.link !== null && h.busy.has(st.id))
        instruct(h.link, { type: 'abort', session: st.id, reason: reason.slice(0, 500) });
    }
  }

  /** Runs the hooks of a concluded session that have not finished yet, in order, then journals `closed`. */
  async runHooks(st: SessionState, t: Trigger): Promise<void> {
    const c = this.#c;
    const events = st.state === 'done' ? SUCCESS_EVENTS : (['failed'] as const);
    const hooks = c.o.hooks ?? [];
    for (const event of events) {
      const specs = hooks.filter((h) => h.event === event);
      for (let index = 0; index < specs.length; index++) {
        const key = `${event}#${index}`;
        const prior = st.hooks.get(key);
        if (prior?.ended) continue;
        await c.journal.append({ rec: 'hook', id: st.id, event, index, phase: 'start' });
        st.hooks.set(key, { started: true, ended: false, status: null, error: null });
        let r: HookResult;
        try {
          const env = hookEnvironment({
            event,
            session: st.id,
            trigger: st.trigger,
            attempt: st.attempt,
            reason: st.reason,
            source: t.host.inv,
            sourceName: st.source.name,
            plan: st.plan,
            host: (n) => this.#hosts.get(n)?.inv,
            outcome: st.outcome,
            error: st.error,
            retry: st.retry,
            hookRetry: prior?.started === true,
          });
          r = await runHook(specs[index]!, index, {
            env,
            timeoutMs: c.o.hookTimeoutMs ?? 300_000,
            clock: c.clock,
            onOutput: (line) =>
              c.o.hookOutput ? c.o.hookOutput(event, line) : c.log.event('hook-output', { hook: event, line }),
          });
        } catch (err) {
          // a hook that cannot even be prepared is a failed hook: the chain goes on and the session closes
          r = {
            event,
            index,
            command: specs[index]!.command,
            status: 127,
            timedOut: false,
            error: `cannot start: ${(err as Error).message}`,
            ms: 0,
          };
        }
        st.hooks.set(key, { started: true, ended: true, status: r.status, error: r.error });
        await c.journal.append({
          rec: 'hook',
          id: st.id,
          event,
          index,
          phase: 'end',
          status: r.status,
          error: r.error,
        });
        c.log.event(r.error === null ? 'hook-done' : 'hook-failed', {
          session: st.id.slice(0, 16),
          hook: event,
          index,
          status: r.status,
          ms: r.ms,
          reason: r.error ?? undefined,
        });
        c.emit(t, { type: 'hook', session: st.id, hook: event, index, status: r.status, error: r.error });
      }
    }
    st.closed = true;
    await c.journal.append({ rec: 'closed', id: st.id });
    // memory follows the journal's compaction: the newest KEEP_CLOSED closed sessions
    const closed = [...c.sessions.values()].filter((x) => x.closed);
    for (const x of closed.slice(0, Math.max(0, closed.length - KEEP_CLOSED))) c.sessions.delete(x.id);
  }
}

/** The public key line the source seals to (no comment: it is never trusted), or null. */
function destKeyLine(key: InventoryHost['key']): string | null {
  return key === null ? null : encodePublicKey({ sign: key.sign, agree: key.agree }).trim();
}
