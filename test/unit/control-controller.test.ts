/**
 * The controller daemon over real TLS-PSK channels on 127.0.0.1, with scripted agents that speak the control
 * messages (so every answer, failure and restart can be staged exactly): registration, a full session, a
 * refusal and its retry, operator errors, status pages, and every way a restart resolves a journaled session.
 * The controller runs on a FakeClock that nobody moves: no heartbeat goes stale and no wait times out because
 * the machine is slow. What depends on time (silence, host wait, deadline, grace) is tested on the clock in
 * control-core.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { channelBinding, signBody } from '../../src/control/auth.js';
import type { ClientOptions } from '../../src/control/client.js';
import { fetchStatus, migrate, reinstate } from '../../src/control/client.js';
import type { ControllerOptions } from '../../src/control/controller.js';
import { Controller } from '../../src/control/controller.js';
import { parseHookSpec } from '../../src/control/hooks.js';
import type { Inventory } from '../../src/control/inventory.js';
import { parseInventory } from '../../src/control/inventory.js';
import type { SessionOutcome } from '../../src/control/journal.js';
import type { AgentInstruct, AgentReport, AgentStatus } from '../../src/control/wire.js';
import { parseAgentInstruct } from '../../src/control/wire.js';
import type { Identity } from '../../src/crypto/identity.js';
import { encodePublicKey, generateIdentity } from '../../src/crypto/identity.js';
import { connectChannel } from '../../src/net/index.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { JsonObject } from '../../src/protocol/index.js';
import { FrameType } from '../../src/protocol/index.js';
import { Link } from '../../src/roles/link.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-ctl-'));
const key = new Uint8Array(randomBytes(32));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const outcome: SessionOutcome = {
  bytes: 42,
  sha256: 'ef'.repeat(32),
  seconds: 0.25,
  lostRelays: [],
  resentChunks: 0,
  exitStatus: null,
};

/** Host identities by index (made once), and the operator's. */
const identities = new Map<number, Identity>();
function idOf(i: number): Identity {
  if (!identities.has(i)) identities.set(i, generateIdentity());
  return identities.get(i)!;
}
const operator = generateIdentity();

function inventory(n: number): Inventory {
  return parseInventory(
    JSON.stringify({
      hosts: Array.from({ length: n }, (_, i) => ({
        name: `h${i}`,
        address: `127.0.0.1:${20000 + i}`,
        ids: [`10.1.0.${i + 1}`],
        key: encodePublicKey(idOf(i).public),
      })),
    }),
    'test',
  );
}

/** How a scripted agent answers. */
interface Script {
  /** Answer `send` with a result at once (default ok), or not at all (`'silent'`). */
  send?: 'ok' | 'fail' | 'silent';
  /** Answer `relay`/`receive` with nack. */
  nack?: boolean;
  out?: boolean;
  sessions?: AgentReport[];
  /** Send no heartbeats. */
  mute?: boolean;
  /** Register without a name (matched by address). */
  anonymous?: boolean;
  /** Sign with this identity instead of the host's own; null: do not sign. */
  identity?: Identity | null;
}

/** An agent that speaks the control messages, scripted. */
class FakeAgent {
  readonly instructs: AgentInstruct[] = [];
  link!: Link;
  registered!: Promise<void>;
  constructor(
    readonly name: string,
    readonly script: Script = {},
  ) {}

