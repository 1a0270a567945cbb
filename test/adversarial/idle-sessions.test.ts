/**
 * Attack: a key holder opens SESSIONs on `smig recv` (role destination) as many as it has slots, sends no
 * data, and keeps every link alive with PINGs, so that no honest leader can deliver. Before, all 8 slots
 * stayed taken for as long as the PINGs came. Now one leader address gets at most half of the slots
 * (--max-sessions-per-address, default ⌈8 / 2⌉) and a session without DATA for --session-idle is dropped
 * however many PINGs arrive. A migration from another address completes during the attack.
 */
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/protocol/index.js';
import { decodeMessage, FrameDecoder, FrameType } from '../../src/protocol/index.js';
import type { Cluster } from './daemons.js';
import { ATTACKER, attackerTls, migrate, sleep, startCluster, until, wire } from './daemons.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({ relays: 2, recvArgs: ['--session-idle', '3s'] });
}, 60_000);

afterAll(async () => {
  const codes = await c.stop();
  const logs = c.all().map((d) => d.stderr);
  expect(codes, logs.join('\n')).toEqual(codes.map(() => 0));
  for (const l of logs) expect(l).not.toMatch(/internal-error/);
}, 60_000);

/** An attacker link: what it received, and whether it is closed. */
interface Held {
  s: TLSSocket;
  got: Message[];
  closedAt: number | null;
}

function hold(s: TLSSocket, t0: number): Held {
  const h: Held = { s, got: [], closedAt: null };
  const dec = new FrameDecoder({ onFrame: (type, body) => h.got.push(decodeMessage(type, body)) });
  s.on('data', (d: Buffer) => dec.push(new Uint8Array(d)));
  s.once('close', () => (h.closedAt = Date.now() - t0));
  return h;
}

describe("idle sessions holding recv's slots", () => {
  it('one address gets half the slots, idle sessions are dropped despite PINGs, a migration completes', async () => {
    const t0 = Date.now();
    const socks = await Promise.all(Array.from({ length: 8 }, () => attackerTls(c.recv.hostPort, c.key, ATTACKER)));
    const held = socks.map((s) => hold(s, t0));
    socks.forEach((s, i) =>
      s.write(
        wire({
          type: FrameType.SESSION,
          sessionId: new Uint8Array(16).fill(0x40 + i),
          role: 'destination',
          name: `idle-${i}`,
          length: null,
        }),
      ),
    );
    const pinger = setInterval(() => {
      for (const h of held) if (h.closedAt === null) h.s.write(wire({ type: FrameType.PING, seq: 1 }));
    }, 500);
    try {
      // 4 refused at once with ERROR "busy", 4 held
      await until(() => held.filter((h) => h.closedAt !== null).length >= 4, 5_000, 'four sessions refused');
      const refused = held.filter((h) => h.closedAt !== null);
      expect(refused.length).toBe(4);
      for (const h of refused) {
        expect(h.got.find((m) => m.type === FrameType.ERROR)).toMatchObject({
          message: 'busy: already receiving 4 sessions from 127.0.0.2',
        });
      }
      // a migration from 127.0.0.1 now, while the 4 others are held
      const m = await migrate(c, 'during-idle.bin');
      expect([m.status, m.identical], m.stderr).toEqual([0, true]);
      // the held ones go after 3 s without DATA, PINGs notwithstanding
      await until(() => held.every((h) => h.closedAt !== null), 10_000, 'idle sessions dropped');
      const dropped = held.filter((h) => !refused.includes(h));
      for (const h of dropped) {
        expect(h.got.find((m) => m.type === FrameType.ERROR)).toMatchObject({
          message: 'destination: no data for 3000 ms; the session is dropped',
        });
        expect(h.closedAt!).toBeGreaterThanOrEqual(2_900);
        expect(h.got.filter((m) => m.type === FrameType.PONG).length).toBeGreaterThan(0); // they were alive
      }
      console.log(
        `[idle-sessions] refused ${refused.map((h) => h.closedAt).join(', ')} ms; dropped idle after ${dropped.map((h) => h.closedAt).join(', ')} ms`,
      );
      await sleep(100);
      expect(c.recv.stderr).toMatch(
        / receive-failed session=(4[0-7]){8} bytes=0 reason="destination: no data for 3000 ms; the session is dropped"/,
      );
    } finally {
      clearInterval(pinger);
      for (const s of socks) s.destroy();
    }
  }, 60_000);
});
