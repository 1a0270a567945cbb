/**
 * The source (`smig send`; docs/DESIGN.md §3 "Session flow" steps 1 and 3, paper §5.2 algorithm 2): wraps the
 * payload in the envelope, spreads the ciphertext over the data relays and one key share to each key
 * relay, and returns only once the destination's DONE has come back through a relay (by poll once the leader
 * has released the data links: poll.ts).
 *
 * Flow control and recovery (see window.ts): ciphertext chunks stay in memory until the leader's
 * PROGRESS covers them; the source produces only while `next − acked < window`. Each data relay has its
 * own pump that takes the next chunk whenever its link has room, so a slow or stalled relay never holds
 * the others back. A data relay whose link closes without ERROR is *lost*: its unacknowledged chunks go
 * back to the queue for the others. An ERROR from any relay is fatal (it reports what the source cannot
 * repair: the leader or the destination is gone, a chunk did not authenticate, ...).
 *
 * END{L} goes on every live data link once PROGRESS has reached L, the total ciphertext length; on a shaped plan with
 * cover, once the link has lasted its bound (postEnds), and sooner on a link with nothing left to carry while another
 * stays for re-sends (`mayEndEarly`). The leader answers such an END with END{n}, the bytes it received there: a link
 * whose count matches is released, any other that closes is lost.
 *
 * End to end (crypto/inner.ts): the envelope's payload is the inner stream, sealed to the destination's public
 * key (`destKey`) so that the leader, which opens the envelope to learn the destination, never sees the
 * payload. Success is the destination's receipt: a DONE counts only when its receipt verifies (signed by the
 * destination key; without one, an HMAC under the inner key, which the leader could forge) over this
 * session and the digest and length the source itself sealed. Any other DONE fails the migration, naming
 * the link it came from.
 *
 * Pacing (docs/DESIGN.md §4, pace.ts): the session's plan goes in every relay SESSION; each data link has its own
 * pacer (hop `source`, the relay's index), and a chunk goes out as DATA frames of the pacer's write sizes,
 * each awaited from the pacer first. Key links are not paced.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { EnvelopeSealer } from '../crypto/envelope.js';
import { fingerprint } from '../crypto/identity.js';
import type { InnerSealer } from '../crypto/inner.js';
import { wipe } from '../crypto/wipe.js';
import { isSmigError, smigError } from '../errors.js';
import type { FramedConnection, HostPort } from '../net/index.js';
import { formatHostPort, tlsTransport } from '../net/index.js';
import { shapedWithCover } from '../pacing/hold.js';
import type { PacingPlan } from '../pacing/plan.js';
import { stringifyPlan } from '../pacing/plan.js';
import type { DoneMessage, Message, SessionLayout } from '../protocol/index.js';
import { FrameType, sessionIdHex } from '../protocol/index.js';
import type { LogFields, Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { Link } from './link.js';
import { hopPacer, isShaped, pacingLogFields, pacingReport } from './pace.js';
import { pollOutcome } from './poll.js';
import { afterDataLoss, judgeDone, unsureFailure } from './source-done.js';
import type { DataLink, KeyLink } from './source-links.js';
import { mayEndEarly, postEnds, pumpShaped, sendChunk, startKeepalive } from './source-links.js';
import type { SourceOptions, SourceResult } from './source-options.js';
import { oneHopSeconds, sourceSizes } from './source-options.js';
import { sealSession } from './source-seal.js';
import type { Timer } from './util.js';
import { nowMs, Signal, secondsSince } from './util.js';
import { ChunkCutter, SendWindow } from './window.js';

export type { SourceOptions, SourceResult } from './source-options.js';
export {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_WINDOW,
  KEEPALIVE_MS,
  MAX_CHUNK_SIZE,
  MAX_SOURCE_SEGMENT_SIZE,
  PACED_CHUNK_SIZE,
  PACED_SEGMENT_SIZE,
} from './source-options.js';

/**
 * Runs one migration as its source; resolves once the destination has confirmed (DONE ok).
 * @throws SmigError SMIG_ERR_USAGE for bad counts or sizes (before anything is sent);
 *   SMIG_ERR_MIGRATION, one line, when the migration did not complete
 * @example
 * const r = await runSource({ clusterKey, input: createReadStream(f), length: size, name: 'vm.img',
 *   destination, dataRelays, keyRelays, threshold: 2 });
 */
export async function runSource(opts: SourceOptions): Promise<SourceResult> {
  return new SourceSession(opts).run();
}

