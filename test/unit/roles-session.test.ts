/**
 * The roles in one process on the in-process transport (src/net/memory.ts) and a FakeClock: runSource against
 * RelayDaemons and a DestinationDaemon on hosts of one MemoryNetwork, driven by test/helpers/session-core.ts
 * `drive` — no sockets, no real timers. Fast checks of the session logic; the same flows with separate `smig`
 * processes, real TLS, big files and killed hosts are in test/e2e/migration*.test.ts.
 *
 * Oracles: payloads are random and compared byte for byte with what the destination installed; the
 * ciphertext length is computed by hand from the envelope layout (568-byte prefix, 16-byte tag per 64 KiB
 * segment, 56-byte trailer); the SHA-256 comes from node:crypto over the original bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/crypto/keyfile.js';
import { SmigError } from '../../src/errors.js';
import type { HostPort } from '../../src/net/index.js';
import { formatHostPort, parseHostPort } from '../../src/net/index.js';
import { MemoryNetwork } from '../../src/net/memory.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { Message } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import { DestinationDaemon } from '../../src/roles/destination.js';
import { Link } from '../../src/roles/link.js';
import { RelayDaemon } from '../../src/roles/relay.js';
import type { SourceOptions, SourceResult } from '../../src/roles/source.js';
import { runSource } from '../../src/roles/source.js';
import type { Logger } from '../../src/util/log.js';
import { createLogger } from '../../src/util/log.js';
import type { EvilOptions } from '../e2e/migration-helpers.js';
import { startEvilRelay } from '../e2e/migration-helpers.js';
import { failure } from '../helpers/errors.js';
import { drive, until } from '../helpers/session-core.js';

const key = generateKey();
const clock = new FakeClock();
const net = new MemoryNetwork({ clock });
/** Port 0 on host `name` of the network, and that host's transport. */
const on = (name: string): { listen: HostPort; transport: ReturnType<MemoryNetwork['host']>; clock: FakeClock } => ({
  listen: { host: name, port: 0 },
  transport: net.host(name),
  clock,
});
const run = <T>(p: Promise<T>): Promise<T> => drive(clock, net, p);
let evils = 0;
const evilRelay = (o: EvilOptions): ReturnType<typeof startEvilRelay> => {
  const host = `evil${evils++}`;
  return startEvilRelay(key, { ...o, transport: net.host(host), host });
};
const logs: string[] = [];
const log = (component: string): Logger =>
  createLogger({ format: 'text', sink: { write: (s: string) => logs.push(s) }, component });

let relays: RelayDaemon[] = [];
let dest: DestinationDaemon;
const out = mkdtempSync(join(tmpdir(), 'smig-session-'));
const extra: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  relays = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      RelayDaemon.start({ clusterKey: key, ...on(`relay${i}`), log: log('relay'), keyWaitMs: 5000 }),
    ),
  );
  dest = await DestinationDaemon.start({ clusterKey: key, ...on('dest'), outDir: out, log: log('recv') });
});
afterEach(async () => {
  await Promise.all(extra.splice(0).map((x) => x.close()));
});
afterAll(async () => {
  await Promise.all([...relays, dest].map((d) => d.close()));
  rmSync(out, { recursive: true, force: true });
});

const addr = (d: { address: HostPort }): HostPort => d.address;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The input as 1 MiB copies (the source zeroes what it has sealed). */
function* pieces(data: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < data.length; at += 1 << 20) yield new Uint8Array(data.subarray(at, at + (1 << 20)));
}

function migrate(data: Uint8Array, name: string, o: Partial<SourceOptions> = {}): Promise<SourceResult> {
  return run(
    runSource({
      clusterKey: key,
      input: pieces(data),
      length: data.length,
      name,
      destination: addr(dest),
      dataRelays: [addr(relays[0]!), addr(relays[1]!)],
      keyRelays: [addr(relays[1]!), addr(relays[2]!), addr(relays[3]!)],
      leader: addr(relays[0]!),
      threshold: 2,
      log: log('send'),
      transport: net.host('source'),
      clock,
      ...o,
    }),
  );
}

