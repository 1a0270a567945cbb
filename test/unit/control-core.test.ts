/**
 * The controller's logic (ControlEngine) on a FakeClock with in-memory agent links: no sockets, no real
 * timers. Each test moves the clock to one millisecond before a limit, checks that nothing happened, then to
 * the limit, and checks what happened and the time the journal stamped on it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/control/core.js';
import type { EveAlert } from '../../src/control/eve.js';
import { parseEveLine } from '../../src/control/eve.js';
import { parseHookSpec } from '../../src/control/hooks.js';
import type { JsonObject } from '../../src/protocol/index.js';
import type { Harness } from '../helpers/control-core.js';
import {
  journalWith,
  keylessInventory,
  OUTCOME,
  openHarness,
  removeTemp,
  settle,
  tempPath,
  turns,
  WALL_START,
} from '../helpers/control-core.js';
import { alertLine } from '../helpers/eve.js';

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});
afterAll(removeTemp);

async function harness(...a: Parameters<typeof openHarness>): Promise<Harness> {
  const h = await openHarness(...a);
  open.push(h);
  return h;
}

/** Starts a manual trigger and collects what its listeners hear. */
function migrate(h: Harness, host: string): { t: Trigger; msgs: JsonObject[] } {
  const t = h.engine.runner.trigger(host, null, { kind: 'manual' });
  const msgs: JsonObject[] = [];
  t.listeners.add((m) => msgs.push(m));
  return { t, msgs };
}

const conditions = (h: Harness): string[] =>
  h.engine.hosts.all().map((x) => h.engine.hosts.condition(x, h.clock.now()));

