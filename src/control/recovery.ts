/**
 * The controller's restart recovery: what the journal left open is resolved (see journal.ts, "How restart
 * resolves a session"). A session never sent to its source fails and is retried; one already sent waits for
 * the source's agent to report it when it registers again; a concluded one only runs its pending hooks.
 */

import type { ControlCore, Ending, Trigger } from './core.js';
import { newId } from './core.js';
import type { HostRegistry } from './hosts.js';
import type { SessionState } from './journal.js';
import type { SessionRunner } from './sessions.js';

/** Resolves the sessions the journal left open (in the background: tasks of `core`). */
export function recoverSessions(core: ControlCore, hosts: HostRegistry, runner: SessionRunner): void {
  const open = [...core.sessions.values()].filter((s) => !s.closed);
  for (const st of open) {
    const h = hosts.get(st.source.host);
    if (h === undefined) {
      core.log.event('journal-warning', {
        reason: `session ${st.id}: source ${st.source.host} is no longer in the inventory (closed)`,
      });
      core.task(core.journal.append({ rec: 'closed', id: st.id }).then(() => void (st.closed = true)));
      continue;
    }
    // hosts of an unresolved session stay busy until their agents say otherwise at registration
    if (st.plan !== null && (st.state === 'planned' || st.state === 'sending')) {
      h.busy.set(st.id, 'source');
      for (const n of [st.plan.destination, ...st.plan.dataRelays, ...st.plan.keyRelays])
        hosts.get(n)?.busy.set(st.id, 'relay');
    }
    const t: Trigger = {
      id: st.trigger,
      host: h,
      sourceName: st.source.name ?? '',
      reason: st.reason,
      listeners: new Set(),
      avoid: new Set(),
    };
    if (st.state === 'done' || st.state === 'failed') {
      core.log.event('session-recovered', { session: st.id.slice(0, 16), state: st.state, step: 'hooks' });
      core.task(finishRecovered(core, hosts, runner, st, t, null));
      continue;
    }
    core.migrating.set(h.inv.name, t);
    if (st.state === 'planned') {
      core.log.event('session-recovered', {
        session: st.id.slice(0, 16),
        state: st.state,
        step: 'fail: the source was never instructed',
      });
      const e: Ending = {
        ok: false,
        error: 'the controller stopped before the source was instructed',
        retryable: true,
      };
      core.task(finishRecovered(core, hosts, runner, st, t, e));
      continue;
    }
    // sending: ask the source's agent (it reports when it registers)
    core.log.event('session-recovered', { session: st.id.slice(0, 16), state: st.state, step: 'asking the source' });
    const live = runner.newLive(st, t);
    hosts.graceForSource(live, "the source's agent has not reported since the controller restarted");
    // the deadline is wall-clock time in the journal: it kept running while the controller was down
    const left = st.deadline - core.clock.wallNow();
    const dl = core.clock.timer(Math.max(0, left), () =>
      live.end({ ok: false, error: 'the deadline passed', retryable: true }),
    );
    core.task(
      live.ended.then(async (e) => {
        dl.cancel();
        live.graceTimer?.cancel();
        core.live.delete(st.id);
        if (!core.closing) await finishRecovered(core, hosts, runner, st, t, e);
      }),
    );
  }
}

/** Concludes a recovered session (or only runs its pending hooks), then the retry it is owed. */
async function finishRecovered(
  core: ControlCore,
  hosts: HostRegistry,
  runner: SessionRunner,
  st: SessionState,
  t: Trigger,
  e: Ending | null,
): Promise<void> {
  try {
    let retry: boolean;
    if (e === null) {
      await runner.runHooks(st, t);
      retry = st.state === 'failed' && st.retry;
    } else retry = await runner.conclude(st, t, e, st.attempt === 1);
    const retried = [...core.sessions.values()].some((s) => s.trigger === st.trigger && s.attempt > st.attempt);
    if (retry && !retried) await hosts.waitForAgent(t.host, core.recoverMs); // agents reconnect after a restart
    if (retry && !retried && !core.closing && t.host.link !== null && t.sourceName !== '') {
      core.migrating.set(t.host.inv.name, t);
      await runner.runTrigger(t, st.attempt + 1, newId());
    } else if (retry && !retried) {
      core.log.event('retry-skipped', {
        session: st.id.slice(0, 16),
        reason: `${t.host.inv.name}'s agent is not connected`,
      });
    }
  } finally {
    if (core.migrating.get(t.host.inv.name) === t) core.migrating.delete(t.host.inv.name);
  }
}
