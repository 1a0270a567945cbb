/**
 * Pacing on the hops of a migration (src/roles/pace.ts, and its use in source, relay and leader): the helpers,
 * a data relay re-cutting paced DATA into DATA_SEGMENTs of its own sizes (watched by a stand-in leader), plans
 * refused by relays and leaders, and a whole paced migration in process — the hops on the in-process transport
 * and one FakeClock (test/helpers/session-core.ts `drive`): no sockets, no real time.
 *
 * Oracles: frame sizes from the frame layouts (DATA header 13 bytes, DATA_SEGMENT 30); a plan whose profile has
 * a single wire size of 1088 bytes, so every full write is a 1000-byte frame (1088 − 88 overhead); payloads
 * compared byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { innerStreamLength } from '../../src/crypto/inner.js';
import { generateKey } from '../../src/crypto/keyfile.js';
import { SmigError } from '../../src/errors.js';
import type { FramedConnection, HostPort } from '../../src/net/index.js';
import { formatHostPort } from '../../src/net/index.js';
import { MemoryNetwork } from '../../src/net/memory.js';
import { FakeClock } from '../../src/pacing/clock.js';
import { pacedCutSizes } from '../../src/pacing/cut-sizes.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import { createPlan, stringifyPlan, validatePlan } from '../../src/pacing/plan.js';
import type { Message } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import { DestinationDaemon } from '../../src/roles/destination.js';
import {
  ByteQueue,
  cushionBytes,
  DATA_FRAME_OVERHEAD,
  DATA_SEGMENT_FRAME_OVERHEAD,
  frameBytes,
  hopPacer,
  hopSeed,
  MAX_PACED_QUEUE_BYTES,
  nextPayload,
  pacedQueueBytes,
  pacingReport,
  sessionPlan,
} from '../../src/roles/pace.js';
import { RelayDaemon } from '../../src/roles/relay.js';
import { runSource } from '../../src/roles/source.js';
import { createLogger } from '../../src/util/log.js';
import { drive, until } from '../helpers/session-core.js';

const key = generateKey();
const ID = new Uint8Array(16).map((_, i) => i);
const LAYOUT = { dataRelays: 1, keyRelays: 1, threshold: 1 };
const logs: string[] = [];
const log = (component: string): ReturnType<typeof createLogger> =>
  createLogger({ format: 'json', sink: { write: (s: string) => logs.push(s) }, component });

/** A profile plan by hand: 50 ms bins, full or empty at random, every packet 1088 wire bytes (1000-byte frames). */
function fastProfilePlan(bytesPerFullBin: number): PacingPlan {
  return validatePlan({
    strategy: 'profile',
    seed: 3,
    binNs: '50000000',
    overheads: { tls: 22, tcpip: 52, link: 14 },
    peak: 40 * bytesPerFullBin,
    profile: {
      sha256: 'ab'.repeat(32),
      bytesPerSecond: 10 * bytesPerFullBin,
      chain: {
        edges: [1],
        transitions: [
          [1, 1],
          [1, 1],
        ],
        levels: [{ pairs: [[0, 0, 1]] }, { pairs: [[bytesPerFullBin, bytesPerFullBin / 1088, 1]] }],
      },
      sizes: { values: [1088], counts: [1] },
      burstPackets: 4,
    },
  });
}

