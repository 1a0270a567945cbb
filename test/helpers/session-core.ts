/**
 * A whole smig cluster in one process, over the in-process transport (src/net/memory.ts) and a FakeClock: a source
 * host, a leader, data and key relays and a destination, each a host of one MemoryNetwork. No sockets and no real
 * timers: `drive` runs the event loop until nothing moves, then advances the fake clock to its next sleeper.
 *
 * Used by the session-core tests; hostile peers (a key relay that swallows its share, a leader that forges DONE)
 * are built here from src/net + src/protocol, as the adversarial suite's fake-peer.mjs does with sockets.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identity } from '../../src/crypto/identity.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import { generateKey } from '../../src/crypto/keyfile.js';
import type { FramedConnection, HostPort } from '../../src/net/index.js';
import { formatHostPort } from '../../src/net/index.js';
import { MemoryNetwork } from '../../src/net/memory.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { DoneMessage } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import { DestinationDaemon } from '../../src/roles/destination.js';
import { RelayDaemon } from '../../src/roles/relay.js';
import type { SourceOptions, SourceResult } from '../../src/roles/source.js';
import { runSource } from '../../src/roles/source.js';
import type { Logger } from '../../src/util/log.js';
import { createLogger } from '../../src/util/log.js';

/** Turns without any byte moving on the network before the clock is advanced. */
const QUIET_TURNS = 4;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** File system requests (the destination's writes, fsync, rename), thread-pool jobs or a child process (`--exec`) still running. */
const busy = (): boolean => process.getActiveResourcesInfo().some((r) => /^FSReq|^CloseReq|Job$|^ProcessWrap$/.test(r));

/**
 * Runs the event loop until `p` settles: while bytes move on `net` or the file system works, turn by turn; when
 * nothing has moved for a few turns, `clock` goes to its next sleeper (so fake time passes only when every host
 * waits for it, and a timeout fires only at a real standstill). Fails when more than `limitMs` of fake time pass.
 */
export async function drive<T>(clock: FakeClock, net: MemoryNetwork, p: Promise<T>, limitMs = 600_000): Promise<T> {
  let settled = false;
  const watched = p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const until = clock.now() + limitMs;
  let last = -1;
  let quiet = 0;
  while (!settled) {
    await turn();
    let moved = 0;
    for (const l of net.links) moved += l.up + l.down;
    if (moved !== last) {
      last = moved;
      quiet = 0;
      continue;
    }
    if (busy() || ++quiet < QUIET_TURNS) continue;
    quiet = 0;
    await clock.next();
    if (clock.now() > until) throw new Error(`not settled after ${limitMs} ms of fake time`);
  }
  await watched;
  return p;
}

/** Resolves once `cond()` holds, looking once per event-loop turn (run it under {@link drive}). */
export async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await turn();
}

/** Host names of the cluster. */
export const HOSTS = {
  source: 'source',
  leader: 'leader',
  data: ['data1', 'data2'],
  keys: ['key1', 'key2', 'key3'],
  dest: 'dest',
} as const;

export interface ClusterOptions {
  /** The network records every delivery (for timing checks). */
  record?: boolean;
  /** The destination has an identity (sealed sessions, signed receipts). Default true. */
  identity?: boolean;
  /** The relays' wait for a session's key, ms (default the daemon's). */
  keyWaitMs?: number;
  /** The destination's limit on a session without data, ms (default the daemon's). */
  sessionIdleMs?: number;
}

/** One in-process cluster (see the module comment). */
export class Cluster {
  readonly clock = new FakeClock();
  readonly net: MemoryNetwork;
  readonly key: Uint8Array = generateKey();
  readonly out: string = mkdtempSync(join(tmpdir(), 'smig-core-'));
  readonly logs: string[] = [];
  readonly identity: Identity | undefined;
  leader!: RelayDaemon;
  data: RelayDaemon[] = [];
  keys: RelayDaemon[] = [];
  dest!: DestinationDaemon;
  readonly #closers: (() => Promise<void>)[] = [];

  private constructor(o: ClusterOptions) {
    this.net = new MemoryNetwork({ clock: this.clock, record: o.record ?? false });
    this.identity = (o.identity ?? true) ? generateIdentity('dest') : undefined;
  }

  static async start(o: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster(o);
    const relay = (host: string): Promise<RelayDaemon> =>
      RelayDaemon.start({
        clusterKey: c.key,
        listen: { host, port: 0 },
        transport: c.net.host(host),
        clock: c.clock,
        log: c.log(host),
        ...(o.keyWaitMs === undefined ? {} : { keyWaitMs: o.keyWaitMs }),
      });
    [c.leader, ...c.data] = await Promise.all([relay(HOSTS.leader), ...HOSTS.data.map(relay)]);
    c.keys = await Promise.all(HOSTS.keys.map(relay));
    c.dest = await DestinationDaemon.start({
      clusterKey: c.key,
      listen: { host: HOSTS.dest, port: 0 },
      transport: c.net.host(HOSTS.dest),
      clock: c.clock,
      outDir: c.out,
      log: c.log(HOSTS.dest),
      ...(o.sessionIdleMs === undefined ? {} : { sessionIdleMs: o.sessionIdleMs }),
      ...(c.identity === undefined ? {} : { identity: c.identity }),
    });
    return c;
  }

  /** A logger into {@link logs}, one JSON line per event, tagged with the host. */
  log(host: string): Logger {
    return createLogger({ format: 'json', sink: { write: (s: string) => this.logs.push(s) }, component: host });
  }

