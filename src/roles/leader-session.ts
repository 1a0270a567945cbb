/**
 * One leader session (leader.ts describes the flow): collects the relays' segments and key shares, rebuilds the
 * key, opens the envelope and forwards the plaintext to the destination, then relays its DONE. The registry in
 * leader.ts creates one per session id and hands it the links that join.
 */

import type { EnvelopeHeader } from '../crypto/envelope.js';
import { EnvelopeOpener, PREFIX_BYTES, tryOpenHeader } from '../crypto/envelope.js';
import { combineShares } from '../crypto/shares.js';
import { wipe } from '../crypto/wipe.js';
import { isSmigError, smigError } from '../errors.js';
import type { FramedConnection } from '../net/index.js';
import { formatHostPort, parseHostPort, tlsTransport } from '../net/index.js';
import { RealClock } from '../pacing/clock.js';
import { firstDataMs } from '../pacing/cut-sizes.js';
import { shapedWithCover } from '../pacing/hold.js';
import type { PacingPlan } from '../pacing/plan.js';
import type { Pacer } from '../pacing/strategies.js';
import type { DoneMessage, LeaderSession, Message, SessionLayout } from '../protocol/index.js';
import { errorMessageFor, FrameType, sameSessionId, sessionIdHex } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { PlainForwarder } from './leader-forward.js';
import type { LeaderOptions } from './leader-options.js';
import {
  badSharesError,
  CHUNK_SLACK,
  checkJoin,
  knownTotal,
  noKeyError,
  PACED_PROGRESS_DELAY_MS,
  PROGRESS_BYTES,
  PROGRESS_DELAY_MS,
} from './leader-options.js';
import { Link } from './link.js';
import type { LiveSession, Outcome } from './outcomes.js';
import type { AckEcho } from './pace.js';
import { hopPacer, hopSeed, pacingLogFields, pacingReport, startAckEcho } from './pace.js';
import { linksToRelease } from './release.js';
import { ReorderBuffer } from './reorder.js';
import type { Timer } from './util.js';
import { after, nowMs, Signal, scrubbed, secondsSince } from './util.js';

type Phase = 'collect' | 'forward' | 'finishing' | 'done' | 'failed';

interface RelayLink {
  via: 'data-relay' | 'key-relay';
  index: number;
  link: Link;
  echo?: AckEcho | undefined; // on a data relay's shaped link: PROGRESS rides on it
  released?: boolean;
  /** Ciphertext bytes its DATA_SEGMENTs brought (what END{n} answers when the link is released). */
  received: number;
}

export class LeaderSessionState implements LiveSession {
  readonly #o: LeaderOptions;
  readonly #id: Uint8Array;
  readonly #layout: SessionLayout;
  /** The plan's text as the first link brought it (every link must bring the same), and its pacer. */
  readonly #planText: string | undefined;
  readonly #plan: PacingPlan | undefined;
  readonly #pacer: Pacer;
  readonly #stop = new AbortController();
  readonly #forwarder: PlainForwarder;
  readonly #log: Logger;
  readonly #onGone: () => void;
  readonly #onOutcome: (o: Outcome) => void;
  readonly #links = new Map<string, RelayLink>(); // `${via}:${index}`
  readonly #keyFinished = new Set<number>();
  readonly #dataEnded = new Set<number>();
  readonly #shares = new Map<number, Uint8Array>();
  readonly #reorder: ReorderBuffer;
  readonly #wake = new Signal();
  #phase: Phase = 'collect';
  #failText = ''; // " (it failed: why)" as the relays were told (scrubbed): a link joining later is told the same
  #triedShares = 0;
  #keyTimer: Timer;
  #opener: EnvelopeOpener | undefined;
  #dest: Link | undefined;
  #destAddr: string | undefined;
  #destTexts: string[] = []; // every spelling of the destination's address, scrubbed from what relays read
  #total: number | null = null;
  #maxEnd = 0; // highest ciphertext offset received (end of a chunk)
  #progressSent = 0;
  #progressTimer: Timer | undefined;
  #lastPing = Number.NEGATIVE_INFINITY;
  readonly #started: number;

