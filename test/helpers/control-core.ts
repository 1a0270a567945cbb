/**
 * A harness for the controller's logic without sockets or real time: a {@link ControlEngine} on a FakeClock,
 * its journal in a temporary directory, and in-memory agent links that record every instruction and answer
 * as a scripted agent would. Nothing here decides on real time: {@link settle} only lets pending I/O (the
 * journal's writes) complete while the fake clock stands still.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentLink, ControllerOptions } from '../../src/control/core.js';
import type { AgentConnection } from '../../src/control/engine.js';
import { ControlEngine } from '../../src/control/engine.js';
import type { Inventory } from '../../src/control/inventory.js';
import { parseInventory } from '../../src/control/inventory.js';
import type { SessionOutcome } from '../../src/control/journal.js';
import type { AgentInstruct, AgentReport, AgentStatus } from '../../src/control/wire.js';
import { parseAgentInstruct } from '../../src/control/wire.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { JsonObject, Message } from '../../src/protocol/index.js';
import { FrameType } from '../../src/protocol/index.js';
import type { LogFields, Logger } from '../../src/util/log.js';

export const WALL_START: number = Date.UTC(2026, 0, 1);

export const OUTCOME: SessionOutcome = {
  bytes: 42,
  sha256: 'ef'.repeat(32),
  seconds: 0.25,
  lostRelays: [],
  resentChunks: 0,
  exitStatus: null,
};

/** `n` hosts h0…h{n−1} without keys (the engine runs with insecureNoIdentities), IPs 10.1.0.{i+1}. */
export function keylessInventory(n: number): Inventory {
  return parseInventory(
    JSON.stringify({
      hosts: Array.from({ length: n }, (_, i) => ({
        name: `h${i}`,
        address: `127.0.0.1:${20000 + i}`,
        ids: [`10.1.0.${i + 1}`],
      })),
    }),
    'test',
  );
}

/** A logger that keeps every event. */
export class EventLog implements Logger {
  readonly events: { name: string; fields: LogFields }[] = [];
  event(name: string, fields: LogFields = {}): void {
    this.events.push({ name, fields });
  }
  with(): Logger {
    return this;
  }
  named(name: string): LogFields[] {
    return this.events.filter((e) => e.name === name).map((e) => e.fields);
  }
}

/** How a scripted agent answers. */
export interface AgentScript {
  /** Answer `send` with a result (default ok), or only ack it (`'silent'`). */
  send?: 'ok' | 'fail' | 'silent';
  /** Answer `relay`/`receive` with nack. */
  nack?: boolean;
  /** Do not answer instructions at all. */
  mute?: boolean;
  out?: boolean;
  sessions?: AgentReport[];
}

/** An agent on an in-memory link: what the engine posts is recorded; answers go back as STATUS payloads. */
export class MemoryAgent implements AgentLink {
  readonly remote: string;
  readonly instructs: AgentInstruct[] = [];
  closed = false;
  conn!: AgentConnection;
  constructor(
    readonly name: string,
    readonly script: AgentScript = {},
  ) {
    this.remote = `memory:${name}`;
  }

  post(m: Message): void {
    if (m.type !== FrameType.INSTRUCT) return;
    const i = parseAgentInstruct(m.payload);
    this.instructs.push(i);
    // answer after the engine's current step, as a real agent's frame would arrive later
    queueMicrotask(() => this.#answer(i));
  }

  close(): void {
    this.closed = true;
  }

  say(m: AgentStatus): void {
    this.conn.status(m as unknown as JsonObject);
  }

  /** Instructions of one type. */
  of<T extends AgentInstruct['type']>(type: T): Extract<AgentInstruct, { type: T }>[] {
    return this.instructs.filter((m): m is Extract<AgentInstruct, { type: T }> => m.type === type);
  }

  #answer(m: AgentInstruct): void {
    if (this.script.mute || this.closed) return;
    switch (m.type) {
      case 'relay':
      case 'receive':
        if (this.script.nack) this.say({ type: 'nack', session: m.session, error: 'disk full' });
        else if (m.type === 'receive') this.say({ type: 'ack', session: m.session, port: 40000 });
        else this.say({ type: 'ack', session: m.session });
        return;
      case 'send':
        this.say({ type: 'ack', session: m.session });
        if (this.script.send === 'silent') return;
        this.say(
          this.script.send === 'fail'
            ? { type: 'result', session: m.session, ok: false, error: 'leader lost' }
            : { type: 'result', session: m.session, ok: true, outcome: OUTCOME },
        );
        this.say({ type: 'released', session: m.session });
        return;
      case 'abort':
        this.say({ type: 'released', session: m.session });
        return;
      default:
        return;
    }
  }
}

