/**
 * The in-process transport (src/net/memory.ts): frames both ways under the real FramedConnection, the key check,
 * refused and crashed hosts, a link killed mid-stream, backpressure from a reader that stops, the deterministic
 * exporter, and latency/bandwidth timed by a FakeClock. No sockets.
 *
 * Oracles: byte counts from the frame layout (5-byte header + body); delivery times from latency + bytes / rate
 * worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/crypto/keyfile.js';
import type { FramedConnection } from '../../src/net/index.js';
import { MemoryNetwork } from '../../src/net/memory.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { Message } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import { failure } from '../helpers/errors.js';

const key = generateKey();
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A listener on host `b` that records what each connection receives and echoes PING as PONG. */
async function echoServer(net: MemoryNetwork): Promise<{ got: Message[]; conns: FramedConnection[]; port: number }> {
  const got: Message[] = [];
  const conns: FramedConnection[] = [];
  const l = await net.host('b').listen(
    { host: 'b', port: 0 },
    {
      key,
      onConnection(c) {
        conns.push(c);
        c.onFrame((t, body) => {
          const m = decodeMessage(t, body);
          got.push(m.type === FrameType.DATA ? { ...m, bytes: new Uint8Array(m.bytes) } : m);
          if (m.type === FrameType.PING) return c.sendMessage({ type: FrameType.PONG, seq: m.seq });
          return undefined;
        });
      },
    },
  );
  return { got, conns, port: l.address.port };
}