describe('pace.ts helpers', () => {
  it('pacedQueueBytes: the floor at kB/s, two cushions at MB/s, never above MAX_PACED_QUEUE_BYTES', () => {
    const at = (rate: number) => createPlan({ strategy: 'constant', rate, seed: 1 });
    expect(pacedQueueBytes(undefined, 256 * 1024)).toBe(256 * 1024);
    expect(pacedQueueBytes(at(10_000), 256 * 1024)).toBe(256 * 1024);
    const mid = at(2_000_000); // a constant cushion is 0.25 s: ~0.5 MB, two of them above the floor
    expect(pacedQueueBytes(mid, 256 * 1024)).toBe(2 * cushionBytes(mid));
    expect(pacedQueueBytes(at(1e9), 256 * 1024)).toBe(MAX_PACED_QUEUE_BYTES);
  });

  it('hopSeed: the first 32 bits of SHA-256(id ‖ 0 ‖ hop ‖ 0 ‖ index); distinct per hop, index and session', () => {
    const want = createHash('sha256').update(ID).update('\u0000relay\u00002').digest().readUInt32BE(0);
    expect(hopSeed(ID, 'relay', 2)).toBe(want);
    const other = new Uint8Array(ID);
    other[15] ^= 1;
    const seeds = new Set([
      hopSeed(ID, 'source', 0),
      hopSeed(ID, 'source', 1),
      hopSeed(ID, 'relay', 0),
      hopSeed(ID, 'leader', 0),
      hopSeed(other, 'source', 0),
    ]);
    expect(seeds.size).toBe(5);
  });

  it('sessionPlan: absent is bulk; a plan parsePlan refuses is a malformed SESSION naming the field', () => {
    expect(sessionPlan(undefined)).toBeUndefined();
    expect(sessionPlan(stringifyPlan(createPlan({ strategy: 'constant', rate: 5000, seed: 1 })))).toMatchObject({
      strategy: 'constant',
      rate: 5000,
    });
    for (const [text, message] of [
      ['{"strategy":', /^SESSION\.plan: not JSON/],
      [
        '{"strategy":"warp","seed":1,"binNs":"1000000000","overheads":{"tls":22,"tcpip":52,"link":14}}',
        /^SESSION\.plan: strategy: "warp" is not one of bulk, constant, profile, replay/,
      ],
      [
        '{"strategy":"constant","seed":1,"binNs":"1000000000","overheads":{"tls":22,"tcpip":52,"link":14}}',
        /^SESSION\.plan: rate: missing/,
      ],
    ] as const) {
      let err: unknown;
      try {
        sessionPlan(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SmigError);
      expect((err as SmigError).code).toBe('SMIG_ERR_FRAME_MALFORMED');
      expect((err as SmigError).message).toMatch(message);
    }
  });

  it('ByteQueue: takes across contiguous pieces, never across a gap, keeps the rest', () => {
    const q = new ByteQueue();
    q.push(100, Uint8Array.of(1, 2, 3));
    q.push(103, Uint8Array.of(4, 5));
    q.push(200, Uint8Array.of(6, 7, 8, 9));
    expect([q.bytes, q.contiguous(), q.contiguous(4)]).toEqual([9, 5, 4]);
    const a = q.take(4)!;
    expect([a.offset, a.parts.map((p) => [...p])]).toEqual([100, [[1, 2, 3], [4]]]);
    const b = q.take(10)!; // stops at the gap
    expect([b.offset, b.parts.map((p) => [...p])]).toEqual([104, [[5]]]);
    const c = q.take(3)!;
    expect([c.offset, c.parts.map((p) => [...p]), q.bytes, q.contiguous()]).toEqual([200, [[6, 7, 8]], 1, 1]);
    expect(q.clear().map((p) => [...p])).toEqual([[9]]);
    expect([q.bytes, q.take(1)]).toEqual([0, undefined]);
  });

  it('nextPayload and frameBytes: a write is one frame of the drawn size, its header included', () => {
    const plan = fastProfilePlan(10_880);
    const pacer = hopPacer(plan, ID, 'source', 0, new FakeClock());
    expect(nextPayload(pacer, DATA_FRAME_OVERHEAD, Infinity)).toBe(1000 - 13);
    expect(nextPayload(pacer, DATA_SEGMENT_FRAME_OVERHEAD, 5)).toBe(5);
    // 1000-byte frames carry 987 (DATA) or 970 (DATA_SEGMENT) data bytes
    expect(frameBytes(plan, 987 * 10, DATA_FRAME_OVERHEAD)).toBeCloseTo(10_000, 9);
    expect(frameBytes(plan, 970, DATA_SEGMENT_FRAME_OVERHEAD)).toBeCloseTo(1000, 9);
    // constant at 16 kB/s writes 1448-byte frames (one full segment)
    expect(
      frameBytes(createPlan({ strategy: 'constant', rate: 16_000, seed: 1 }), 1435, DATA_FRAME_OVERHEAD),
    ).toBeCloseTo(1448, 9);
    expect(frameBytes(createPlan({ strategy: 'bulk', seed: 1 }), 1435, DATA_FRAME_OVERHEAD)).toBe(1435);
    expect(hopPacer(undefined, ID, 'leader', 0).strategy).toBe('bulk');
  });

  it('pacingReport: wire rate, target and lateness of a constant pacer on a fake clock', async () => {
    const clock = new FakeClock();
    const pacer = hopPacer(createPlan({ strategy: 'constant', rate: 10_000, seed: 1 }), ID, 'source', 0, clock);
    const writes = (async () => {
      for (let i = 0; i < 10; i++) await pacer.take(912); // + 88 = 1000 wire bytes, due every 100 ms
    })();
    while (await clock.next());
    await writes;
    const r = pacingReport('source → x', pacer);
    expect(r).toMatchObject({
      hop: 'source → x',
      strategy: 'constant',
      writes: 10,
      payloadBytes: 9120,
      wireBytes: 10_000,
    });
    expect(r.seconds).toBeCloseTo(1, 9); // from the first take (t0 = 0: the bucket starts empty) to the last grant
    expect(r.rate).toBeCloseTo(10_000, 6);
    expect(r.targetRate).toBeCloseTo(10_000, 6); // tokens accrued over the same second
    expect(r.lateness).toMatchObject({ n: 10, p50: 0, p99: 0, max: 0 });
  });
});

describe('paced hops in process (memory transport, fake clock)', () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ clock });
  const run = <T>(p: Promise<T>): Promise<T> => drive(clock, net, p);
  const connect = (addr: HostPort): Promise<FramedConnection> => net.host('source').connect(addr, { key });
  const out = mkdtempSync(join(tmpdir(), 'smig-pace-'));
  let relay: RelayDaemon;
  let leader: RelayDaemon;
  let dest: DestinationDaemon;
  beforeAll(async () => {
    [relay, leader] = await Promise.all(
      ['relay', 'leader'].map((host) =>
        RelayDaemon.start({
          clusterKey: key,
          listen: { host, port: 0 },
          transport: net.host(host),
          clock,
          log: log('relay'),
          keyWaitMs: 5000,
        }),
      ),
    );
    dest = await DestinationDaemon.start({
      clusterKey: key,
      listen: { host: 'dest', port: 0 },
      transport: net.host('dest'),
      clock,
      outDir: out,
      log: log('recv'),
    });
  });
  afterAll(async () => {
    await Promise.all([relay, leader, dest].map((d) => d.close()));
    rmSync(out, { recursive: true, force: true });
  });

  /** A stand-in leader that records what a relay sends it. */
  async function fakeLeader(): Promise<{ addr: HostPort; got: Promise<Message[]>; close(): Promise<void> }> {
    let resolve!: (m: Message[]) => void;
    const got = new Promise<Message[]>((r) => (resolve = r));
    const conns: FramedConnection[] = [];
    const l = await net.host('fake-leader').listen(
      { host: 'fake-leader', port: 0 },
      {
        key,
        onConnection(c) {
          conns.push(c);
          const msgs: Message[] = [];
          c.onFrame((type, body) => {
            const m = decodeMessage(type, body);
            msgs.push(m.type === FrameType.DATA_SEGMENT ? { ...m, bytes: new Uint8Array(m.bytes) } : m);
            if (m.type === FrameType.END) resolve(msgs);
          });
        },
      },
    );
    return { addr: l.address, got, close: async () => (conns.forEach((c) => c.destroy()), l.close()) };
  }

  it('a data relay copies the plan to the leader and re-cuts paced DATA into DATA_SEGMENTs of its own sizes', async () => {
    const fake = await fakeLeader();
    const plan = stringifyPlan(fastProfilePlan(108_800)); // 100 frames per full bin: fast
    const src = await connect(relay.address);
    await src.sendMessage({
      type: FrameType.SESSION,
      sessionId: ID,
      role: 'data-relay',
      leader: formatHostPort(fake.addr),
      index: 0,
      layout: LAYOUT,
      plan,
    });
    const data = randomBytes(30_000);
    // the source's writes: 1..4000 bytes, then a gap in the offsets (the next chunk of this link starts at 50 000)
    let at = 0;
    while (at < 20_000) {
      const n = Math.min(20_000 - at, 1 + ((at * 7919) % 4000));
      await src.sendMessage({ type: FrameType.DATA, offset: at, bytes: data.subarray(at, at + n) });
      at += n;
    }
    await src.sendMessage({ type: FrameType.DATA, offset: 50_000, bytes: data.subarray(20_000) });
    await src.sendMessage({ type: FrameType.END, length: 60_000, sha256: null });
    const msgs = await run(fake.got);
    expect(msgs[0]).toEqual({
      type: FrameType.SESSION,
      sessionId: ID,
      role: 'leader',
      via: 'data-relay',
      index: 0,
      layout: LAYOUT,
      plan,
    });
    const segs = msgs.filter((m) => m.type === FrameType.DATA_SEGMENT);
    // full writes are 1000-byte frames = 970 data bytes; short ones only where the run ends (the gap, the end)
    const short = segs.filter((s) => s.bytes.length !== 970);
    expect(short.map((s) => s.offset + s.bytes.length)).toEqual([20_000, 60_000]);
    const first = new Uint8Array(20_000);
    const second = new Uint8Array(10_000);
    for (const s of segs)
      (s.offset < 50_000 ? first : second).set(s.bytes, s.offset < 50_000 ? s.offset : s.offset - 50_000);
    expect(Buffer.from(first).equals(data.subarray(0, 20_000))).toBe(true);
    expect(Buffer.from(second).equals(data.subarray(20_000))).toBe(true);
    expect(msgs[msgs.length - 1]).toEqual({ type: FrameType.END, length: 60_000, sha256: null });
    src.destroy();
    await fake.close();
  });

  it('a relay refuses a SESSION whose plan does not validate, with ERROR naming the field', async () => {
    const src = await connect(relay.address);
    const frames: Message[] = [];
    src.onFrame((type, body) => void frames.push(decodeMessage(type, body)));
    await src.sendMessage({
      type: FrameType.SESSION,
      sessionId: ID,
      role: 'key-relay',
      leader: formatHostPort(leader.address),
      index: 0,
      layout: LAYOUT,
      plan: '{"strategy":"constant"}',
    });
    await run(src.closed);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({
      type: FrameType.ERROR,
      code: 4,
      message: expect.stringMatching(/^SESSION\.plan: seed: /),
    });
  });

  it("a leader refuses a relay link whose plan differs from the session's", async () => {
    const id = randomBytes(16);
    const a = await connect(leader.address);
    const b = await connect(leader.address);
    const frames: Message[] = [];
    b.onFrame((type, body) => void frames.push(decodeMessage(type, body)));
    const plan = (rate: number): string => stringifyPlan(createPlan({ strategy: 'constant', rate, seed: 1 }));
    await a.sendMessage({
      type: FrameType.SESSION,
      sessionId: id,
      role: 'leader',
      via: 'data-relay',
      index: 0,
      layout: { dataRelays: 1, keyRelays: 1, threshold: 1 },
      plan: plan(1000),
    });
    await run(until(() => leader.stats.leaderSessions === 1)); // a's SESSION made the session
    await b.sendMessage({
      type: FrameType.SESSION,
      sessionId: id,
      role: 'leader',
      via: 'key-relay',
      index: 0,
      layout: { dataRelays: 1, keyRelays: 1, threshold: 1 },
      plan: plan(2000),
    });
    await run(b.closed);
    expect(frames[0]).toMatchObject({
      type: FrameType.ERROR,
      code: 5,
      message: "leader: SESSION plan of key-relay 0 differs from the session's",
    });
    a.destroy();
  });

  it("a profile-paced migration arrives intact; every hop cut its writes to the plan's 1000-byte frames", async () => {
    const data = randomBytes(500_000);
    const plan = fastProfilePlan(108_800); // about 1 MB/s: the cushion (4 s) is the relay's time limit
    logs.length = 0;
    const r = await run(
      runSource({
        clusterKey: key,
        input: [new Uint8Array(data)],
        length: data.length,
        name: 'paced.bin',
        destination: dest.address,
        dataRelays: [relay.address],
        keyRelays: [relay.address],
        leader: leader.address,
        threshold: 1,
        plan,
        log: log('send'),
        transport: net.host('source'),
        clock,
      }),
    );
    expect(readFileSync(join(out, 'paced.bin')).equals(data)).toBe(true);
    expect(r.pacing.strategy).toBe('profile');
    const [h] = r.pacing.hops;
    // frame bytes = ciphertext + 13 per DATA frame; wire = frames + 88 per write
    expect(h!.payloadBytes).toBe(r.ciphertextBytes + 13 * h!.writes);
    expect(h!.wireBytes).toBe(h!.payloadBytes + 88 * h!.writes);
    expect(h!.writes).toBeGreaterThanOrEqual(Math.ceil(r.ciphertextBytes / 987));
    const events = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'pacing');
    const relayHop = events.find((e) => e.role === 'data-relay')!;
    const leaderHop = events.find((e) => e.role === 'leader')!;
    expect(relayHop).toMatchObject({
      strategy: 'profile',
      payloadBytes: r.ciphertextBytes + 30 * (relayHop.writes as number),
    });
    // the leader forwards the inner stream (sealed for the destination): the payload in the plan's segments (8 KiB
    // at ~1 MB/s) plus its prefix
    const segment = pacedCutSizes(plan).segment;
    expect(segment).toBe(8192);
    const inner = innerStreamLength(data.length, segment);
    expect(leaderHop).toMatchObject({
      hop: 'leader → destination',
      strategy: 'profile',
      payloadBytes: inner + 13 * (leaderHop.writes as number),
    });
    expect(leaderHop.writes as number).toBeLessThanOrEqual(Math.ceil(inner / 987) + Math.ceil(inner / (segment - 16))); // a short write at most per segment
  });
});