  static async connect(c: Controller, name: string, script: Script = {}): Promise<FakeAgent> {
    const a = new FakeAgent(name, script);
    const conn = await connectChannel(c.address, { key });
    a.link = new Link(conn, 'control', 'controller');
    let registered!: () => void;
    a.registered = new Promise((r) => (registered = r));
    const port = 20000 + Number(name.slice(1));
    a.link.start((msg) => {
      if (msg.type !== FrameType.INSTRUCT) return;
      const m = parseAgentInstruct(msg.payload);
      if (m.type === 'challenge') {
        const body: Record<string, unknown> = {
          type: 'register',
          v: 1,
          name: script.anonymous ? null : name,
          listen: `127.0.0.1:${port}`,
          out: script.out ?? true,
          sources: ['vm'],
          sessions: script.sessions ?? [],
        };
        const id = script.identity === undefined ? idOf(Number(name.slice(1))) : script.identity;
        if (id !== null) body.sig = signBody(id, 'register', m.nonce, channelBinding(conn), body);
        a.post(body as unknown as AgentStatus);
        return;
      }
      a.instructs.push(m);
      if (m.type === 'refused') registered();
      if (m.type === 'registered') {
        registered();
        if (!script.mute) {
          const beat = setInterval(() => a.post({ type: 'heartbeat', active: [] }), m.heartbeatMs);
          void a.link.ended.then(() => clearInterval(beat));
        }
      } else a.#answer(m);
    });
    return a;
  }

  post(m: AgentStatus): void {
    this.link.post({ type: FrameType.STATUS, payload: m as unknown as JsonObject });
  }

  #answer(m: AgentInstruct): void {
    switch (m.type) {
      case 'relay':
      case 'receive':
        if (this.script.nack) this.post({ type: 'nack', session: m.session, error: 'disk full' });
        else
          this.post(
            m.type === 'receive'
              ? { type: 'ack', session: m.session, port: 40000 }
              : { type: 'ack', session: m.session },
          );
        return;
      case 'send':
        this.post({ type: 'ack', session: m.session });
        if (this.script.send === 'silent') return;
        this.post(
          this.script.send === 'fail'
            ? {
                type: 'result',
                session: m.session,
                ok: false,
                error: 'leader 127.0.0.1:20003: connection lost before DONE',
              }
            : { type: 'result', session: m.session, ok: true, outcome },
        );
        this.post({ type: 'released', session: m.session });
        return;
      case 'abort':
        this.post({ type: 'released', session: m.session });
        return;
    }
  }

  /** Releases every session it was given (relays do once their links close). */
  releaseAll(): void {
    for (const m of this.instructs)
      if (m.type === 'relay' || m.type === 'receive') this.post({ type: 'released', session: m.session });
  }
}

const running: Controller[] = [];
const agents: FakeAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.link.close();
  for (const c of running.splice(0)) await c.close();
});

let journals = 0;
async function start(
  o: Partial<ControllerOptions> & { inventory: Inventory },
  journal = join(dir, `j${journals++}.journal`),
): Promise<{ c: Controller; client: ClientOptions; journal: string }> {
  const c = await Controller.start({
    clusterKey: key,
    listen: { host: '127.0.0.1', port: 0 },
    journal,
    heartbeatMs: 200,
    hostWaitMs: 300,
    prepareTimeoutMs: 2000,
    recoverWaitMs: 2000,
    counts: { dataRelays: 2, keyRelays: 2, threshold: 1 },
    operatorKeys: [operator.public],
    clock: new FakeClock({ wallStart: Date.now() }),
    ...o,
  });
  running.push(c);
  return { c, client: { clusterKey: key, identity: operator, controller: c.address }, journal };
}

async function connectAll(c: Controller, n: number, scripts: Record<string, Script> = {}): Promise<FakeAgent[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => FakeAgent.connect(c, `h${i}`, scripts[`h${i}`])));
  agents.push(...list);
  await Promise.all(list.map((a) => a.registered));
  return list;
}

function hookFile(): { path: string; hooks: ReturnType<typeof parseHookSpec>[]; lines: () => string[] } {
  const path = join(dir, `hooks-${journals}-${Math.random().toString(16).slice(2)}.log`);
  const cmd = (e: string): string =>
    `${e}=echo "$SMIG_EVENT $SMIG_SESSION $SMIG_ATTEMPT $SMIG_SOURCE_HOST \${SMIG_HOOK_RETRY:-0} $SMIG_RETRY" >> ${path}`;
  return {
    path,
    hooks: ['make-honeypot', 'disconnect', 'connect', 'notify-ids', 'failed'].map((e) => parseHookSpec(cmd(e))),
    lines: () =>
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [],
  };
}

