/**
 * The controller's agent (ControlAgent) on a FakeClock, connected to the controller's engine by an in-memory
 * link instead of a TLS channel: its heartbeats, a reservation's time to live and the reconnection backoff,
 * each at the exact time the clock says. No socket is opened and no real timer decides anything.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ControllerLink } from '../../src/control/agent.js';
import { ControlAgent } from '../../src/control/agent.js';
import { newChallenge } from '../../src/control/auth.js';
import type { AgentLink } from '../../src/control/core.js';
import { instruct } from '../../src/control/core.js';
import type { AgentStatus } from '../../src/control/wire.js';
import type { FakeClock } from '../../src/pacing/clock.js';
import type { Message } from '../../src/protocol/index.js';
import { FrameType } from '../../src/protocol/index.js';
import type { Harness } from '../helpers/control-core.js';
import { EventLog, keylessInventory, openHarness, removeTemp, settle, turns } from '../helpers/control-core.js';

const key = new Uint8Array(randomBytes(32));
const running: { h: Harness; agents: ControlAgent[] }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    for (const a of r.agents) await a.close();
    await r.h.close();
  }
});
afterAll(removeTemp);

/**
 * An in-memory connection between an agent and the engine: what each side posts reaches the other a
 * microtask later, as a frame would. The engine's side sends the challenge first, as controller.ts does.
 */
function pair(
  h: Harness,
  name: string,
): { agentSide: ControllerLink; engineSide: AgentLink & { seen: AgentStatus[] } } {
  let toAgent: (m: Message) => void = () => {};
  let closed = false;
  let end!: (e: { error?: Error }) => void;
  const ended = new Promise<{ error?: Error }>((r) => (end = r));
  const seen: AgentStatus[] = [];
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    conn.ended('closed');
    end({});
  };
  // a handler that throws fails the link, as on a real one
  const deliver = (f: () => void): void =>
    queueMicrotask(() => {
      if (closed) return;
      try {
        f();
      } catch {
        void close();
      }
    });
  const engineSide: AgentLink & { seen: AgentStatus[] } = {
    remote: `memory:${name}`,
    seen,
    post: (m) => deliver(() => toAgent(m)),
    close,
  };
  const conn = h.engine.agent(engineSide, { challenge: 'c', binding: new Uint8Array(32) });
  const agentSide: ControllerLink = {
    remote: 'memory:controller',
    binding: new Uint8Array(32),
    start: (onMessage) => {
      toAgent = onMessage;
      engineSide.post({ type: FrameType.INSTRUCT, payload: { type: 'challenge', nonce: newChallenge() } });
    },
    post: (m) => {
      if (m.type !== FrameType.STATUS) return;
      deliver(() => {
        seen.push(m.payload as unknown as AgentStatus);
        conn.status(m.payload);
      });
    },
    close,
    ended,
  };
  return { agentSide, engineSide };
}

async function setup(heartbeatMs: number): Promise<{ h: Harness; clock: FakeClock }> {
  const h = await openHarness({ inventory: keylessInventory(3), heartbeatMs });
  running.push({ h, agents: [] });
  return { h, clock: h.clock };
}

function startAgent(
  h: Harness,
  name: string,
  dial: ControllerLink | ((signal: AbortSignal) => Promise<ControllerLink>),
): ControlAgent {
  const a = ControlAgent.start({
    clusterKey: key,
    controller: { host: '127.0.0.1', port: 1 },
    listen: { host: '127.0.0.1', port: 20000 + Number(name.slice(1)) },
    name,
    clock: h.clock,
    log: new EventLog(),
    dial: typeof dial === 'function' ? dial : async () => dial,
  });
  running.at(-1)!.agents.push(a);
  return a;
}

describe('ControlAgent on a fake clock, linked in memory', () => {
  it('registers and sends a heartbeat every interval the controller gave it; the engine never sees it silent', async () => {
    const { h, clock } = await setup(1000);
    const p = pair(h, 'h1');
    const a = startAgent(h, 'h1', p.agentSide);
    await settle(() => a.host === 'h1', 'registered');
    const h1 = h.engine.hosts.get('h1')!;
    expect(h1.lastSeen).toBe(0);
    await clock.advance(3500);
    expect(p.engineSide.seen.map((m) => m.type)).toEqual(['register', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(h1.lastSeen).toBe(3000);
    await clock.advance(20_000);
    expect(h.engine.hosts.condition(h1, clock.now())).toBe('available');
    expect(p.engineSide.seen.filter((m) => m.type === 'heartbeat')).toHaveLength(23);
  });

  it('a relay reservation never used is released at exactly its time to live', async () => {
    const { h, clock } = await setup(3_600_000);
    const p = pair(h, 'h1');
    const a = startAgent(h, 'h1', p.agentSide);
    await settle(() => a.host === 'h1', 'registered');
    const S = 'b2'.repeat(16);
    instruct(p.engineSide, { type: 'relay', session: S, ttlMs: 5000 });
    await settle(() => p.engineSide.seen.some((m) => m.type === 'ack'), 'ack');
    expect(a.active).toEqual([S]);
    await clock.advance(4999);
    await turns();
    expect(a.active).toEqual([S]);
    await clock.advance(1);
    await settle(() => p.engineSide.seen.some((m) => m.type === 'released'), 'released');
    expect(a.active).toEqual([]);
    expect(p.engineSide.seen.map((m) => m.type)).toEqual(['register', 'ack', 'released']);
  });

  it('reconnects with a doubling backoff up to reconnectMaxMs while the controller is unreachable', async () => {
    const { h, clock } = await setup(3_600_000);
    const dials: number[] = [];
    const a = startAgent(h, 'h1', async () => {
      dials.push(clock.now());
      if (dials.length < 8) throw new Error('connection refused');
      return pair(h, 'h1').agentSide;
    });
    await settle(() => clock.pending === 1, 'the first backoff');
    await clock.advance(10_000);
    // 100, 200, 400, 800, 1600, then the 2000 ms cap
    expect(dials).toEqual([0, 100, 300, 700, 1500, 3100, 5100, 7100]);
    await settle(() => a.host === 'h1', 'registered on the 8th dial');
  });
});