/** Nothing of a session left in the output directory except `keep`. */
function outFiles(): string[] {
  return readdirSync(out).sort();
}

describe('a migration through in-process relays', () => {
  it('delivers 3 MB byte-identical; 2 data relays, 3 key relays, threshold 2', async () => {
    const data = randomBytes(3_000_000);
    const r = await migrate(data, 'three.bin');
    expect(readFileSync(join(out, 'three.bin')).equals(data)).toBe(true);
    // the inner stream: 66 + (568 + 3e6 + 46·16 + 56) = 3 001 426 bytes (46 = ⌈3e6 / 65536⌉ segments), sealed
    // again in the envelope: 568 + 3 001 426 + 46·16 + 56
    expect(r.ciphertextBytes).toBe(3_002_786);
    expect(r.receipt).toEqual({ kind: 'mac' }); // no destination key in this test
    expect(r.bytes).toBe(3_000_000);
    expect(r.done).toEqual({
      sha256: sha(data),
      length: 3_000_000,
      exitStatus: null,
      message: 'verified 3000000 bytes (SHA-256) and installed',
    });
    expect(r.hosts.leader).toBe(formatHostPort(addr(relays[0]!)));
    expect(r.lostRelays).toEqual([]);
    expect(r.session).toMatch(/^[0-9a-f]{32}$/);
  });

  it('delivers an empty payload and a stream of unknown length; a second file of the same name becomes NAME.1', async () => {
    await migrate(new Uint8Array(0), 'empty.bin');
    expect(readFileSync(join(out, 'empty.bin')).length).toBe(0);
    const data = randomBytes(700_001);
    const r = await migrate(data, 'empty.bin', {
      length: null,
      threshold: 1,
      dataRelays: [addr(relays[2]!)],
      leader: undefined,
    });
    expect(r.hosts.leader).toBe(formatHostPort(addr(relays[2]!))); // the only data relay
    expect(readFileSync(join(out, 'empty.bin.1')).equals(data)).toBe(true);
    expect(readFileSync(join(out, 'empty.bin')).length).toBe(0);
  });

  it('rebuilds the key from another subset when one key relay corrupts its share', async () => {
    const evil = await evilRelay({ flipShare: true });
    extra.push(evil);
    const data = randomBytes(200_000);
    const r = await migrate(data, 'subset.bin', {
      keyRelays: [parseHostPort(evil.address, 'evil'), addr(relays[2]!), addr(relays[3]!)],
    });
    expect(evil.flipped).toBe(1);
    expect(r.done.sha256).toBe(sha(data));
    expect(readFileSync(join(out, 'subset.bin')).equals(data)).toBe(true);
  });

  it('fails cleanly when no subset of shares opens the envelope; nothing is installed', async () => {
    const evil = await evilRelay({ flipShare: true });
    extra.push(evil);
    const before = outFiles();
    const e = await failure(
      migrate(randomBytes(100_000), 'badkey.bin', { keyRelays: [parseHostPort(evil.address, 'evil')], threshold: 1 }),
    );
    expect(e.code).toBe('SMIG_ERR_MIGRATION');
    expect(e.message).toMatch(
      /SMIG_ERR_SHARES: leader .*: leader: no 1 of the 1 key shares rebuilt a key that opens the envelope/,
    );
    expect(outFiles()).toEqual(before);
  });

  it('detects a flipped ciphertext byte, never installs, and leaves no temporary file', async () => {
    const evil = await evilRelay({ flipDataAt: (offset, length) => (offset > 0 ? length >> 1 : undefined) });
    extra.push(evil);
    const before = outFiles();
    const e = await failure(
      migrate(randomBytes(2_000_000), 'tampered.bin', {
        dataRelays: [parseHostPort(evil.address, 'evil'), addr(relays[0]!)],
        chunkSize: 64 * 1024,
      }),
    );
    expect(evil.flipped).toBeGreaterThan(0);
    // the leader tells every relay; whichever ERROR reaches the source first: an honest relay names the leader
    expect(e.message).toMatch(/SMIG_ERR_AUTH: (leader .*: )?envelope: segment \d+ did not authenticate/);
    // the destination deletes its temporary file when the leader aborts
    await run(until(() => outFiles().join() === before.join()));
    expect(outFiles()).toEqual(before);
  });

  it('never lets the destination address reach a relay: an unreachable destination is reported as <destination>', async () => {
    const closed = await RelayDaemon.start({ clusterKey: key, ...on('gone') });
    const gone = addr(closed);
    await closed.close(); // a port that refuses
    const e = await failure(migrate(randomBytes(1000), 'nowhere.bin', { destination: gone }));
    expect(e.message).toContain('cannot reach the destination: connect to <destination>: connection refused');
    expect(e.message).not.toContain(`:${gone.port}`);
  });

  it('reports a failed --exec in DONE (the file stays installed) and passes the path as $1 and $SMIG_FILE', async () => {
    const outX = mkdtempSync(join(tmpdir(), 'smig-exec-'));
    const d = await DestinationDaemon.start({
      clusterKey: key,
      ...on('dest-exec'),
      outDir: outX,
      exec: 'printf "%s|%s|%s" "$1" "$SMIG_FILE" "$SMIG_BYTES" > "$1.seen"; test "$SMIG_NAME" = run.bin && exit 0; exit 3',
    });
    extra.push({ close: async () => (await d.close(), rmSync(outX, { recursive: true, force: true })) });
    const r = await migrate(randomBytes(10), 'run.bin', { destination: addr(d) });
    expect(r.done.exitStatus).toBe(0);
    expect(r.done.message).toBe('verified 10 bytes (SHA-256) and installed; --exec exited with status 0');
    const p = join(d.outDir, 'run.bin');
    expect(readFileSync(`${p}.seen`, 'utf8')).toBe(`${p}|${p}|10`);
    const e = await failure(migrate(randomBytes(10), 'run.bin', { destination: addr(d) })); // installed as run.bin.1: exit 3
    expect(e.message).toBe(
      'the destination reported a failure: verified 10 bytes (SHA-256) and installed; --exec exited with status 3 (exec exit status 3)',
    );
    expect(readFileSync(join(d.outDir, 'run.bin.1')).length).toBe(10);
  });

  it('fails at once when fewer key relays than the threshold answer', async () => {
    const e = await failure(
      migrate(randomBytes(10), 'x.bin', {
        keyRelays: [{ host: '127.0.0.1', port: 1 }, addr(relays[2]!)],
        threshold: 2,
      }),
    );
    expect(e.message).toMatch(
      /^only 1 of 2 key relays reachable, the threshold is 2 \(connect to 127\.0\.0\.1:1: connection refused/,
    );
  });

  it('refuses bad counts before sending anything', async () => {
    const e = await failure(migrate(randomBytes(10), 'x.bin', { threshold: 4 }));
    expect(e.code).toBe('SMIG_ERR_USAGE');
    expect(e.message).toBe('threshold (with 3 key relays): 4 is outside 1..3');
  });
});

describe('the relay daemon against a misbehaving peer (with the key)', () => {
  /** Opens a raw channel to a relay, sends frames, returns what came back before the close. */
  async function poke(frames: Message[]): Promise<Message[]> {
    const conn = await net.host('peer').connect(addr(relays[3]!), { key });
    const got: Message[] = [];
    conn.onFrame((t, b) => void got.push(decodeMessage(t, b)));
    for (const f of frames) await conn.sendMessage(f).catch(() => {});
    await run(conn.closed);
    return got;
  }
  const sid = new Uint8Array(16).fill(0x42);
  const layout = { dataRelays: 1, keyRelays: 1, threshold: 1 };

  it('answers a frame before SESSION with ERROR and closes', async () => {
    const got = await poke([{ type: FrameType.PROGRESS, offset: 1 }]);
    expect(got).toEqual([
      { type: FrameType.ERROR, code: 5, message: 'relay: frame type 6 before SESSION (expected SESSION)' },
    ]);
  });

  it('as leader, refuses a chunk beyond its window (bounded memory)', async () => {
    const got = await poke([
      { type: FrameType.SESSION, sessionId: sid, role: 'leader', via: 'data-relay', index: 0, layout },
      { type: FrameType.DATA_SEGMENT, sessionId: sid, index: 0, offset: 1 << 30, bytes: new Uint8Array(10) },
    ]);
    expect(got.at(-1)).toEqual({
      type: FrameType.ERROR,
      code: 6,
      message: `chunk [${1 << 30}, ${(1 << 30) + 10}) reaches ${(1 << 30) + 10} bytes past the consumed offset 0, the window limit is ${64 * 1024 * 1024 + 9 * 1024 * 1024 + 64}`,
    });
  });

  it('as leader, refuses a segment marked with another session or relay index', async () => {
    const got = await poke([
      {
        type: FrameType.SESSION,
        sessionId: sid.map((x) => x ^ 1),
        role: 'leader',
        via: 'data-relay',
        index: 0,
        layout,
      },
      { type: FrameType.DATA_SEGMENT, sessionId: sid, index: 0, offset: 0, bytes: new Uint8Array(10) },
    ]);
    expect(got.at(-1)).toEqual({
      type: FrameType.ERROR,
      code: 5,
      message: 'leader: DATA_SEGMENT names another session',
    });
  });

  it('serves a good migration afterwards', async () => {
    const data = randomBytes(50_000);
    await migrate(data, 'after.bin', { dataRelays: [addr(relays[3]!)], leader: addr(relays[3]!) });
    expect(readFileSync(join(out, 'after.bin')).equals(data)).toBe(true);
    expect(logs.join('')).not.toMatch(/internal-error/);
  });
});

describe('Link.sendWiping', () => {
  it('zeroes each payload only after the socket has taken it: the peer gets every byte, the sender keeps none', async () => {
    const got: Uint8Array[] = [];
    const l = await net.host('sink').listen(
      { host: 'sink', port: 0 },
      {
        key,
        openingFrameMaxLength: 1024 * 1024,
        onConnection: (c) => c.onFrame((_t, b) => void got.push(new Uint8Array(b))),
      },
    );
    const link = new Link(await net.host('sender').connect(l.address, { key }), 'reply', 'test peer');
    const bufs = [0x11, 0x22, 0x33].map((x) => new Uint8Array(300_000).fill(x));
    // back to back: the later writes wait in the socket's buffer, where an early wipe would zero them
    await Promise.all(bufs.map((b) => link.sendWiping({ type: FrameType.DATA, offset: 0, bytes: b }, [b])));
    await run(link.close());
    await run(l.close());
    // each body: u64 offset (8 bytes) then the 300000 payload bytes, intact
    expect(got.map((b) => [b.length, b[8], b[150_000], b.at(-1)])).toEqual([
      [300_008, 0x11, 0x11, 0x11],
      [300_008, 0x22, 0x22, 0x22],
      [300_008, 0x33, 0x33, 0x33],
    ]);
    expect(bufs.map((b) => b.some((x) => x !== 0))).toEqual([false, false, false]);
  });
});

describe('Link end of a key relay reply link (key-reply)', () => {
  /** A link to a listener that ends each connection as `end` says; resolves the link's end. */
  async function endWith(end: 'close' | 'destroy'): Promise<{ complete: boolean; error?: Error }> {
    const l = await net.host('leaderish').listen(
      { host: 'leaderish', port: 0 },
      {
        key,
        openingFrameMaxLength: 1024,
        onConnection: (c) => void (end === 'close' ? c.close() : net.links.at(-1)!.kill()),
      },
    );
    const link = new Link(await net.host('keyrelay').connect(l.address, { key }), 'key-reply', 'leader');
    link.start(() => undefined);
    const ended = await run(link.ended);
    await run(l.close());
    return ended;
  }

  it('closed cleanly before DONE: complete (the leader released it)', async () => {
    expect(await endWith('close')).toEqual({ complete: true });
  });

  it('reset before DONE: not complete, with the error', async () => {
    const end = await endWith('destroy');
    expect(end.complete).toBe(false);
    expect(end.error).toBeInstanceOf(SmigError);
  });
});