class SourceSession {
  readonly #o: SourceOptions;
  readonly #layout: SessionLayout;
  readonly #leader: HostPort;
  readonly #window: SendWindow;
  readonly #chunkSize: number;
  readonly #segmentSize: number;
  readonly #plan: PacingPlan | undefined;
  readonly #planText: string | undefined;
  /** Aborts pacer waits once the session is over. */
  readonly #stop = new AbortController();
  #log: Logger;
  readonly #work = new Signal(); // a chunk to send, or a link lost
  readonly #room = new Signal(); // the window moved
  #data: DataLink[] = [];
  #keys: KeyLink[] = [];
  #lost: string[] = [];
  #produced = false;
  #endSent = false;
  #polling = false;
  #over = false;
  #inner: InnerSealer | undefined;
  #sessionId = new Uint8Array(16);
  #proof: 'signed' | 'mac' = 'mac';
  #settle!: { resolve: (d: DoneMessage) => void; reject: (e: Error) => void };
  readonly #outcome: Promise<DoneMessage>;

  constructor(o: SourceOptions) {
    const sizes = sourceSizes(o);
    this.#chunkSize = sizes.chunk;
    this.#segmentSize = sizes.segment;
    const window = sizes.window;
    this.#o = o;
    this.#layout = { dataRelays: o.dataRelays.length, keyRelays: o.keyRelays.length, threshold: o.threshold };
    this.#leader = o.leader ?? o.dataRelays[randomInt(o.dataRelays.length)]!;
    this.#window = new SendWindow(window);
    this.#plan = o.plan?.strategy === 'bulk' ? undefined : o.plan;
    this.#planText = this.#plan === undefined ? undefined : stringifyPlan(this.#plan);
    this.#log = o.log ?? silentLogger;
    this.#outcome = new Promise<DoneMessage>((resolve, reject) => (this.#settle = { resolve, reject }));
    this.#outcome.catch(() => {}); // observed in run(); never an unhandled rejection
  }