describe('Controller', () => {
  it('registers agents by name or by address, and refuses unknown names and wrong ports', async () => {
    const { c, client } = await start({ inventory: inventory(3) });
    const [a0] = await connectAll(c, 1);
    expect(a0!.instructs[0]).toEqual({ type: 'registered', host: 'h0', heartbeatMs: 200 });
    const anon = await FakeAgent.connect(c, 'h2', { anonymous: true });
    agents.push(anon);
    await anon.registered;
    expect(anon.instructs[0]).toEqual({ type: 'registered', host: 'h2', heartbeatMs: 200 });
    const conn = await connectChannel(c.address, { key });
    const bad = new Link(conn, 'control', 'x');
    const got: AgentInstruct[] = [];
    bad.start((msg) => void (msg.type === FrameType.INSTRUCT && got.push(parseAgentInstruct(msg.payload))));
    bad.post({
      type: FrameType.STATUS,
      payload: { type: 'register', v: 1, name: 'h1', listen: '127.0.0.1:9', out: true, sources: [], sessions: [] },
    });
    await bad.ended;
    expect(got.map((m) => m.type)).toEqual(['challenge', 'refused']);
    expect(got[1]).toEqual({
      type: 'refused',
      error: 'h1 relays on 127.0.0.1:9, but the inventory says 127.0.0.1:20001 (fix --listen or the inventory)',
    });
    const s = await fetchStatus(client);
    expect(s.hosts.map((h) => [h.name, h.state, h.sources])).toEqual([
      ['h0', 'available', ['vm']],
      ['h1', 'offline', []],
      ['h2', 'available', ['vm']],
    ]);
  });

  it("binds each agent to its inventory key: another host's key, no signature, or a replayed one is refused with one line", async () => {
    const { c, client } = await start({ inventory: inventory(3) });
    await connectAll(c, 1); // h0, genuine
    const refusals: string[] = [];
    for (const [script, reason] of [
      [
        { identity: idOf(0) },
        /^h1: registration refused: the signature does not verify against h1's inventory key \(SHA256:[A-Za-z0-9+/]{43}\)$/,
      ],
      [
        { identity: generateIdentity() },
        /^h1: registration refused: the signature does not verify against h1's inventory key/,
      ],
      [
        { identity: null },
        /^h1: registration refused: not signed \(h1's inventory key is required: start it with --identity FILE\)$/,
      ],
      [{ identity: idOf(0), anonymous: true }, /^h1: registration refused: the signature does not verify/],
    ] as const) {
      const a = await FakeAgent.connect(c, 'h1', script);
      agents.push(a);
      await a.registered;
      const last = a.instructs.at(-1)!;
      expect(last.type).toBe('refused');
      refusals.push((last as { error: string }).error);
      expect((last as { error: string }).error).toMatch(reason);
    }
    // a replay: a valid signature of h1 made for another connection's challenge and channel
    const first = await connectChannel(c.address, { key });
    const firstLink = new Link(first, 'control', 'x');
    const firstNonce = await new Promise<string>((resolve) =>
      firstLink.start((msg) => {
        if (msg.type === FrameType.INSTRUCT && msg.payload.type === 'challenge') resolve(String(msg.payload.nonce));
      }),
    );
    const body: Record<string, unknown> = {
      type: 'register',
      v: 1,
      name: 'h1',
      listen: '127.0.0.1:20001',
      out: true,
      sources: ['vm'],
      sessions: [],
    };
    body.sig = signBody(idOf(1), 'register', firstNonce, channelBinding(first), body);
    await firstLink.close();
    const second = await connectChannel(c.address, { key });
    const replay = new Link(second, 'control', 'y');
    const got: AgentInstruct[] = [];
    replay.start((msg) => void (msg.type === FrameType.INSTRUCT && got.push(parseAgentInstruct(msg.payload))));
    replay.post({ type: FrameType.STATUS, payload: body as JsonObject });
    await replay.ended;
    expect(got.at(-1)).toMatchObject({
      type: 'refused',
      error: expect.stringMatching(/^h1: registration refused: the signature does not verify/),
    });
    // h1 was never registered; the genuine h1 still can
    expect((await fetchStatus(client)).hosts[1]!.state).toBe('offline');
    const h1 = await FakeAgent.connect(c, 'h1');
    agents.push(h1);
    await h1.registered;
    expect(h1.instructs.at(-1)).toEqual({ type: 'registered', host: 'h1', heartbeatMs: 200 });
  });

  it('operator requests need the operator key: unsigned, or signed by another key, are refused with one line', async () => {
    const { c, client } = await start({ inventory: inventory(3) });
    await connectAll(c, 1);
    await expect(fetchStatus({ ...client, identity: undefined })).rejects.toMatchObject({
      code: 'SMIG_ERR_AUTH',
      message:
        "operator request 'status' refused: not signed (an --operator-key of the controller is required: start it with --identity FILE)",
    });
    await expect(
      migrate({ ...client, identity: idOf(0) }, { host: 'h0', source: null, dryRun: true }),
    ).rejects.toMatchObject({
      code: 'SMIG_ERR_AUTH',
      message: expect.stringMatching(
        /^operator request 'migrate' refused: the signature does not verify against an --operator-key of the controller \(SHA256:/,
      ),
    });
    await expect(reinstate({ ...client, identity: generateIdentity() }, 'h0')).rejects.toMatchObject({
      code: 'SMIG_ERR_AUTH',
    });
    expect((await fetchStatus(client)).hosts[0]!.state).toBe('available'); // the operator's own key works
  });

  it('refuses to start when a host or the operator has no key, unless insecureNoIdentities', async () => {
    const keyless = parseInventory(
      '{"hosts":[{"name":"h0","address":"127.0.0.1:20000"},{"name":"h1","address":"127.0.0.1:20001"}]}',
      'x',
    );
    await expect(start({ inventory: keyless })).rejects.toMatchObject({
      code: 'SMIG_ERR_CONFIG',
      message:
        'inventory: no key for h0, h1 (give each host its public identity: key: FILE.pub; or run with --insecure-no-identities)',
    });
    await expect(start({ inventory: inventory(2), operatorKeys: [] })).rejects.toMatchObject({
      code: 'SMIG_ERR_USAGE',
      message: expect.stringMatching(/^--operator-key FILE.pub is required/),
    });
    const { c, client } = await start({ inventory: keyless, operatorKeys: [], insecureNoIdentities: true });
    const a = await FakeAgent.connect(c, 'h0', { identity: null });
    agents.push(a);
    await a.registered;
    expect(a.instructs.at(-1)).toEqual({ type: 'registered', host: 'h0', heartbeatMs: 200 });
    expect((await fetchStatus({ ...client, identity: undefined })).hosts[0]!.state).toBe('available');
  });

  it('runs a session: instructions in order, DONE ok, hooks in order, source a honeypot until reinstated', async () => {
    const hf = hookFile();
    const { c, client } = await start({ inventory: inventory(6), hooks: hf.hooks });
    const list = await connectAll(c, 6);
    const r = await migrate(client, { host: 'h0', source: null });
    expect(r).toMatchObject({ type: 'finished', ok: true, outcome });
    const id = String(r.session);
    const sent = list[0]!.instructs.find((m) => m.type === 'send')!;
    expect(sent).toMatchObject({ type: 'send', session: id, source: 'vm', threshold: 1, plan: null });
    if (sent.type !== 'send') throw new Error('unreachable');
    expect(sent.destination).toMatch(/^127\.0\.0\.1:40000$/);
    expect([...sent.dataRelays, ...sent.keyRelays]).toHaveLength(4);
    expect(sent.dataRelays).toContain(sent.leader);
    // every other host got relay or receive before the source got send
    const others = list.slice(1).filter((a) => a.instructs.some((m) => 'session' in m && m.session === id));
    expect(others).toHaveLength(5);
    expect(others.filter((a) => a.instructs.some((m) => m.type === 'receive')).length).toBe(1);
    expect(hf.lines()).toEqual(
      ['make-honeypot', 'disconnect', 'connect', 'notify-ids'].map((e) => `${e} ${id} 1 h0 0 `),
    );
    for (const a of others) a.releaseAll();
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.hosts.filter((h) => h.name !== 'h0').every((h) => h.state === 'available') ? st : undefined;
    });
    expect(s.hosts[0]!.state).toBe('honeypot');
    await expect(migrate(client, { host: 'h0', source: null })).rejects.toThrow(
      'h0 is a honeypot since its last migration (smig control reinstate h0 returns it to service)',
    );
    expect(await reinstate(client, 'h0')).toEqual({ type: 'reinstated', host: 'h0', was: 'honeypot' });
    expect((await fetchStatus(client)).hosts[0]!.state).toBe('available');
  });

  it('a refused instruction fails the session; the retry takes fresh hosts; the failed hook runs once', async () => {
    const hf = hookFile();
    const { c, client } = await start({ inventory: inventory(7), hooks: hf.hooks });
    // h1 refuses everything: the first attempt fails if it picked h1; force that by making h1 the only receiver
    const list = await connectAll(c, 7, {
      h1: { nack: true },
      h2: { out: false },
      h3: { out: false },
      h4: { out: false },
      h5: { out: false },
      h6: { out: false },
    });
    const updates: JsonObject[] = [];
    const p = migrate(client, { host: 'h0', source: null, onUpdate: (m) => updates.push(m) });
    await until(async () => (updates.some((m) => m.state === 'failed') ? true : undefined));
    // the second attempt needs another receiver: h2 turns one on (re-registers with --out)
    await list[2]!.link.close();
    const h2 = await FakeAgent.connect(c, 'h2', { out: true });
    agents.push(h2);
    for (const a of list) a.releaseAll();
    const r = await p;
    expect(r).toMatchObject({ type: 'finished', ok: true });
    const failed = updates.find((m) => m.state === 'failed')!;
    expect(failed).toMatchObject({ attempt: 1, error: 'h1: disk full' });
    const planned = updates
      .filter((m) => m.state === 'planned')
      .map((m) => (m.plan as { destination: string }).destination);
    expect(planned).toEqual(['h1', 'h2']);
    expect(hf.lines().filter((l) => l.startsWith('failed'))).toEqual([`failed ${String(failed.session)} 1 h0 0 1`]);
    expect(
      hf
        .lines()
        .filter((l) => !l.startsWith('failed'))
        .map((l) => l.split(' ')[2]),
    ).toEqual(['2', '2', '2', '2']);
  });

  it('refuses bad manual triggers with one line', async () => {
    // an inventory without keys: only with insecureNoIdentities (agents then register unsigned, loudly logged)
    const { c, client } = await start({
      insecureNoIdentities: true,
      inventory: parseInventory(
        '{"hosts":[{"name":"h0","address":"127.0.0.1:20000"},{"name":"h1","address":"127.0.0.1:20001","roles":["relay"]},{"name":"h2","address":"127.0.0.1:20002"}]}',
        'x',
      ),
    });
    await connectAll(c, 1);
    await expect(migrate(client, { host: 'h9', source: null })).rejects.toThrow("no host 'h9' in the inventory");
    await expect(migrate(client, { host: 'h1', source: null })).rejects.toThrow(
      'h1: its inventory roles do not include source',
    );
    await expect(migrate(client, { host: 'h2', source: null })).rejects.toThrow("h2's agent is not connected");
    await expect(migrate(client, { host: 'h0', source: 'disk' })).rejects.toThrow(
      "h0's agent has no source 'disk' (it has: vm)",
    );
    await expect(migrate(client, { host: 'h0', source: null, dryRun: true })).rejects.toMatchObject({
      message: expect.stringMatching(/^cannot migrate h0: 0 other hosts available/),
    });
  });

  it('sends the status in pages when there are many hosts', async () => {
    const { client } = await start({ inventory: inventory(250) });
    const s = await fetchStatus(client);
    expect(s.hosts).toHaveLength(250);
    expect(s.hosts.at(-1)!.name).toBe('h249');
  });
});