describe('MemoryNetwork', () => {
  it('carries frames both ways and names both ends by host and port', async () => {
    const net = new MemoryNetwork();
    const srv = await echoServer(net);
    const c = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    const replies: Message[] = [];
    c.onFrame((t, b) => void replies.push(decodeMessage(t, b)));
    const data = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
    await c.sendMessage({ type: FrameType.DATA, offset: 7, bytes: data });
    await c.sendMessage({ type: FrameType.PING, seq: 42 });
    while (replies.length === 0) await turn();
    expect(replies).toEqual([{ type: FrameType.PONG, seq: 42 }]);
    expect(srv.got[0]).toEqual({ type: FrameType.DATA, offset: 7, bytes: data });
    expect(c.remote).toBe(`b:${srv.port}`);
    expect(c.local).toMatch(/^a:\d+$/);
    expect(srv.conns[0]!.remote).toBe(c.local);
    // DATA frame: 5-byte header + 8-byte offset + 100 000; PING: 5 + 4 (u32 seq)
    expect(net.links[0]!.up).toBe(5 + 8 + 100_000 + 5 + 4);
    await c.close();
    expect(await srv.conns[0]!.closed).toEqual({});
  });

  it('refuses another key, an address nobody listens on, and a crashed host', async () => {
    const net = new MemoryNetwork();
    const srv = await echoServer(net);
    const wrong = await failure(net.host('a').connect({ host: 'b', port: srv.port }, { key: generateKey() }));
    expect(wrong.code).toBe('SMIG_ERR_HANDSHAKE');
    expect(wrong.message).toMatch(/rejected our key/);
    const none = await failure(net.host('a').connect({ host: 'b', port: srv.port + 1 }, { key }));
    expect(none.message).toBe(`connect to b:${srv.port + 1}: connection refused (ECONNREFUSED)`);
    net.crash('b');
    const down = await failure(net.host('a').connect({ host: 'b', port: srv.port }, { key }));
    expect(down.code).toBe('SMIG_ERR_CONNECTION');
  });

  it('kill() resets a link mid-stream: both ends close with ECONNRESET', async () => {
    const net = new MemoryNetwork();
    const srv = await echoServer(net);
    const c = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    await c.sendMessage({ type: FrameType.PING, seq: 1 });
    await net.links[0]!.carried('up', 9);
    net.links[0]!.kill();
    const [a, b] = await Promise.all([c.closed, srv.conns[0]!.closed]);
    expect(a.error?.message).toMatch(/reset by the peer \(ECONNRESET\)/);
    expect(b.error?.message).toMatch(/ECONNRESET/);
    await expect(c.sendMessage({ type: FrameType.PING, seq: 2 })).rejects.toThrow(/connection closed/);
  });

  it('an end that closes with bytes it never read resets its peer (RST); one that read them all ends it (FIN)', async () => {
    const net = new MemoryNetwork();
    let frames = 0;
    const held: FramedConnection[] = [];
    const l = await net.host('b').listen(
      { host: 'b', port: 0 },
      {
        key,
        onConnection: (c) => {
          held.push(c);
          c.onFrame(() => {
            frames++;
            return new Promise<void>(() => {}); // the first frame's handler never returns: the rest stays unread
          });
        },
      },
    );
    const c = await net.host('a').connect(l.address, { key });
    for (let i = 0; i < 4; i++) void c.sendMessage({ type: FrameType.PING, seq: i }).catch(() => {});
    await net.links[0]!.carried('up', 4 * 9);
    for (let i = 0; i < 5; i++) await turn();
    expect(frames).toBe(1);
    held[0]!.destroy();
    const unread = await c.closed;
    expect(unread.error?.message).toMatch(/reset by the peer \(ECONNRESET\)/);
    // the same close after reading everything: the peer sees the end of the stream, no error
    const srv = await echoServer(net);
    const d = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    await d.sendMessage({ type: FrameType.PING, seq: 9 });
    while (srv.got.length === 0) await turn();
    srv.conns[0]!.destroy();
    expect((await d.closed).error).toBeUndefined();
  });

  it('a reader that stops reading stops the writer (bounded buffers), and it resumes when reading does', async () => {
    const net = new MemoryNetwork();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let frames = 0;
    const l = await net.host('b').listen(
      { host: 'b', port: 0 },
      {
        key,
        onConnection: (c) =>
          c.onFrame(() => {
            frames++;
            return gate; // the first frame's handler holds reading
          }),
      },
    );
    const c = await net.host('a').connect(l.address, { key });
    let sent = 0;
    const writer = (async () => {
      for (let i = 0; i < 200; i++) {
        await c.sendMessage({ type: FrameType.DATA, offset: i * 16384, bytes: new Uint8Array(16384) });
        sent++;
      }
    })();
    for (let i = 0; i < 50; i++) await turn();
    expect(frames).toBe(1);
    expect(sent).toBeLessThan(20); // stalled: a few 16 KiB frames fill the buffers on both sides
    release();
    await writer;
    expect(sent).toBe(200);
  });

  it('both ends of a link export the same keying material; other links and labels differ', async () => {
    const net = new MemoryNetwork({ seed: 9 });
    const srv = await echoServer(net);
    const c1 = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    const c2 = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    const k = (c: FramedConnection, label = 'x'): string => Buffer.from(c.keyingMaterial(label, 32)!).toString('hex');
    expect(k(c1)).toBe(k(srv.conns[0]!));
    expect(k(c2)).toBe(k(srv.conns[1]!));
    expect(k(c1)).not.toBe(k(c2));
    expect(k(c1, 'y')).not.toBe(k(c1));
    // deterministic: the same seed and key give the same first link secret
    const again = new MemoryNetwork({ seed: 9 });
    const s2 = await echoServer(again);
    const d1 = await again.host('a').connect({ host: 'b', port: s2.port }, { key });
    expect(k(d1)).toBe(k(c1));
  });

  it('latency and bandwidth are timed by the clock: nothing arrives until it is advanced', async () => {
    const clock = new FakeClock();
    const net = new MemoryNetwork({ clock, record: true });
    net.shape('a', 'b', { latencyMs: 20, bytesPerSecond: 100_000 });
    const srv = await echoServer(net);
    const c = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    // two 1000-byte frames (5 + 8 + 987): 10 ms each on the wire at 100 kB/s, then 20 ms of latency
    void c.sendMessage({ type: FrameType.DATA, offset: 0, bytes: new Uint8Array(987) });
    void c.sendMessage({ type: FrameType.DATA, offset: 987, bytes: new Uint8Array(987) });
    for (let i = 0; i < 5; i++) await turn();
    expect(srv.got).toEqual([]);
    await clock.advance(29);
    expect(srv.got).toEqual([]);
    await clock.advance(1);
    for (let i = 0; i < 5; i++) await turn();
    expect(srv.got).toHaveLength(1);
    await clock.advance(10);
    for (let i = 0; i < 5; i++) await turn();
    expect(srv.got).toHaveLength(2);
    expect(net.links[0]!.deliveries.map((d) => [d.at, d.bytes])).toEqual([
      [30, 1000],
      [40, 1000],
    ]);
  });

  it('the idle timeout runs on the clock: bytes either way restart it; a quiet link is closed at its end', async () => {
    const clock = new FakeClock();
    const net = new MemoryNetwork({ clock });
    const srv = await echoServer(net);
    const c = await net.host('a').connect({ host: 'b', port: srv.port }, { key, idleTimeoutMs: 1000 });
    c.onFrame(() => {});
    let closed = false;
    void c.closed.then(() => (closed = true));
    await clock.advance(900);
    await c.sendMessage({ type: FrameType.PING, seq: 1 }); // at 900: the PONG comes back at once
    for (let i = 0; i < 5; i++) await turn();
    await clock.advance(999); // 1899: 999 ms after the last byte
    expect(closed).toBe(false);
    await clock.advance(1);
    const info = await c.closed;
    expect(info.error?.message).toBe(`connection to b:${srv.port}: no bytes either way for 1000 ms`);
  });

  it('freeze holds every byte to and from a host, so its peers stall; thaw lets them go on; crash resets its links', async () => {
    const net = new MemoryNetwork();
    const srv = await echoServer(net);
    const c = await net.host('a').connect({ host: 'b', port: srv.port }, { key });
    net.freeze('b');
    let sent = 0;
    const writer = (async () => {
      for (let i = 0; i < 50; i++) {
        await c.sendMessage({ type: FrameType.DATA, offset: i * 16384, bytes: new Uint8Array(16384) });
        sent++;
      }
    })();
    for (let i = 0; i < 50; i++) await turn();
    expect(net.links[0]!.up).toBe(0);
    expect(sent).toBeLessThan(5); // one write in flight and the socket's buffer
    net.thaw('b');
    await writer;
    await net.links[0]!.carried('up', 50 * (5 + 8 + 16384));
    expect(srv.got).toHaveLength(50);
    net.crash('b');
    expect((await c.closed).error?.message).toMatch(/ECONNRESET/);
  });

  it("the connection's close deadline runs on the clock: a peer that never reads is cut off after closeTimeoutMs", async () => {
    const clock = new FakeClock();
    const net = new MemoryNetwork({ clock });
    const l = await net.host('b').listen(
      { host: 'b', port: 0 },
      { key, onConnection: (c) => c.onFrame(() => new Promise<void>(() => {})) }, // stuck: reads nothing more
    );
    const c = await net.host('a').connect(l.address, { key, handshakeTimeoutMs: 5000 });
    await c.sendMessage({ type: FrameType.PING, seq: 1 });
    for (let i = 0; i < 5; i++) await turn();
    let closed = false;
    const closing = c.close().then(() => (closed = true));
    for (let i = 0; i < 5; i++) await turn();
    await clock.advance(4999);
    expect(closed).toBe(false); // our FIN waits unread at the stuck peer
    await clock.advance(1);
    await closing;
    expect(closed).toBe(true);
  });
});