/** An engine on a fake clock, and its agents. */
export class Harness {
  readonly agents: Map<string, MemoryAgent> = new Map();
  constructor(
    readonly engine: ControlEngine,
    readonly clock: FakeClock,
    readonly log: EventLog,
    readonly journal: string,
  ) {}

  /** Connects an agent on an in-memory link and registers it (by name, unsigned). */
  connect(name: string, script: AgentScript = {}): MemoryAgent {
    const a = new MemoryAgent(name, script);
    a.conn = this.engine.agent(a, { challenge: 'c', binding: new Uint8Array(32) });
    this.agents.set(name, a);
    a.say({
      type: 'register',
      v: 1,
      name,
      listen: `127.0.0.1:${20000 + Number(name.slice(1))}`,
      out: script.out ?? true,
      sources: ['vm'],
      sessions: script.sessions ?? [],
    });
    return a;
  }

  /** Every connected agent but `except` sends a heartbeat. */
  heartbeat(...except: string[]): void {
    for (const a of this.agents.values())
      if (!except.includes(a.name) && !a.closed) a.say({ type: 'heartbeat', active: [] });
  }

  /** The agent's link ends. */
  disconnect(name: string): void {
    const a = this.agents.get(name)!;
    a.closed = true;
    a.conn.ended('disconnected');
  }

  /** The journal's records. */
  records(): JsonObject[] {
    return readJournal(this.journal);
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

let journals = 0;
const dir = mkdtempSync(join(tmpdir(), 'smig-core-'));

/** A fresh path in the harness's temporary directory. */
export function tempPath(name: string): string {
  return join(dir, `${journals++}-${name}`);
}

/** Removes the harness's temporary directory (afterAll). */
export function removeTemp(): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A journal file holding `recs` (each stamped t: 1), for restart tests. */
export function journalWith(...recs: object[]): string {
  const path = join(dir, `r${journals++}.journal`);
  writeFileSync(path, `${recs.map((r) => JSON.stringify({ t: 1, ...r })).join('\n')}\n`);
  return path;
}

/** Opens and starts an engine on a FakeClock at 0 (wall clock {@link WALL_START}). */
export async function openHarness(
  o: Partial<ControllerOptions> & { inventory: Inventory },
  journal = join(dir, `j${journals++}.journal`),
): Promise<Harness> {
  const clock = new FakeClock({ wallStart: WALL_START });
  const log = new EventLog();
  const engine = await ControlEngine.open({
    clusterKey: new Uint8Array(randomBytes(32)),
    insecureNoIdentities: true,
    listen: { host: '127.0.0.1', port: 0 },
    journal,
    counts: { dataRelays: 2, keyRelays: 2, threshold: 1 },
    log,
    clock,
    ...o,
  });
  engine.start();
  return new Harness(engine, clock, log, journal);
}

/**
 * Lets pending work finish (journal writes and syncs, a hook's exit, the continuations they resume) until `f`
 * returns a value; the fake clock does not move, so no decision of the code under test depends on how long
 * that takes. The first turns catch what is already queued; after them it polls gently. Real time only bounds a
 * failure: `what` never happening within `capMs` fails the test.
 */
export async function settle<T>(f: () => T | undefined | false, what: string, capMs = 30_000): Promise<T> {
  const end = Date.now() + capMs;
  for (let i = 0; ; i++) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => (i < 1000 ? setImmediate(r) : setTimeout(r, 1)));
  }
}

/** A few event-loop turns: what can happen without the clock moving (beyond I/O) has happened. */
export async function turns(n = 200): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

function readJournal(path: string): JsonObject[] {
  // every append the engine has awaited is in the file (it syncs before resolving)
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonObject);
}