  async run(): Promise<SourceResult> {
    const o = this.#o;
    const start = nowMs(o.clock);
    const sessionId = o.sessionId === undefined ? new Uint8Array(randomBytes(16)) : new Uint8Array(o.sessionId);
    const session = sessionIdHex(sessionId);
    this.#sessionId = sessionId;
    this.#log = this.#log.with({ session: session.slice(0, 16) });
    const { inner, sealer, shares } = await sealSession(
      o,
      sessionId,
      formatHostPort(o.destination),
      this.#layout,
      this.#segmentSize,
    );
    this.#inner = inner;
    const onAbort = (): void => void this.#fail(smigError('SMIG_ERR_MIGRATION', 'interrupted'));
    let keepalive: Timer | undefined;
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (o.signal?.aborted) onAbort();
      this.#log.event('session-start', {
        name: o.name,
        length: o.length,
        leader: formatHostPort(this.#leader),
        dataRelays: this.#layout.dataRelays,
        keyRelays: this.#layout.keyRelays,
        threshold: this.#layout.threshold,
      });
      await this.#open(sessionId, shares);
      keepalive = startKeepalive(
        () => [...this.#data.filter((d) => !d.lost), ...this.#keys].map((l) => l.link),
        o.channel?.idleTimeoutMs,
        o.clock,
      );
      for (const d of this.#data) void this.#pump(d);
      this.#produce(sealer, inner).catch((err: unknown) => this.#fail(err));
      const done = await this.#outcome;
      const seconds = secondsSince(start, o.clock);
      const bytes = inner.payloadLength;
      this.#log.event('session-done', { bytes, seconds: Number(seconds.toFixed(3)), resent: this.#window.resent });
      const hops = this.#data.map((d) => pacingReport(`source → ${d.addr}`, d.pacer));
      for (const h of hops) this.#log.event('pacing', pacingLogFields(h));
      await Promise.all([...this.#data, ...this.#keys].map((l) => l.link.close()));
      return {
        session,
        name: o.name,
        bytes,
        ciphertextBytes: this.#window.acked,
        seconds,
        throughput: seconds > 0 ? bytes / seconds : 0,
        hosts: {
          leader: formatHostPort(this.#leader),
          dataRelays: o.dataRelays.map(formatHostPort),
          keyRelays: o.keyRelays.map(formatHostPort),
          destination: formatHostPort(o.destination),
        },
        threshold: this.#layout.threshold,
        lostRelays: this.#lost,
        resentChunks: this.#window.resent,
        done: {
          sha256: Buffer.from(done.sha256).toString('hex'),
          length: done.length,
          exitStatus: done.exitStatus,
          message: done.message,
        },
        receipt: this.#proof === 'signed' ? { kind: 'signed', fingerprint: fingerprint(o.destKey!) } : { kind: 'mac' },
        pacing: { strategy: this.#plan?.strategy ?? 'bulk', hops, oneHopSeconds: oneHopSeconds(this.#plan, bytes) },
      };
    } catch (err) {
      const failure = this.#fail(err);
      this.#log.event('session-failed', { reason: failure.message });
      await Promise.all([...this.#data, ...this.#keys].map((l) => l.link.fail(failure)));
      throw failure;
    } finally {
      keepalive?.cancel();
      o.signal?.removeEventListener('abort', onAbort);
      wipe(...shares);
      sealer.destroy();
      inner.destroy();
      this.#window.drain();
    }
  }

  /** Connects to every relay at once, opens the session on each, hands out the key shares. */
  async #open(sessionId: Uint8Array, shares: Uint8Array[]): Promise<void> {
    const o = this.#o;
    const leader = formatHostPort(this.#leader);
    const connect = (addr: HostPort): Promise<FramedConnection> =>
      (o.transport ?? tlsTransport).connect(addr, { key: o.clusterKey, retries: 1, ...o.channel });
    const [data, keys] = await Promise.all([
      Promise.allSettled(o.dataRelays.map(connect)),
      Promise.allSettled(o.keyRelays.map(connect)),
    ]);
    const firstError = (rs: PromiseSettledResult<unknown>[]): string =>
      (rs.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined)?.reason?.message ?? '';
    data.forEach((r, index) => {
      const addr = formatHostPort(o.dataRelays[index]!);
      if (r.status === 'fulfilled') {
        const pacer = hopPacer(this.#plan, sessionId, 'source', index, o.clock);
        const link = new Link(r.value, 'reply', `data relay ${addr}`);
        this.#data.push({ index, addr, link, lost: false, pacer, opened: nowMs(o.clock), bytes: 0, written: 0 });
      } else this.#unreachable('data', addr, r.reason);
    });
    keys.forEach((r, index) => {
      const addr = formatHostPort(o.keyRelays[index]!);
      if (r.status === 'fulfilled')
        this.#keys.push({ index, addr, link: new Link(r.value, 'key-reply', `key relay ${addr}`) });
      else this.#unreachable('key', addr, r.reason);
    });
    if (this.#data.length === 0) throw smigError('SMIG_ERR_MIGRATION', `no data relay reachable (${firstError(data)})`);
    if (this.#keys.length < this.#layout.threshold) {
      throw smigError(
        'SMIG_ERR_MIGRATION',
        `only ${this.#keys.length} of ${this.#layout.keyRelays} key relays reachable, the threshold is ${this.#layout.threshold}` +
          (this.#keys.length < this.#layout.keyRelays ? ` (${firstError(keys)})` : ''),
      );
    }
    // small control frames: posted (ordered on each link); a link that fails now is handled by its end
    for (const d of this.#data) {
      d.link.start((msg) => this.#onReply(d.link, msg));
      void d.link.ended.then((end) => this.#onDataEnd(d, end.error));
      d.link.post({
        type: FrameType.SESSION,
        sessionId,
        role: 'data-relay',
        leader,
        index: d.index,
        layout: this.#layout,
        ...this.#planField(),
      });
    }
    for (const k of this.#keys) {
      k.link.start((msg) => this.#onReply(k.link, msg));
      void k.link.ended.then((end) => this.#onKeyEnd(k, end.complete, end.error));
      const share = shares[k.index]!;
      k.link.post({
        type: FrameType.SESSION,
        sessionId,
        role: 'key-relay',
        leader,
        index: k.index,
        layout: this.#layout,
        ...this.#planField(),
      });
      // KEY as a frame of parts: the share is not copied into an encode buffer, and is zeroed once sent
      k.link.sendPartsWiping(FrameType.KEY, [share], [share]).catch(() => {});
      k.link.post({ type: FrameType.END, length: share.length, sha256: null });
    }
    // each data link's local end (`addr<local`): what tells its connection from the polls to the same relay
    const local = this.#data.map((d) => `${d.addr}<${d.link.conn.local}`).join(' ');
    this.#log.event('session-open', { dataLinks: this.#data.length, keyLinks: this.#keys.length, local });
  }

  #planField(): { plan?: string } {
    return this.#planText === undefined ? {} : { plan: this.#planText };
  }

  #unreachable(kind: string, addr: string, reason: unknown): void {
    this.#lost.push(addr);
    this.#log.event('relay-unreachable', {
      kind,
      addr,
      reason: reason instanceof Error ? reason.message : String(reason),
    });
  }

  /** Reads the payload, seals it (inner stream, then envelope), cuts chunks, and adds them to the window as room allows. */
  async #produce(sealer: EnvelopeSealer, inner: InnerSealer): Promise<void> {
    const cutter = new ChunkCutter(this.#chunkSize);
    const emit = async (piece: Uint8Array): Promise<void> => {
      const parts = cutter.push(piece);
      if (parts !== undefined) await this.#add(parts);
    };
    const wrap = async (pieces: Uint8Array[]): Promise<void> => {
      for (const p of pieces) for (const s of sealer.push(p)) await emit(s);
    };
    await emit(sealer.prefix());
    await wrap([inner.prefix()]);
    for await (const buf of this.#o.input) {
      if (this.#over) return;
      const plain = buf instanceof Uint8Array ? buf : new Uint8Array(0);
      const sealed = inner.push(plain);
      wipe(plain);
      await wrap(sealed);
    }
    await wrap(inner.finish());
    for (const s of sealer.finish()) await emit(s);
    const rest = cutter.flush();
    if (rest !== undefined) await this.#add(rest);
    this.#produced = true;
    this.#log.event('input-done', { bytes: inner.payloadLength, ciphertext: this.#window.next });
    this.#maybeEnd();
  }

  async #add(parts: Uint8Array[]): Promise<void> {
    while (!this.#window.hasRoom() && !this.#over) await this.#room.wait();
    if (this.#over) throw smigError('SMIG_ERR_MIGRATION', 'stopped');
    this.#window.add(parts);
    this.#work.notify();
  }

  /** One per data relay: sends the next queued chunk whenever this link can take more. */
  async #pump(d: DataLink): Promise<void> {
    try {
      if (isShaped(d.pacer)) {
        const shaped = {
          window: this.#window,
          work: this.#work,
          signal: this.#stop.signal,
          over: () => this.#over,
          idle: () => this.#endEarly(d),
          ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
        };
        return await pumpShaped(d, d.pacer, this.#plan!, shaped);
      }
      while (!this.#over && !d.lost) {
        const chunk = this.#window.take(d.index);
        if (chunk === undefined) {
          await this.#work.wait();
          continue;
        }
        await sendChunk(d, chunk, this.#stop.signal, () => this.#over);
      }
    } catch (err) {
      if (!this.#over) this.#relayLost(d, err instanceof Error ? err : undefined); // the send failed: the link is gone
    }
  }

  #onReply(link: Link, msg: Message): void {
    switch (msg.type) {
      case FrameType.PROGRESS:
        try {
          this.#window.ack(msg.offset);
        } catch (err) {
          this.#fail(smigError('SMIG_ERR_PROTOCOL_STATE', `${link.name}: ${(err as Error).message}`)); // a broken leader
          return;
        }
        this.#o.onProgress?.(this.#window.acked);
        this.#room.notify();
        this.#maybeEnd();
        return;
      case FrameType.DONE:
        this.#onDone(msg, link.name);
        return;
      case FrameType.END: // a data link's release: what the leader received on it (its close follows)
        for (const d of this.#data) if (d.link === link) d.released = msg.length;
        return;
      case FrameType.ERROR:
        this.#fail(link.peerError);
        return;
      default:
        return; // PING: answered by the link
    }
  }

  #onDone(msg: DoneMessage, via: string): void {
    if (this.#over) return;
    const { ok, length, exitStatus, message } = msg;
    this.#log.event('done', { via, ok, length, exitStatus, message });
    const verdict = judgeDone(msg, via, this.#produced, this.#inner);
    if (!verdict.ok) {
      if (verdict.invalidReceipt !== undefined)
        this.#log.event('receipt-invalid', { via, reason: verdict.invalidReceipt });
      this.#fail(verdict.failure);
      return;
    }
    this.#proof = verdict.proof;
    this.#over = true;
    this.#settle.resolve(msg);
    this.#wakeAll();
  }

  /** Once every byte is acknowledged: END{L} on every live data link without one (the one kept for re-sends). */
  #maybeEnd(): void {
    if (!this.#produced || this.#endSent || this.#over || this.#window.acked !== this.#window.next) return;
    this.#endSent = true;
    const length = this.#window.next;
    const share = Math.ceil(length / this.#data.length); // each link lasts at least the bound of an even share
    const heldMs = postEnds(this.#data, length, share, this.#plan, this.#o.clock, this.#posted);
    this.#log.event('end-sent', { ciphertext: length, heldMs });
  }

  /** A shaped link with nothing left to carry ends before every byte is acknowledged (`mayEndEarly`). */
  #endEarly(d: DataLink): void {
    if (this.#over || !shapedWithCover(this.#plan)) return;
    if (!mayEndEarly(d, this.#data, this.#produced, this.#window.queued)) return;
    const share = Math.ceil(this.#window.next / this.#data.length);
    const heldMs = postEnds([d], this.#window.next, share, this.#plan, this.#o.clock, this.#posted);
    this.#log.event('end-sent', { ciphertext: this.#window.next, heldMs, link: d.addr, acked: this.#window.acked });
  }

  readonly #posted = (fields: LogFields): void => this.#log.event('data-end', fields);

  #onDataEnd(d: DataLink, error: Error | undefined): void {
    if (this.#over) return;
    if (d.link.peerError !== undefined) this.#fail(d.link.peerError);
    else this.#relayLost(d, error);
  }

  #relayLost(d: DataLink, error: Error | undefined): void {
    if (d.lost) return;
    d.lost = true;
    // released (release.ts): the leader counted every byte this link carried, so none of its chunks needs a re-send;
    // any other end loses the link, and its unacknowledged chunks go to a link still open. `released` is set only by
    // the reply stream's END{n}, its final state, so how the connection closed after it does not matter: a cover
    // write that failed against the relay's close (the pump's catch, before the link's end) lost a released link
    // once in 41 lab sessions, and its chunks went out again
    if (d.ending === true && d.released === d.bytes) this.#log.event('data-link-released', { addr: d.addr });
    else {
      this.#lost.push(d.addr);
      const requeued = this.#window.requeue(d.index);
      const reason = d.released === undefined ? error?.message : `released with ${d.released} of ${d.bytes} bytes`;
      this.#log.event('relay-lost', { kind: 'data', addr: d.addr, requeued, reason });
    }
    this.#work.notify();
    const [shaped, last] = [shapedWithCover(this.#plan), `${d.addr}${error ? `: ${error.message}` : ''}`];
    const s = { data: this.#data, window: this.#window, produced: this.#produced, endSent: this.#endSent, shaped };
    const step = afterDataLoss({ ...s, polling: this.#polling }, last);
    if (step.kind === 'poll') this.#poll(step.unsure);
    else if (step.kind === 'fail') this.#fail(step.err);
    else if (step.kind === 'reopened') this.#log.event('end-taken-back', { link: step.link.addr });
  }

  /** Polls for the outcome (poll.ts), its DONE judged as on a data link; `unsure`: the failure if none comes. */
  #poll(unsure?: Error): void {
    const o = this.#o;
    this.#polling = true;
    this.#log.event('polling', { relays: o.dataRelays.length });
    pollOutcome({
      ...o,
      relays: o.dataRelays,
      leader: formatHostPort(this.#leader),
      sessionId: this.#sessionId,
      log: this.#log,
      signal: this.#stop.signal,
      ...(o.outcomeWaitMs === undefined ? {} : { waitMs: o.outcomeWaitMs }),
      pick: randomInt,
      acked: unsure === undefined,
    }).then(
      (r) => this.#onDone(r.msg, r.via),
      (err: unknown) => this.#fail(unsure ? unsureFailure(unsure, err) : err),
    );
  }

  #onKeyEnd(k: KeyLink, complete: boolean, error: Error | undefined): void {
    if (this.#over) return;
    if (k.link.peerError !== undefined) this.#fail(k.link.peerError);
    else if (complete) {
      // the leader has the key and released this key relay; the link was a short flow
      this.#log.event('key-link-released', { addr: k.addr });
    } else {
      this.#lost.push(k.addr);
      this.#log.event('relay-lost', { kind: 'key', addr: k.addr, reason: error?.message });
    }
  }

  /** Fails the session once (first error wins); returns the failure as SMIG_ERR_MIGRATION. */
  #fail(err: unknown): Error {
    const message = err instanceof Error ? err.message : String(err);
    const failure =
      isSmigError(err) && err.code === 'SMIG_ERR_MIGRATION' ? err : smigError('SMIG_ERR_MIGRATION', message, err);
    if (!this.#over) {
      this.#over = true;
      this.#settle.reject(failure);
      this.#wakeAll();
    }
    return failure;
  }

  #wakeAll(): void {
    this.#stop.abort();
    this.#work.notify();
    this.#room.notify();
  }
}