  constructor(
    o: LeaderOptions,
    id: Uint8Array,
    layout: SessionLayout,
    plan: { text: string | undefined; plan: PacingPlan | undefined },
    onGone: () => void,
    onOutcome: (o: Outcome) => void,
  ) {
    this.#o = o;
    this.#id = new Uint8Array(id); // decoded ids may be views of a frame buffer
    this.#layout = layout;
    this.#planText = plan.text;
    this.#plan = plan.plan;
    this.#pacer = hopPacer(plan.plan, this.#id, 'leader', 0, o.clock);
    this.#forwarder = new PlainForwarder(this.#pacer, plan.plan, this.#stop.signal, o.clock);
    this.#log = o.log.with({ session: sessionIdHex(id).slice(0, 16), role: 'leader' });
    this.#onGone = onGone;
    this.#onOutcome = onOutcome;
    this.#reorder = new ReorderBuffer(o.maxWindow + CHUNK_SLACK);
    this.#started = nowMs(o.clock);
    const keyWait = o.keyWaitMs + firstDataMs(plan.plan); // the key needs the envelope's first bytes too
    this.#keyTimer = after(o.clock, keyWait, () => this.#keyTimeout(keyWait));
    this.#log.event('leader-open', {
      dataRelays: layout.dataRelays,
      keyRelays: layout.keyRelays,
      threshold: layout.threshold,
    });
    this.#run().catch((err: unknown) => this.fail(err));
  }

  join(conn: FramedConnection, first: LeaderSession, release: () => void): void {
    checkJoin(first, this.#layout, this.#planText);
    if (this.#phase === 'done' || this.#phase === 'failed')
      throw smigError('SMIG_ERR_PROTOCOL_STATE', `leader: the session is over${this.#failText}`);
    const key = `${first.via}:${first.index}`;
    if (this.#links.has(key) || (first.via === 'key-relay' && this.#keyFinished.has(first.index))) {
      throw smigError('SMIG_ERR_PROTOCOL_STATE', `leader: ${first.via} ${first.index} joined twice`);
    }
    const link = new Link(conn, 'leader', `${first.via} ${first.index} (${conn.remote})`);
    link.state.accept(FrameType.SESSION);
    const r: RelayLink = { via: first.via, index: first.index, link, received: 0 };
    this.#links.set(key, r);
    link.start((msg) => this.#onRelay(r, msg));
    if (first.via === 'data-relay')
      r.echo = startAckEcho(
        this.#plan,
        link,
        hopSeed(this.#id, 'leader', 1000 + first.index),
        this.#o.clock ?? new RealClock(),
        this.#stop.signal,
      );
    void link.ended.then((end) => {
      release();
      this.#linkEnded(key, r, end.complete, end.error);
    });
    if (first.via === 'data-relay') this.#releaseLinks(); // key relays that came first waited for it
  }

  /** Ends the session with `err` (first failure wins): relays and destination are told, state is wiped. */
  fail(err: unknown): void {
    if (this.#phase === 'done' || this.#phase === 'failed') return;
    this.#phase = 'failed';
    const msg = errorMessageFor(err);
    const text = scrubbed(this.#destTexts, msg.message);
    this.#failText = ` (it failed: ${text})`;
    this.#onOutcome({ type: FrameType.ERROR, code: msg.code, message: text });
    this.#log.event('session-failed', { reason: err instanceof Error ? err.message : String(err) });
    for (const r of this.#links.values()) void r.link.conn.sendError(msg.code, text);
    void this.#dest?.fail(err);
    this.#cleanup();
  }

  // ---- relay links ----------------------------------------------------------------------------

  #onRelay(r: RelayLink, msg: Message): void {
    switch (msg.type) {
      case FrameType.DATA_SEGMENT: {
        if (r.via !== 'data-relay')
          throw smigError('SMIG_ERR_PROTOCOL_STATE', 'leader: DATA_SEGMENT on a key relay link');
        this.#checkMark(msg.sessionId, msg.index, r, 'DATA_SEGMENT');
        r.received += msg.bytes.length;
        if (this.#phase === 'done' || this.#phase === 'failed') return;
        const end = msg.offset + msg.bytes.length;
        if (this.#total !== null && end > this.#total) {
          const what = `DATA_SEGMENT [${msg.offset}, ${end}) beyond the ciphertext length ${this.#total}`;
          throw smigError('SMIG_ERR_FRAME_MALFORMED', `leader: ${what}`);
        }
        // a small body may be a view of a much larger read buffer: copy it, so the window bounds real memory
        const bytes = msg.bytes.buffer.byteLength > 2 * msg.bytes.length ? new Uint8Array(msg.bytes) : msg.bytes;
        if (this.#reorder.insert(msg.offset, bytes) > 0) this.#wake.notify();
        this.#maxEnd = Math.max(this.#maxEnd, end);
        return;
      }
      case FrameType.KEY_SEGMENT:
        if (r.via !== 'key-relay')
          throw smigError('SMIG_ERR_PROTOCOL_STATE', 'leader: KEY_SEGMENT on a data relay link');
        this.#checkMark(msg.sessionId, msg.index, r, 'KEY_SEGMENT');
        if (this.#phase === 'collect' && !this.#shares.has(msg.index))
          this.#shares.set(msg.index, new Uint8Array(msg.share)); // a copy (Buffer#slice would be a view)
        wipe(msg.share);
        this.#wake.notify();
        return;
      case FrameType.END:
        if (r.via === 'key-relay') this.#keyFinished.add(r.index);
        else if (this.#total === null) {
          if (msg.length < this.#maxEnd) {
            throw smigError(
              'SMIG_ERR_FRAME_MALFORMED',
              `leader: END length ${msg.length} is below the ${this.#maxEnd} bytes already received`,
            );
          }
          this.#total = msg.length;
        } else if (msg.length !== this.#total) {
          throw smigError(
            'SMIG_ERR_FRAME_MALFORMED',
            `leader: END length ${msg.length} differs from ${this.#total} on another link`,
          );
        }
        if (r.via === 'data-relay') this.#dataEnded.add(r.index);
        this.#releaseLinks();
        this.#wake.notify();
        return;
      default:
        return; // ERROR (the link's end follows), PING
    }
  }

  /** Ciphertext bytes consumed so far (what a poll gets while the session is not over: outcomes.ts). */
  get consumed(): number {
    return this.#reorder.base;
  }

  /** Closes the relay links with nothing left to carry (release.ts), a data link after END{bytes it brought}. */
  #releaseLinks(): void {
    const links = [...this.#links.values()];
    for (const r of linksToRelease(links, this.#keyFinished, this.#dataEnded, shapedWithCover(this.#plan))) {
      r.released = true;
      if (r.via === 'data-relay') {
        r.link.post({ type: FrameType.END, length: r.received, sha256: null });
        this.#log.event('data-link-released', { index: r.index, bytes: r.received });
      } else this.#log.event('key-link-released', { index: r.index });
      void r.link.close().catch(() => {});
    }
  }

  #checkMark(id: Uint8Array, index: number, r: RelayLink, what: string): void {
    if (!sameSessionId(id, this.#id))
      throw smigError('SMIG_ERR_PROTOCOL_STATE', `leader: ${what} names another session`);
    if (index !== r.index)
      throw smigError('SMIG_ERR_PROTOCOL_STATE', `leader: ${what} index ${index} on the link of ${r.via} ${r.index}`);
  }

  #linkEnded(key: string, r: RelayLink, complete: boolean, error: Error | undefined): void {
    this.#links.delete(key);
    if (r.via === 'key-relay') this.#keyFinished.add(r.index);
    if (this.#phase === 'done' || this.#phase === 'failed') {
      if (this.#links.size === 0) this.#onGone();
      return;
    }
    if (!complete) this.#log.event('link-lost', { via: r.via, index: r.index, reason: error?.message });
    // on a plan whose outcome goes by poll the session needs no relay link to finish once every byte is in
    const allIn = this.#total !== null && this.#reorder.contiguousEnd >= this.#total && shapedWithCover(this.#plan);
    if (this.#links.size === 0 && !allIn)
      this.fail(smigError('SMIG_ERR_MIGRATION', 'every relay link closed before the migration completed'));
    else this.#wake.notify();
  }

  // ---- the session's one loop -------------------------------------------------------------------

  async #run(): Promise<void> {
    while (this.#phase === 'collect' || this.#phase === 'forward') {
      if (this.#opener === undefined) {
        if (!(await this.#tryKey())) await this.#wake.wait();
        continue;
      }
      const pieces = this.#reorder.take();
      if (pieces.length > 0) {
        await this.#forward(pieces);
        continue;
      }
      if (this.#total !== null && this.#reorder.base === this.#total) {
        await this.#finish();
        return;
      }
      await this.#wake.wait();
    }
  }

  /** Step 2: rebuilds the key when it can; true once the destination link is open. */
  async #tryKey(): Promise<boolean> {
    const k = this.#layout.threshold;
    if (this.#shares.size < k || this.#shares.size <= this.#triedShares) {
      this.#checkKeyHopeless();
      return false;
    }
    const prefix = this.#reorder.peek(PREFIX_BYTES);
    if (prefix === undefined) return false;
    this.#triedShares = this.#shares.size;
    let header: EnvelopeHeader | undefined;
    let key: Uint8Array;
    const cpu = process.cpuUsage();
    try {
      key = await combineShares([...this.#shares.values()], k, (candidate) => {
        header = tryOpenHeader(candidate, this.#id, prefix);
        return header !== undefined;
      });
    } catch (err) {
      if (!isSmigError(err) || err.code !== 'SMIG_ERR_SHARES') throw err;
      this.#log.event('key-attempt-failed', { shares: this.#shares.size, reason: err.message });
      this.#checkKeyHopeless();
      return false;
    }
    if (this.#phase !== 'collect') {
      wipe(key);
      return false;
    }
    // the destination hashes what it writes against the trailer's digest (END): no second SHA-256 pass here
    this.#opener = new EnvelopeOpener(key, this.#id, { verifyDigest: false });
    wipe(key);
    for (const s of this.#shares.values()) wipe(s);
    this.#shares.clear();
    this.#keyTimer.cancel();
    const h = header!;
    this.#total = knownTotal(this.#total, h.length, h.segmentSize, this.#maxEnd);
    const used = process.cpuUsage(cpu);
    this.#log.event('key-rebuilt', {
      shares: this.#triedShares,
      length: h.length === null ? null : Number(h.length),
      cpuMs: Math.round((used.user + used.system) / 1000),
    });
    await this.#openDestination(h);
    this.#phase = 'forward';
    this.#releaseLinks();
    return true;
  }

  /** Fails at once when no further share can come and the ones at hand did not work. */
  #checkKeyHopeless(): void {
    if (this.#triedShares === 0 || this.#keyFinished.size < this.#layout.keyRelays) return;
    if (this.#shares.size > this.#triedShares) return;
    throw badSharesError(this.#layout.threshold, this.#shares.size);
  }

  #keyTimeout(waitMs: number): void {
    if (this.#phase !== 'collect') return;
    const prefix = this.#reorder.peek(PREFIX_BYTES) !== undefined;
    this.fail(noKeyError(waitMs, this.#shares.size, this.#layout.threshold, this.#triedShares > 0, prefix));
  }

  async #openDestination(h: EnvelopeHeader): Promise<void> {
    this.#destAddr = h.destination;
    this.#destTexts.push(h.destination);
    let conn: FramedConnection;
    try {
      const addr = parseHostPort(h.destination, 'destination');
      this.#destAddr = formatHostPort(addr);
      this.#destTexts.push(this.#destAddr);
      conn = await (this.#o.transport ?? tlsTransport).connect(addr, {
        key: this.#o.clusterKey,
        retries: 1,
        ...this.#o.channel,
      });
    } catch (err) {
      throw smigError(
        'SMIG_ERR_CONNECTION',
        `leader: cannot reach the destination: ${scrubbed(this.#destTexts, (err as Error).message)}`,
        err,
      );
    }
    if (this.#phase !== 'collect') {
      conn.destroy();
      return;
    }
    const dest = new Link(conn, 'reply', 'destination');
    this.#dest = dest;
    dest.start((msg) => this.#fromDestination(msg));
    void dest.ended.then((end) => {
      if (this.#phase === 'done' || this.#phase === 'failed') return;
      this.fail(
        end.early === true || end.error === undefined
          ? smigError('SMIG_ERR_CONNECTION', 'the destination closed the connection before DONE')
          : end.error,
      );
    });
    this.#log.event('destination-open', { destination: this.#destAddr, name: h.name });
    dest.post({
      type: FrameType.SESSION,
      sessionId: this.#id,
      role: 'destination',
      name: h.name,
      length: h.length === null ? null : Number(h.length),
      ...(this.#planText === undefined ? {} : { plan: this.#planText }),
    });
    this.#forwarder.start(dest, () => this.#phase === 'done' || this.#phase === 'failed');
  }

  /** Step 3: decrypts in-order ciphertext and forwards the plaintext. */
  async #forward(pieces: Uint8Array[]): Promise<void> {
    for (const piece of pieces) {
      const { plaintext } = this.#opener!.push(piece);
      // everything is in: tell the source now (its END waits for this), not after the paced writes or the delay
      if (this.#opener!.done) this.#progress(true);
      if (plaintext.length > 0) await this.#forwarder.send(plaintext);
    }
    this.#progress(false);
  }

  /** PROGRESS on every data link: when the consumed offset moved a MiB, or 50 ms after any move. */
  #progress(now: boolean): void {
    const base = this.#reorder.base;
    if (base <= this.#progressSent) return;
    if (now || base - this.#progressSent >= PROGRESS_BYTES) {
      this.#progressTimer?.cancel();
      this.#progressTimer = undefined;
      this.#progressSent = base;
      const last = this.#opener?.done === true;
      for (const r of this.#links.values()) {
        if (r.via !== 'data-relay') continue;
        const msg = { type: FrameType.PROGRESS, offset: base } as const;
        // on a shaped link, with the next echo: the relay's kernel ACKs it where the relay's plan has an ACK anyway;
        // but the last one (everything is in) at once, since the source's END waits for it
        if (r.echo === undefined) r.link.post(msg);
        else if (last)
          r.echo.sendNow(msg); // (and drops an older one still waiting)
        else r.echo.carry(msg);
      }
    } else if (this.#progressTimer === undefined) {
      this.#progressTimer = after(
        this.#o.clock,
        this.#planText === undefined ? PROGRESS_DELAY_MS : PACED_PROGRESS_DELAY_MS,
        () => {
          this.#progressTimer = undefined;
          if (this.#phase === 'forward') this.#progress(true);
        },
      );
    }
  }

  /** Step 4: the trailer, END to the destination. */
  async #finish(): Promise<void> {
    const fin = this.#opener!.finish();
    await this.#forwarder.send(fin.plaintext, true);
    this.#progress(true);
    this.#phase = 'finishing';
    const length = Number(fin.length);
    const hold = await this.#forwarder.holdEnd(this.#total ?? length); // covers to the ciphertext's lower bound
    if (this.#phase !== 'finishing') return; // failed while END was held
    this.#log.event('leader-end', { bytes: length, ciphertext: this.#total, ...hold });
    await this.#dest!.send({ type: FrameType.END, length, sha256: fin.sha256 });
  }

  #fromDestination(msg: Message): void {
    switch (msg.type) {
      case FrameType.DONE:
        this.#done(msg);
        return;
      case FrameType.PING: {
        // the destination is busy (fsync, --exec) and alive: keep the relay links alive, once a second at most
        const now = nowMs(this.#o.clock);
        if (now - this.#lastPing < 1000) return;
        this.#lastPing = now;
        for (const r of this.#links.values()) r.link.post(msg);
        return;
      }
      case FrameType.ERROR:
        this.fail(this.#dest!.peerError);
        return;
      default:
        return;
    }
  }

  #done(msg: DoneMessage): void {
    if (this.#phase !== 'finishing') {
      this.fail(smigError('SMIG_ERR_PROTOCOL_STATE', 'the destination sent DONE before END'));
      return;
    }
    this.#phase = 'done';
    const seconds = secondsSince(this.#started, this.#o.clock);
    this.#log.event('session-done', {
      ok: msg.ok,
      bytes: msg.length,
      exitStatus: msg.exitStatus,
      seconds: Number(seconds.toFixed(3)),
    });
    this.#log.event('pacing', pacingLogFields(pacingReport('leader → destination', this.#pacer)));
    const done: DoneMessage = { ...msg, message: scrubbed(this.#destTexts, msg.message) };
    this.#onOutcome(done);
    for (const r of this.#links.values())
      void r.link.send(done).then(
        () => r.link.close(),
        () => {},
      );
    void this.#dest!.close();
    this.#cleanup();
  }

  #cleanup(): void {
    this.#stop.abort();
    wipe(...this.#forwarder.clear());
    this.#keyTimer.cancel();
    this.#progressTimer?.cancel();
    this.#reorder.clear();
    this.#opener?.destroy();
    for (const s of this.#shares.values()) wipe(s);
    this.#shares.clear();
    this.#wake.notify();
    if (this.#links.size === 0) this.#onGone();
  }
}