  /** The events logged so far, parsed. */
  events(name?: string): Record<string, unknown>[] {
    const all = this.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    return name === undefined ? all : all.filter((e) => e.event === name);
  }

  /** Runs the source on host `source` (2 data relays, 3 key relays, threshold 2, the leader host), driven to its end. */
  migrate(payload: Uint8Array, name: string, o: Partial<SourceOptions> = {}): Promise<SourceResult> {
    return this.drive(
      runSource({
        clusterKey: this.key,
        input: pieces(payload),
        length: payload.length,
        name,
        destination: this.dest.address,
        dataRelays: this.data.map((d) => d.address),
        keyRelays: this.keys.map((k) => k.address),
        leader: this.leader.address,
        threshold: 2,
        transport: this.net.host(HOSTS.source),
        clock: this.clock,
        log: this.log(HOSTS.source),
        ...(this.identity === undefined ? {} : { destKey: this.identity.public }),
        ...o,
      }),
    );
  }

  /** Runs the event loop and the fake clock until `p` settles (see {@link drive}). */
  drive<T>(p: Promise<T>, limitMs?: number): Promise<T> {
    return drive(this.clock, this.net, p, limitMs);
  }

  /** Something else to close at the end (a hostile peer). */
  onClose(fn: () => Promise<void>): void {
    this.#closers.push(fn);
  }

  async close(): Promise<void> {
    await Promise.all(this.#closers.map((f) => f()));
    await Promise.all([this.leader, ...this.data, ...this.keys, this.dest].map((d) => d.close()));
    rmSync(this.out, { recursive: true, force: true });
  }
}

/** The payload as 1 MiB copies (the source zeroes what it has sealed). */
export function* pieces(data: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < data.length; at += 1 << 20) yield new Uint8Array(data.subarray(at, at + (1 << 20)));
}

/** What a forged DONE carries as the destination's receipt. */
export type ForgedReceipt = 'none' | 'random-signature' | 'random-mac';

function forgedDone(length: number, sha256: Uint8Array, receipt: ForgedReceipt): DoneMessage {
  const msg: DoneMessage = {
    type: FrameType.DONE,
    ok: true,
    sha256,
    length,
    exitStatus: null,
    message: `verified ${length} bytes (SHA-256) and installed`,
  };
  if (receipt === 'random-signature') msg.receipt = Uint8Array.from([1, ...randomBytes(64)]);
  if (receipt === 'random-mac') msg.receipt = Uint8Array.from([2, ...randomBytes(32)]);
  return msg;
}

/** A hostile peer with the cluster key on one host of the network. */
export interface FakePeer {
  address: HostPort;
  /** What it did: `share swallowed`, `forged DONE`. */
  readonly events: string[];
  close(): Promise<void>;
}

/**
 * A hostile peer on host `host` (port 0):
 * - `swallow-key`: a key relay that keeps its share; with `forge`, it answers the source's END `delayMs` later (fake
 *   clock) with a forged DONE{ok, length, sha256} carrying `forge` as receipt; without, it stays silent.
 * - `forge-leader`: a leader that takes every relay link, acknowledges all data (PROGRESS) and, at the first END
 *   from a data relay, answers every link with a forged DONE.
 */
export async function startFakePeer(
  c: Cluster,
  host: string,
  mode: 'swallow-key' | 'forge-leader',
  facts: { length: number; sha256: Uint8Array; forge?: ForgedReceipt; delayMs?: number },
): Promise<FakePeer> {
  const events: string[] = [];
  const links = new Set<FramedConnection>();
  let received = 0;
  let ended = false;
  const l = await c.net.host(host).listen(
    { host, port: 0 },
    {
      key: c.key,
      onConnection(conn) {
        links.add(conn);
        void conn.closed.then(() => links.delete(conn));
        let via: string | null = null;
        conn.onFrame(async (type, body) => {
          const msg = decodeMessage(type, body);
          if (msg.type === FrameType.SESSION) {
            via = msg.role === 'leader' ? msg.via : msg.role;
            return;
          }
          if (mode === 'swallow-key') {
            if (msg.type === FrameType.KEY) events.push('share swallowed');
            if (msg.type === FrameType.END && facts.forge !== undefined) {
              const forge = facts.forge;
              // later, on the fake clock: the source has sealed the whole payload by then
              void c.clock.sleep(facts.delayMs ?? 0).then(() => {
                events.push('forged DONE');
                return conn.sendMessage(forgedDone(facts.length, facts.sha256, forge)).catch(() => {});
              });
            }
            return;
          }
          if (msg.type === FrameType.DATA_SEGMENT) {
            received = Math.max(received, msg.offset + msg.bytes.length);
            await conn.sendMessage({ type: FrameType.PROGRESS, offset: received });
            return;
          }
          if (msg.type === FrameType.END && via === 'data-relay' && !ended) {
            ended = true;
            events.push('forged DONE');
            const d = forgedDone(facts.length, facts.sha256, facts.forge ?? 'none');
            for (const x of links)
              void x.sendMessage(d).then(
                () => x.close(),
                () => {},
              );
          }
        });
      },
    },
  );
  const peer: FakePeer = {
    address: l.address,
    events,
    close: async () => {
      for (const x of links) x.destroy();
      await l.close();
    },
  };
  c.onClose(peer.close);
  return peer;
}

/** `HOST:PORT` of a daemon or peer. */
export const at = (d: { address: HostPort }): string => formatHostPort(d.address);