describe('host registry on a fake clock', () => {
  it('an agent silent for more than 3 heartbeat intervals is silent and not a candidate; a heartbeat brings it back', async () => {
    const h = await harness({ inventory: keylessInventory(6), heartbeatMs: 1000 });
    for (let i = 0; i < 6; i++) h.connect(`h${i}`);
    expect(conditions(h)).toEqual(Array(6).fill('available'));
    for (let s = 0; s < 3; s++) {
      await h.clock.advance(1000);
      h.heartbeat('h5');
    }
    // t = 3000: h5 was last heard at 0, exactly 3 intervals ago: still available
    expect(h.clock.now()).toBe(3000);
    expect(conditions(h)[5]).toBe('available');
    await h.clock.advance(1);
    expect(conditions(h)).toEqual(['available', 'available', 'available', 'available', 'available', 'silent']);
    expect(h.engine.hosts.candidates().map((c) => c.name)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    h.agents.get('h5')!.say({ type: 'heartbeat', active: [] });
    expect(conditions(h)[5]).toBe('available');
    h.disconnect('h5');
    expect(conditions(h)[5]).toBe('offline');
  });

  it('a trigger waiting for hosts starts its session the moment enough are available', async () => {
    const h = await harness({ inventory: keylessInventory(6), heartbeatMs: 60_000, hostWaitMs: 30_000 });
    for (let i = 0; i < 5; i++) h.connect(`h${i}`);
    const { msgs } = migrate(h, 'h0');
    await settle(() => h.log.named('waiting-for-hosts').length === 1, 'waiting-for-hosts');
    await h.clock.advance(10_000);
    await turns();
    expect(msgs).toEqual([]);
    h.connect('h5');
    const planned = await settle(() => msgs.find((m) => m.state === 'planned'), 'planned');
    expect((planned.plan as { destination: string } | null)?.destination).toMatch(/^h[1-5]$/);
    const rec = h.records().find((r) => r.rec === 'session')!;
    expect(rec.t).toBe(WALL_START + 10_000);
    expect(rec.deadline).toBe(WALL_START + 10_000 + 3_600_000);
    const fin = await settle(() => msgs.find((m) => m.type === 'finished'), 'finished');
    expect(fin).toMatchObject({ ok: true, outcome: OUTCOME });
  });

  it('too few hosts: the wait ends in a refusal at exactly hostWaitMs, journaled, and the failed hook runs', async () => {
    const hookLog = tempPath('hooks.log');
    const hooks = [
      parseHookSpec(`failed=echo "$SMIG_EVENT $SMIG_ATTEMPT $SMIG_SOURCE_HOST $SMIG_RETRY" >> ${hookLog}`),
    ];
    const h = await harness({ inventory: keylessInventory(6), heartbeatMs: 60_000, hostWaitMs: 30_000, hooks });
    for (let i = 0; i < 5; i++) h.connect(`h${i}`);
    const { msgs } = migrate(h, 'h0');
    await settle(() => h.log.named('waiting-for-hosts').length === 1, 'waiting-for-hosts');
    await h.clock.advance(29_999);
    await turns();
    expect(msgs).toEqual([]);
    expect(h.engine.core.sessions.size).toBe(0);
    await h.clock.advance(1);
    const fin = await settle(() => msgs.find((m) => m.type === 'finished'), 'finished');
    expect(fin).toMatchObject({
      ok: false,
      error:
        'cannot migrate h0: 4 other hosts available (h1, h2, h3, h4), a session needs 5 (1 destination, 2 data relays, 2 key relays); 4 of them can relay',
    });
    const st = [...h.engine.core.sessions.values()];
    expect(st.map((s) => [s.plan, s.state, s.created, s.closed])).toEqual([
      [null, 'failed', WALL_START + 30_000, true],
    ]);
    expect(h.engine.core.migrating.size).toBe(0);
    expect(readFileSync(hookLog, 'utf8')).toBe('failed 1 h0 0\n');
    expect(h.records().map((r) => r.rec)).toEqual(['session', 'result', 'hook', 'hook', 'closed']);
  });
});

describe('alert triage on a fake clock', () => {
  const alert = (src: string, severity = 2): EveAlert => {
    const e = parseEveLine(alertLine(src, '203.0.113.9', severity));
    if (e.kind !== 'alert') throw new Error('not an alert');
    return e.alert;
  };

  it('a flagged host is excluded while migrating, then cooled down until exactly cooldownMs after it was flagged', async () => {
    // five hosts: every trigger is refused after hostWaitMs, so the host is free again
    const h = await harness({
      inventory: keylessInventory(6),
      heartbeatMs: 3_600_000,
      hostWaitMs: 1000,
      cooldownMs: 60_000,
      maxSeverity: 2,
    });
    for (let i = 0; i < 5; i++) h.connect(`h${i}`);
    const a = h.engine.alerts;
    a.onAlert(alert('10.1.0.1'), 1);
    expect(a.counts).toEqual({ unknown: 1, suppressed: 0, triggered: 1 });
    a.onAlert(alert('10.1.0.1'), 2); // being migrated
    await h.clock.advance(1000);
    await settle(
      () => !h.engine.core.migrating.has('h0') && [...h.engine.core.sessions.values()][0]?.closed,
      'refused',
    );
    a.onAlert(alert('10.1.0.1'), 3);
    await h.clock.advance(58_999);
    a.onAlert(alert('10.1.0.1'), 4); // t = 59 999
    a.onAlert(alert('10.1.0.1', 3), 5); // not severe enough
    await h.clock.advance(1);
    expect(a.counts.triggered).toBe(1);
    a.onAlert(alert('10.1.0.1'), 6); // t = 60 000: the cool-down is over
    expect(a.counts).toEqual({ unknown: 6, suppressed: 4, triggered: 2 });
    expect(h.log.named('eve-suppressed').map((f) => [f.line, f.reason])).toEqual([
      [2, 'excluded'],
      [3, 'cooldown'],
      [4, 'cooldown'],
      [5, 'severity'],
    ]);
    expect(h.engine.core.migrating.get('h0')?.reason).toMatchObject({ kind: 'eve', alert: { severity: 2 } });
  });
});

describe('session deadline on a fake clock', () => {
  it('fires at exactly deadlineMs: the source is told to abort, one retry with its own deadline, then the end', async () => {
    const h = await harness({
      inventory: keylessInventory(6),
      heartbeatMs: 3_600_000,
      deadlineMs: 600_000,
    });
    h.connect('h0', { send: 'silent' });
    for (let i = 1; i < 6; i++) h.connect(`h${i}`);
    const h0 = h.agents.get('h0')!;
    const { msgs } = migrate(h, 'h0');
    await settle(() => h0.of('send').length === 1 && h.engine.core.live.size === 1, 'send');
    const first = h0.of('send')[0]!.session;
    await h.clock.advance(599_999);
    await turns();
    expect(msgs.filter((m) => m.state === 'failed')).toEqual([]);
    expect(h0.of('abort')).toEqual([]);
    await h.clock.advance(1);
    await settle(() => h0.of('send').length === 2, 'second attempt sent');
    expect(h0.of('abort')).toEqual([{ type: 'abort', session: first, reason: 'the deadline of 600000 ms passed' }]);
    await h.clock.advance(600_000);
    const fin = await settle(() => msgs.find((m) => m.type === 'finished'), 'finished');
    expect(fin).toMatchObject({ ok: false, error: 'the deadline of 600000 ms passed' });
    const results = h.records().filter((r) => r.rec === 'result');
    expect(results.map((r) => [r.ok, r.retry, r.t])).toEqual([
      [false, true, WALL_START + 600_000],
      [false, false, WALL_START + 1_200_000],
    ]);
    expect(h0.of('abort')).toHaveLength(2);
  });
});

describe('prepare timeout on a fake clock', () => {
  it('a host silent at the prepare step fails the attempt at exactly prepareTimeoutMs; the retry does without it', async () => {
    const h = await harness({
      inventory: keylessInventory(6),
      heartbeatMs: 3_600_000,
      prepareTimeoutMs: 15_000,
      hostWaitMs: 30_000,
    });
    // h1 is the only host that can receive, so the destination, and it never answers
    h.connect('h0');
    h.connect('h1', { mute: true });
    for (let i = 2; i < 6; i++) h.connect(`h${i}`, { out: false });
    const { msgs } = migrate(h, 'h0');
    await settle(() => h.agents.get('h1')!.of('receive').length === 1, 'receive sent');
    await h.clock.advance(14_999);
    await turns();
    expect(msgs.filter((m) => m.state === 'failed')).toEqual([]);
    await h.clock.advance(1);
    await settle(() => msgs.some((m) => m.state === 'failed'), 'failed');
    expect(msgs.find((m) => m.state === 'failed')).toMatchObject({
      attempt: 1,
      error: 'no answer within 15000 ms from h1',
    });
    expect(h.agents.get('h0')!.of('send')).toEqual([]); // the source was never told to send
    // attempt 2 avoids h1: no host can receive, it waits hostWaitMs and is refused
    await settle(() => h.log.named('waiting-for-hosts').length === 1, 'attempt 2 waits');
    await h.clock.advance(30_000);
    const fin = await settle(() => msgs.find((m) => m.type === 'finished'), 'finished');
    expect(fin).toMatchObject({ ok: false });
    expect(String(fin.error)).toMatch(/^cannot migrate h0: 4 other hosts available \(h2, h3, h4, h5\)/);
    const recs = h.records().filter((r) => r.rec === 'session' || r.rec === 'result');
    expect(recs.map((r) => [r.rec, r.attempt ?? r.retry, r.t])).toEqual([
      ['session', 1, WALL_START],
      ['result', true, WALL_START + 15_000],
      ['session', 2, WALL_START + 45_000],
      ['result', false, WALL_START + 45_000],
    ]);
  });
});

describe('restart recovery on a fake clock', () => {
  const plan = { destination: 'h1', dataRelays: ['h2', 'h3'], keyRelays: ['h4', 'h5'], leader: 'h3', threshold: 1 };
  const S = 'a1'.repeat(16);
  const session = (deadline: number): object => ({
    rec: 'session',
    id: S,
    trigger: S,
    attempt: 1,
    source: { host: 'h0', name: 'vm' },
    reason: { kind: 'manual' },
    plan,
    deadline,
  });

  it("a session in flight is resolved by the source's report at registration: done, honeypot, nothing sent again", async () => {
    const h = await harness(
      { inventory: keylessInventory(6), heartbeatMs: 3_600_000 },
      journalWith(session(WALL_START + 60_000), { rec: 'sending', id: S }),
    );
    expect([...h.engine.hosts.get('h3')!.busy.keys()]).toEqual([S]); // reserved until the agents say otherwise
    const h0 = h.connect('h0', { sessions: [{ session: S, role: 'source', state: 'done', outcome: OUTCOME }] });
    await settle(() => h.engine.core.sessions.get(S)?.closed, 'closed');
    expect(h.engine.core.sessions.get(S)).toMatchObject({ state: 'done', outcome: OUTCOME });
    expect(h.engine.hosts.get('h0')!.honeypot).toBe(true);
    expect(h0.instructs.map((m) => m.type)).toEqual(['registered']);
    expect(h.engine.core.sessions.size).toBe(1);
  });

  it('a session in flight whose source never comes back fails at exactly recoverWaitMs, without a retry', async () => {
    const h = await harness(
      { inventory: keylessInventory(6), heartbeatMs: 3_600_000, recoverWaitMs: 20_000 },
      journalWith(session(WALL_START + 3_600_000), { rec: 'sending', id: S }),
    );
    await h.clock.advance(19_999);
    await turns();
    expect(h.engine.core.sessions.get(S)!.state).toBe('sending');
    await h.clock.advance(1);
    await settle(() => h.engine.core.sessions.get(S)?.closed, 'closed');
    expect(h.engine.core.sessions.get(S)).toMatchObject({
      state: 'failed',
      retry: false,
      error: "the source's agent has not reported since the controller restarted; it did not come back within 20000 ms",
    });
    expect(h.records().find((r) => r.rec === 'result')?.t).toBe(WALL_START + 20_000);
  });

  it('the journaled deadline keeps running across the restart; the retry waits for the source to reconnect', async () => {
    const h = await harness(
      { inventory: keylessInventory(6), heartbeatMs: 3_600_000, recoverWaitMs: 20_000 },
      journalWith(session(WALL_START + 5000), { rec: 'sending', id: S }),
    );
    await h.clock.advance(4999);
    await turns();
    expect(h.engine.core.sessions.get(S)!.state).toBe('sending');
    await h.clock.advance(1);
    await settle(() => h.engine.core.sessions.get(S)?.state === 'failed', 'failed');
    expect(h.engine.core.sessions.get(S)).toMatchObject({ error: 'the deadline passed', retry: true });
    await h.clock.advance(1000);
    for (let i = 0; i < 6; i++) h.connect(`h${i}`);
    const retry = await settle(
      () => [...h.engine.core.sessions.values()].find((s) => s.attempt === 2 && s.closed),
      'the retry',
    );
    expect(retry).toMatchObject({ state: 'done', created: WALL_START + 6000, trigger: S });
    expect(h.records().find((r) => r.rec === 'result')?.t).toBe(WALL_START + 5000);
  });
});
