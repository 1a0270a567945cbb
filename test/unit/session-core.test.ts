/**
 * The session logic of every role (source, data and key relays, leader, destination) in ONE process over the
 * in-process transport and a FakeClock: no sockets, no real timers (test/helpers/session-core.ts). What the
 * socket and process tests check of a session (roles-session, e2e migration-faults, adversarial
 * key-relay-swallows-share and leader-forges-done), here deterministic and fast; the real-process end-to-end
 * tests stay in test/e2e.
 *
 * Oracles: random payloads compared byte for byte with the installed file; SHA-256 from node:crypto over the
 * original bytes; the ciphertext length worked out from the envelope layout (568-byte prefix, 16-byte tag per
 * 64 KiB segment, 56-byte trailer) around the inner stream (src/crypto/inner.ts innerStreamLength); the links
 * counted from the session layout (5 source links, 5 relay → leader links, 1 leader → destination).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SEGMENT_SIZE } from '../../src/crypto/envelope.js';
import { fingerprint } from '../../src/crypto/identity.js';
import { innerStreamLength } from '../../src/crypto/inner.js';
import { RealClock } from '../../src/pacing/clock.js';
import { createPlan } from '../../src/pacing/plan.js';
import { failure } from '../helpers/errors.js';
import type { ForgedReceipt } from '../helpers/session-core.js';
import { at, Cluster, HOSTS, startFakePeer, until } from '../helpers/session-core.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const envelope = (inner: number): number => 568 + inner + 16 * Math.ceil(inner / DEFAULT_SEGMENT_SIZE) + 56;

let c: Cluster;
beforeAll(async () => {
  c = await Cluster.start();
});
afterAll(async () => {
  await c.close();
});

const parts = (): string[] => readdirSync(c.out).filter((f) => f.endsWith('.part'));

describe('a whole session in one process (memory transport, fake clock)', () => {
  it('delivers 3 MB byte-identical with a receipt signed by the destination; 2 data relays, 3 key relays, threshold 2', async () => {
    const data = randomBytes(3_000_000);
    const before = c.net.links.length;
    const r = await c.migrate(data, 'three.bin');
    expect(readFileSync(join(c.out, 'three.bin')).equals(data)).toBe(true);
    expect(r.bytes).toBe(3_000_000);
    expect(r.done).toEqual({
      sha256: sha(data),
      length: 3_000_000,
      exitStatus: null,
      message: 'verified 3000000 bytes (SHA-256) and installed',
    });
    expect(r.receipt).toEqual({ kind: 'signed', fingerprint: fingerprint(c.identity!.public) });
    // sealed to the destination: the envelope carries the inner stream (its signed-less prefix), 64 KiB segments
    expect(r.ciphertextBytes).toBe(envelope(innerStreamLength(3_000_000, DEFAULT_SEGMENT_SIZE)));
    expect(r.hosts).toEqual({
      leader: at(c.leader),
      dataRelays: c.data.map(at),
      keyRelays: c.keys.map(at),
      destination: at(c.dest),
    });
    expect(r.lostRelays).toEqual([]);
    expect(r.resentChunks).toBe(0);
    // fake time passes only at a standstill: a bulk session needs no timer to finish (no keepalive, no timeout)
    expect(r.seconds).toBeLessThan(1);
    // the links of one session: source → 5 relays, 5 relays → leader, leader → destination
    const made = c.net.links.slice(before);
    const pairs = made.map((l) => `${l.clientHost}>${l.serverHost}`).sort();
    expect(pairs).toEqual(
      [
        ...[...HOSTS.data, ...HOSTS.keys].map((h) => `source>${h}`),
        ...[...HOSTS.data, ...HOSTS.keys].map((h) => `${h}>leader`),
        'leader>dest',
      ].sort(),
    );
    // the destination's plaintext crossed only the last hop; every relay link carried at least its share of ciphertext
    const toLeader = made.filter((l) => HOSTS.data.includes(l.clientHost as 'data1') && l.serverHost === 'leader');
    expect(toLeader.reduce((n, l) => n + l.up, 0)).toBeGreaterThan(r.ciphertextBytes);
    expect(c.events('session-done').map((e) => e.component)).toEqual(['leader', 'source']);
    expect(parts()).toEqual([]);
  });

  it('delivers an empty payload and a stream of unknown length; a second file of the same name becomes NAME.1', async () => {
    await c.migrate(new Uint8Array(0), 'empty.bin');
    expect(readFileSync(join(c.out, 'empty.bin')).length).toBe(0);
    const data = randomBytes(700_001);
    const r = await c.migrate(data, 'empty.bin', { length: null, threshold: 3 });
    expect(r.done.sha256).toBe(sha(data));
    expect(readFileSync(join(c.out, 'empty.bin.1')).equals(data)).toBe(true);
  });

  it('a key relay that swallows its share among three, threshold 2: the key is rebuilt from the other two', async () => {
    const data = randomBytes(200_000);
    const fake = await startFakePeer(c, 'swallow1', 'swallow-key', { length: data.length, sha256: new Uint8Array(32) });
    const r = await c.migrate(data, 'two-shares.bin', {
      keyRelays: [fake.address, c.keys[1]!.address, c.keys[2]!.address],
    });
    expect(fake.events).toEqual(['share swallowed']);
    expect(r.done.sha256).toBe(sha(data));
    expect(readFileSync(join(c.out, 'two-shares.bin')).equals(data)).toBe(true);
  });

  for (const receipt of ['none', 'random-signature'] as const) {
    it(`a key relay that swallows the only share and answers DONE (${receipt}): the source fails naming the forged receipt; nothing installed`, async () => {
      const data = randomBytes(200_000);
      const fake = await startFakePeer(c, `swallow-${receipt}`, 'swallow-key', {
        length: data.length,
        sha256: createHash('sha256').update(data).digest(),
        forge: receipt,
        delayMs: 1000,
      });
      const e = await failure(c.migrate(data, `swallowed-${receipt}.bin`, { keyRelays: [fake.address], threshold: 1 }));
      expect(fake.events).toEqual(['share swallowed', 'forged DONE']);
      const why = receipt === 'none' ? 'it carries no receipt' : 'its receipt is not signed by the destination key';
      expect(e.message).toBe(
        `key relay ${at(fake)} sent a DONE with a forged or invalid receipt (${why}): not confirmed`,
      );
      expect(existsSync(join(c.out, `swallowed-${receipt}.bin`))).toBe(false);
      await c.drive(new Promise((r) => setImmediate(r))); // let the leader and destination wind down
      expect(parts()).toEqual([]);
    });
  }
});

describe('the core runs without sockets or real timers', () => {
  it('a plain and a paced session start no event-loop timer from src/ and open no socket', async () => {
    const fromSrc: string[] = [];
    const real = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval };
    const spy =
      <F extends (...a: never[]) => unknown>(name: string, f: F) =>
      (...a: Parameters<F>): ReturnType<F> => {
        const where = (new Error().stack ?? '').split('\n').find((l) => l.includes('/src/'));
        if (where !== undefined) fromSrc.push(`${name}${where}`);
        return f(...a) as ReturnType<F>;
      };
    const connect = vi.spyOn(Socket.prototype, 'connect');
    const listen = vi.spyOn(Server.prototype, 'listen');
    globalThis.setTimeout = spy('setTimeout', real.setTimeout) as typeof setTimeout;
    globalThis.setInterval = spy('setInterval', real.setInterval) as typeof setInterval;
    try {
      await new RealClock().sleep(20); // the spy sees src/ timers: this one must show
      await c.migrate(randomBytes(500_000), 'untimed.bin');
      await c.migrate(randomBytes(50_000), 'untimed-paced.bin', {
        plan: createPlan({ strategy: 'constant', rate: 100_000, seed: 1 }),
      });
    } finally {
      globalThis.setTimeout = real.setTimeout;
      globalThis.setInterval = real.setInterval;
      connect.mockRestore();
      listen.mockRestore();
    }
    expect(fromSrc.length).toBeGreaterThan(0);
    expect(fromSrc.every((w) => w.includes('src/pacing/clock.ts'))).toBe(true); // only the RealClock above
    expect(connect).not.toHaveBeenCalled();
    expect(listen).not.toHaveBeenCalled();
  });
});

describe('a leader that forges DONE', () => {
  const reasons: Record<ForgedReceipt, string> = {
    none: 'it carries no receipt',
    'random-signature': 'its receipt is not signed by the destination key',
    'random-mac': 'its receipt is not signed by the destination key',
  };
  for (const receipt of ['none', 'random-signature', 'random-mac'] as const) {
    it(`acknowledges everything and answers DONE (${receipt}): the source fails naming the forged receipt`, async () => {
      const data = randomBytes(300_000);
      const fake = await startFakePeer(c, `forger-${receipt}`, 'forge-leader', {
        length: data.length,
        sha256: createHash('sha256').update(data).digest(),
        forge: receipt,
      });
      const e = await failure(
        c.migrate(data, `forged-${receipt}.bin`, {
          leader: fake.address,
          dataRelays: [c.data[0]!.address],
          keyRelays: [c.keys[0]!.address],
          threshold: 1,
        }),
      );
      expect(fake.events).toEqual(['forged DONE']);
      expect(e.message).toMatch(
        new RegExp(
          `^(data relay ${at(c.data[0]!)}|key relay ${at(c.keys[0]!)}) sent a DONE with a forged or invalid receipt \\(${reasons[receipt]}\\): not confirmed$`,
        ),
      );
      expect(existsSync(join(c.out, `forged-${receipt}.bin`))).toBe(false);
    });
  }

  it('an honest leader among the same relays completes, with the signed receipt', async () => {
    const data = randomBytes(300_000);
    const r = await c.migrate(data, 'honest.bin', {
      dataRelays: [c.data[0]!.address],
      keyRelays: [c.keys[0]!.address],
      threshold: 1,
    });
    expect(r.receipt.kind).toBe('signed');
    expect(readFileSync(join(c.out, 'honest.bin')).equals(data)).toBe(true);
  });
});

describe('a host dies mid-stream (a cluster of its own each)', () => {
  /** Crashes `host` once the leader → destination link has carried `bytes`. */
  async function crashWhen(cl: Cluster, host: string, bytes: number): Promise<void> {
    let link = cl.net.links.find((l) => l.clientHost === HOSTS.leader && l.serverHost === HOSTS.dest);
    while (link === undefined) {
      await new Promise((r) => setImmediate(r));
      link = cl.net.links.find((l) => l.clientHost === HOSTS.leader && l.serverHost === HOSTS.dest);
    }
    await link.carried('up', bytes);
    cl.net.crash(host);
  }

  it('a data relay frozen and then killed mid-stream: its unacknowledged chunks go through the other, byte-identical', async () => {
    const cl = await Cluster.start();
    try {
      const data = randomBytes(8 << 20);
      const victim = HOSTS.data[1];
      const before = cl.net.links.length;
      // once the victim has taken 1 MiB from the source, it stops (its bytes stay unacknowledged), then dies
      const watch = (async () => {
        while (
          cl.net.links.slice(before).find((l) => l.clientHost === 'source' && l.serverHost === victim) === undefined
        )
          await new Promise((r) => setImmediate(r));
        const link = cl.net.links.slice(before).find((l) => l.clientHost === 'source' && l.serverHost === victim)!;
        await link.carried('up', 1 << 20);
        cl.net.freeze(victim);
        await cl.clock.sleep(500); // fake time: passes only once the rest of the cluster is stuck on the frozen relay
        cl.net.crash(victim);
      })();
      const r = await cl.migrate(data, 'survivor.bin');
      await watch;
      expect(readFileSync(join(cl.out, 'survivor.bin')).equals(data)).toBe(true);
      expect(r.lostRelays).toEqual([at(cl.data[1]!)]);
      expect(r.resentChunks).toBeGreaterThan(0);
      const lost = cl.events('relay-lost');
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ kind: 'data', addr: at(cl.data[1]!) });
      expect(lost[0]!.requeued as number).toBeGreaterThan(0);
      expect(lost[0]!.reason).toMatch(/ECONNRESET/);
    } finally {
      await cl.close();
    }
  });

  it('the leader: the source fails with one line naming it; the destination installs nothing and keeps no partial file', async () => {
    const cl = await Cluster.start();
    try {
      const crashed = crashWhen(cl, HOSTS.leader, 1 << 20);
      const e = await failure(cl.migrate(randomBytes(8 << 20), 'leaderless.bin'));
      await crashed;
      expect(e.message).toMatch(
        new RegExp(
          `^(data|key) relay \\S+ reported SMIG_ERR_CONNECTION: leader ${at(cl.leader)}: connection lost before DONE( \\(.*\\))?$`,
        ),
      );
      await cl.drive(until(() => cl.events('receive-failed').length === 1));
      expect(cl.events('receive-failed')[0]!.reason).toMatch(/ECONNRESET/);
      expect(existsSync(join(cl.out, 'leaderless.bin'))).toBe(false);
      await cl.drive(until(() => readdirSync(cl.out).length === 0));
    } finally {
      await cl.close();
    }
  });

  it('the destination: the source fails with one line that hides its address; nothing is installed', async () => {
    const cl = await Cluster.start();
    try {
      const crashed = crashWhen(cl, HOSTS.dest, 1 << 20);
      const e = await failure(cl.migrate(randomBytes(8 << 20), 'orphan.bin'));
      await crashed;
      expect(e.code).toBe('SMIG_ERR_MIGRATION');
      // the leader names the destination to nobody: the relays and the source see <destination>
      expect(e.message).toMatch(
        new RegExp(
          `^(data|key) relay \\S+ reported SMIG_ERR_CONNECTION: leader ${at(cl.leader)}: connection to <destination>: reset by the peer \\(ECONNRESET\\)$`,
        ),
      );
      expect(e.message).not.toContain(at(cl.dest));
      expect(existsSync(join(cl.out, 'orphan.bin'))).toBe(false);
    } finally {
      await cl.close();
    }
  });
});
