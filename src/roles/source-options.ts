/**
 * What the source (`smig send`, source.ts) is given and what it reports: its options with their defaults and
 * limits, the channel timeouts every role takes, and the result of a migration.
 */

import { DEFAULT_SEGMENT_SIZE, MIN_SEGMENT_SIZE } from '../crypto/envelope.js';
import type { Identity, PublicIdentity } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { HostPort, Transport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { PACED_MIN_CHUNK, PACED_MIN_SEGMENT, pacedCutSizes } from '../pacing/cut-sizes.js';
import type { PacingPlan, Strategy } from '../pacing/plan.js';
import { planDuration } from '../pacing/plan.js';
import { MAX_DATA_SEGMENT_BYTES, MAX_RELAYS } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import type { HopPacingReport } from './pace.js';
import { checkCount } from './util.js';

/** Default window: ciphertext bytes in flight (sent, not acknowledged). */
export const DEFAULT_WINDOW: number = 32 * 1024 * 1024;
/** Default chunk size: ciphertext bytes per DATA frame (whole sealed segments, so slightly more). */
export const DEFAULT_CHUNK_SIZE: number = 256 * 1024;
/**
 * Paced sessions at a few kB/s use small chunks and segments: the leader forwards only whole authenticated segments
 * in offset order, so every hop after the first lags the one before by about a segment (and, with several data
 * relays, by a chunk): at profile rates of a few kB/s, 64 KiB would be seconds. At higher rates they grow with the
 * plan's rate (pacing/cut-sizes.ts `pacedCutSizes`).
 */
export const PACED_CHUNK_SIZE: number = PACED_MIN_CHUNK;
/** See {@link PACED_CHUNK_SIZE}. */
export const PACED_SEGMENT_SIZE: number = PACED_MIN_SEGMENT;
/** Largest chunk size: a chunk plus one sealed segment must fit a DATA_SEGMENT frame. */
export const MAX_CHUNK_SIZE: number = 8 * 1024 * 1024;
/** Largest envelope segment size the source uses (the opener's cap is larger). */
export const MAX_SOURCE_SEGMENT_SIZE: number = 1024 * 1024;

/**
 * Keepalive: a link that carried no byte either way for this long gets a PING, at most a third of the idle timeout
 * (source-links.ts `startKeepalive`; the source's links, each relay's link to the leader, the leader's to the
 * destination).
 */
export const KEEPALIVE_MS = 15_000;

/** Options of {@link runSource}. */
export interface SourceOptions {
  /** The cluster key (TLS PSK of every channel). */
  clusterKey: Uint8Array;
  /** The payload, e.g. a file's read stream or stdin (or any iterable of chunks). Each chunk is zeroed once sealed. */
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Payload length when known in advance (a file); null for a stream. */
  length: number | null;
  /** Name the destination installs the payload under (a plain file name). */
  name: string;
  /** Where the payload goes: only the leader learns it, from the envelope header. */
  destination: HostPort;
  /**
   * The destination's public identity: the payload is sealed to it (the leader cannot read it) and only a
   * receipt signed by it counts as success. Absent: an unbound inner stream, whose receipt the leader could forge.
   */
  destKey?: PublicIdentity;
  /** The source's identity: with `destKey`, the sealed stream is signed, for destinations that trust only known sources. */
  identity?: Identity;
  dataRelays: HostPort[];
  keyRelays: HostPort[];
  /** Rebuilds the key and forwards to the destination. Default: a random data relay. */
  leader?: HostPort;
  /** Key shares needed, 1..keyRelays.length. */
  threshold: number;
  /** Ciphertext bytes sent and not yet acknowledged before the source waits. Default 32 MiB. */
  window?: number;
  /** Ciphertext bytes per chunk (rounded up to whole segments). Default 256 KiB; paced: the plan's (4 KiB at kB/s). */
  chunkSize?: number;
  /** Envelope segment size. Default 64 KiB; paced: the plan's (1 KiB at kB/s). */
  segmentSize?: number;
  /** The pacing plan of every hop (createPlan); default bulk. */
  plan?: PacingPlan;
  /** Test hook: the pacers' clock (default RealClock). */
  clock?: Clock;
  /**
   * On a plan whose outcome comes by poll (a shaped plan with cover, poll.ts): how long the source goes on polling
   * while no relay answers, ms (default 120 s).
   */
  outcomeWaitMs?: number;
  /** Opens the channels (default TLS, src/net/tls.ts); tests give an in-process one (src/net/memory.ts). */
  transport?: Transport;
  log?: Logger;
  channel?: ChannelTimeouts;
  /** Aborting fails the migration (and tells every relay). */
  signal?: AbortSignal;
  /** Called with the ciphertext bytes the leader has acknowledged so far, on each PROGRESS (for a progress display). */
  onProgress?: (ackedCiphertextBytes: number) => void;
  /** The session id (16 bytes); default random. The controller gives its own, so that every host reports on one id. */
  sessionId?: Uint8Array;
}

/** What `smig send` reports. */
export interface SourceResult {
  /** Session id, 32 hex digits. */
  session: string;
  name: string;
  /** Payload bytes sent (and confirmed by the destination). */
  bytes: number;
  /** Envelope bytes (ciphertext) the leader acknowledged. */
  ciphertextBytes: number;
  seconds: number;
  /** Payload bytes per second. */
  throughput: number;
  hosts: { leader: string; dataRelays: string[]; keyRelays: string[]; destination: string };
  threshold: number;
  /** Relays that could not be reached or were lost during the session. */
  lostRelays: string[];
  /** Chunks sent again after a data relay was lost. */
  resentChunks: number;
  /** The destination's confirmation. */
  done: { sha256: string; length: number; exitStatus: number | null; message: string };
  /**
   * What proves it: `signed` — a receipt signed by the destination key (`destKey`, whose fingerprint is given);
   * `mac` — a receipt under the session's inner key, which relays cannot forge but the leader could (no `destKey`).
   */
  receipt: { kind: 'signed'; fingerprint: string } | { kind: 'mac' };
  /**
   * What the source's pacers did, one report per data link (`source → HOST:PORT`), and `oneHopSeconds`: the payload
   * at the plan's mean payload rate (pacing/plan.ts `planDuration`): what one paced hop takes for it at that rate
   * (the leader's carries all of it; a hop whose draws run denser than the trace's mean comes in a little under it);
   * null for bulk.
   */
  pacing: { strategy: Strategy; hops: HopPacingReport[]; oneHopSeconds: number | null };
}

/**
 * Checks the counts of `o` and works out its chunk, segment and window sizes (a paced plan's own by default).
 * @throws SmigError SMIG_ERR_USAGE naming the count or size that is out of range
 */
export function sourceSizes(o: SourceOptions): { chunk: number; segment: number; window: number } {
  checkCount(o.dataRelays.length, 1, MAX_RELAYS, 'data relays');
  checkCount(o.keyRelays.length, 1, MAX_RELAYS, 'key relays');
  checkCount(o.threshold, 1, o.keyRelays.length, `threshold (with ${o.keyRelays.length} key relays)`);
  if (o.sessionId !== undefined && o.sessionId.length !== 16)
    throw smigError('SMIG_ERR_USAGE', `session id: ${o.sessionId.length} bytes, expected 16`);
  const paced = o.plan !== undefined && o.plan.strategy !== 'bulk' ? pacedCutSizes(o.plan) : undefined;
  const chunk = checkCount(o.chunkSize ?? paced?.chunk ?? DEFAULT_CHUNK_SIZE, 1024, MAX_CHUNK_SIZE, 'chunk size');
  const segment = checkCount(
    o.segmentSize ?? paced?.segment ?? DEFAULT_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    MAX_SOURCE_SEGMENT_SIZE,
    'segment size',
  );
  const window = checkCount(o.window ?? DEFAULT_WINDOW, chunk, 1024 * 1024 * 1024, 'window');
  if (chunk + segment + 16 > MAX_DATA_SEGMENT_BYTES)
    throw smigError('SMIG_ERR_USAGE', 'chunk size: too large for a frame');
  return { chunk, segment, window };
}

/** `bytes` at `plan`'s mean payload rate (pacing/plan.ts `planDuration`): one paced hop's time for them; null for bulk. */
export function oneHopSeconds(plan: PacingPlan | undefined, bytes: number): number | null {
  return plan === undefined ? null : planDuration(plan, bytes).expectedSeconds;
}
