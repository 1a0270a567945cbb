/**
 * The resource caps of src/net over real sockets on 127.0.0.1: per-address and handshake caps of a listener,
 * the opening frame's size limit and deadline, the refusal summary, and the write-queue mark (reading pauses
 * while replies are not taken; a peer that takes none of them is closed). Deadlines are short but every
 * assertion has a wide margin: the property is "closed by the deadline, not by the 60 s idle timeout".
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import { QUEUED_FRAME_COST } from '../../src/net/connection.js';
import type { ChannelListener, FramedConnection, ListenOptions, RejectInfo } from '../../src/net/index.js';
import { connectChannel, listenChannel } from '../../src/net/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const LOCAL = { host: '127.0.0.1', port: 0 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(
  extra: Partial<ListenOptions> = {},
): Promise<ChannelListener & { conns: FramedConnection[]; rejected: RejectInfo[] }> {
  const conns: FramedConnection[] = [];
  const rejected: RejectInfo[] = [];
  const l = await listenChannel(LOCAL, {
    key: KEY,
    onRejected: (info) => rejected.push(info),
    rejectLogIntervalMs: 0,
    ...extra,
    onConnection: (c) => {
      conns.push(c);
      if (extra.onConnection) extra.onConnection(c);
      else c.onFrame((type, body) => c.send(type, body));
    },
  });
  cleanups.push(() => l.close());
  return Object.assign(l, { conns, rejected });
}

async function connect(l: ChannelListener): Promise<FramedConnection> {
  const c = await connectChannel(l.address, { key: KEY });
  cleanups.push(() => c.destroy());
  return c;
}

function rawTcp(port: number): Socket {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  s.resume();
  cleanups.push(() => s.destroy());
  return s;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function refusal(p: Promise<unknown>): Promise<SmigError> {
  const err = await p.then(
    () => new Error('connected'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SmigError);
  return err as SmigError;
}

describe('listener caps', () => {
  it('at most maxPerAddress sockets from one address; one more is closed at once, and a slot frees on close', async () => {
    const l = await listen({ maxPerAddress: 2 });
    const a = await connect(l);
    await connect(l);
    const err = await refusal(connectChannel(l.address, { key: KEY }));
    expect(err.code).toBe('SMIG_ERR_HANDSHAKE');
    await until(() => l.rejected.length === 1);
    expect(l.rejected[0]!.reason).toBe('too many connections from 127.0.0.1 (at most 2)');
    await a.close();
    await until(() => l.connections === 1);
    await connect(l); // the freed slot
  });

  it('at most maxHandshakes sockets in the handshake; the deadline frees them however the peer dribbles', async () => {
    const l = await listen({ maxHandshakes: 2, handshakeTimeoutMs: 1500 });
    const slow = [rawTcp(l.address.port), rawTcp(l.address.port)];
    // a byte every 100 ms: node's own (inactivity) timeout would never fire
    const drip = setInterval(() => {
      for (const s of slow) s.write(Uint8Array.of(0x16));
    }, 100);
    cleanups.push(() => clearInterval(drip));
    await until(() => l.handshakes === 2);
    const err = await refusal(connectChannel(l.address, { key: KEY }));
    expect(err.code).toBe('SMIG_ERR_HANDSHAKE');
    await until(() => l.rejected.some((r) => r.reason === 'too many handshakes in progress (at most 2)'));
    const t0 = Date.now();
    await Promise.all(slow.map((s) => once(s, 'close')));
    expect(Date.now() - t0).toBeLessThan(6000); // 1.5 s, with room for a loaded machine
    await connect(l);
  });

  it('refusals beyond the first of an interval come as one summary with a count', async () => {
    const l = await listen({ maxPerAddress: 1, rejectLogIntervalMs: 300 });
    await connect(l);
    for (let i = 0; i < 5; i++) await refusal(connectChannel(l.address, { key: KEY }));
    await until(() => l.rejected.length === 2, 3000);
    expect(l.rejected[0]).toMatchObject({ reason: 'too many connections from 127.0.0.1 (at most 1)' });
    expect(l.rejected[0]!.count).toBeUndefined();
    expect(l.rejected[1]).toEqual({
      remote: '4 peers',
      reason: 'too many connections from 127.0.0.1 (at most 1) ×4',
      count: 4,
    });
  });
});

describe('the opening frame', () => {
  it('a first frame longer than openingFrameMaxLength is refused with ERROR; the same frame later passes', async () => {
    const l = await listen({ openingFrameMaxLength: 1024 });
    const c = await connect(l);
    const got: [number, Uint8Array][] = [];
    c.onFrame((t, b) => void got.push([t, new Uint8Array(b)]));
    await c.send(FrameType.PAD, new Uint8Array(2000));
    await until(() => l.conns.length === 1);
    const { error } = await l.conns[0]!.closed;
    expect(error?.message).toBe('frame header: length 2001 exceeds the maximum 1024');
    await until(() => got.length === 1);
    expect(decodeMessage(got[0]![0] as FrameType, got[0]![1])).toMatchObject({ type: FrameType.ERROR });

    const d = await connect(l);
    const echoed: number[] = [];
    d.onFrame((_t, b) => void echoed.push(b.length));
    await d.send(FrameType.PAD, new Uint8Array(10));
    await d.send(FrameType.PAD, new Uint8Array(2000));
    await until(() => echoed.length === 2);
    expect(echoed).toEqual([10, 2000]);
  });

  it('no first frame within openingTimeoutMs → closed with SMIG_ERR_TIMEOUT', async () => {
    const l = await listen({ openingTimeoutMs: 300 });
    const c = await connect(l);
    c.onFrame(() => {});
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).toBeLessThan(3000);
    await until(() => l.conns.length === 1);
    const { error } = await l.conns[0]!.closed;
    expect(error?.message).toMatch(/^connection from 127\.0\.0\.1:\d+: no opening frame within 300 ms$/);
  });
});

describe('the write-queue mark', () => {
  it('a peer that sends requests and never reads the replies stalls itself and is closed after the stall time', async () => {
    let maxCost = 0;
    const l = await listen({
      idleTimeoutMs: 600,
      onConnection: (c) =>
        c.onFrame((type, body) => {
          c.send(type, body).catch(() => {}); // a reply nobody awaits, like a PONG
          maxCost = Math.max(maxCost, c.queuedCost);
        }),
    });
    const c = await connect(l); // never calls onFrame: reads nothing
    let sent = 0;
    let closed = false;
    void c.closed.then(() => (closed = true));
    const body = new Uint8Array(4);
    const t0 = Date.now();
    while (!closed && Date.now() - t0 < 20_000) {
      const p = c.send(FrameType.PING, body).then(
        () => true,
        () => false,
      );
      sent += 9;
      const ok = await Promise.race([p, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
      if (!ok) break;
    }
    await until(() => l.conns.length === 1);
    const { error } = await l.conns[0]!.closed;
    expect(error?.message).toMatch(
      /^connection to 127\.0\.0\.1:\d+: (the peer did not read its replies \(\d+ bytes' worth queued\) for 600 ms|no bytes either way for 600 ms)$/,
    );
    // reading, and the frames of the chunk at hand, stopped at the mark: the queue never passed it by more than one reply
    expect(maxCost).toBeGreaterThan(1024 * 1024);
    expect(maxCost).toBeLessThanOrEqual(1024 * 1024 + 9 + QUEUED_FRAME_COST);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });
});