describe('Controller restart', () => {
  const plan = { destination: 'h1', dataRelays: ['h2', 'h3'], keyRelays: ['h4', 'h5'], leader: 'h3', threshold: 1 };
  const S = 'a1'.repeat(16);
  const journalWith = (...recs: object[]): string => {
    const path = join(dir, `r${journals++}.journal`);
    writeFileSync(path, recs.map((r) => JSON.stringify({ t: 1, ...r })).join('\n') + '\n');
    return path;
  };
  const session = {
    rec: 'session',
    id: S,
    trigger: S,
    attempt: 1,
    source: { host: 'h0', name: 'vm' },
    reason: { kind: 'manual' },
    plan,
    deadline: Date.now() + 60_000,
  };

  it('a session planned but never sent fails and is retried once the source is back', async () => {
    const hf = hookFile();
    const { c, client } = await start({ inventory: inventory(6), hooks: hf.hooks }, journalWith(session));
    await connectAll(c, 6);
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.sessions.length === 2 && st.sessions.every((x) => x.closed) ? st : undefined;
    });
    expect(s.sessions.map((x) => [x.attempt, x.state])).toEqual([
      [2, 'done'],
      [1, 'failed'],
    ]);
    expect(s.sessions[1]!.error).toBe('the controller stopped before the source was instructed');
    expect(hf.lines()[0]).toBe(`failed ${S} 1 h0 0 1`);
  });

  it("a session being sent is resolved by the source's report: done while the controller was away → hooks, no new session", async () => {
    const hf = hookFile();
    const { c, client, journal } = await start(
      { inventory: inventory(6), hooks: hf.hooks },
      journalWith(session, { rec: 'sending', id: S }),
    );
    await connectAll(c, 6, { h0: { sessions: [{ session: S, role: 'source', state: 'done', outcome }] } });
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.sessions[0]?.closed ? st : undefined;
    });
    expect(s.sessions).toHaveLength(1);
    expect(s.sessions[0]).toMatchObject({ id: S, state: 'done', outcome });
    expect(hf.lines()).toEqual(
      ['make-honeypot', 'disconnect', 'connect', 'notify-ids'].map((e) => `${e} ${S} 1 h0 0 `),
    );
    expect(agents[0]!.instructs.map((m) => m.type)).toEqual(['registered']); // nothing was sent again
    expect(readFileSync(journal, 'utf8')).toContain('"rec":"honeypot","host":"h0","on":true');
  });

  it('a session being sent that the source does not know fails and is retried', async () => {
    const { c, client } = await start({ inventory: inventory(6) }, journalWith(session, { rec: 'sending', id: S }));
    await connectAll(c, 6);
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.sessions.length === 2 && st.sessions[0]!.closed ? st : undefined;
    });
    expect(s.sessions.map((x) => [x.attempt, x.state])).toEqual([
      [2, 'done'],
      [1, 'failed'],
    ]);
    expect(s.sessions[1]!.error).toBe(
      "h0's agent does not know the session (it restarted, or never got the instruction)",
    );
  });

  it('hooks interrupted by the stop: the finished ones are not run again, the one that was running is, marked SMIG_HOOK_RETRY=1', async () => {
    const hf = hookFile();
    const { c, client } = await start(
      { inventory: inventory(6), hooks: hf.hooks },
      journalWith(
        session,
        { rec: 'sending', id: S },
        { rec: 'result', id: S, ok: true, outcome },
        { rec: 'honeypot', host: 'h0', on: true },
        { rec: 'hook', id: S, event: 'make-honeypot', index: 0, phase: 'start' },
        { rec: 'hook', id: S, event: 'make-honeypot', index: 0, phase: 'end', status: 0, error: null },
        { rec: 'hook', id: S, event: 'disconnect', index: 0, phase: 'start' },
      ),
    );
    void c;
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.sessions[0]?.closed ? st : undefined;
    });
    expect(s.hosts[0]!.state).toBe('honeypot');
    expect(hf.lines()).toEqual([`disconnect ${S} 1 h0 1 `, `connect ${S} 1 h0 0 `, `notify-ids ${S} 1 h0 0 `]);
  });
});

async function until<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
