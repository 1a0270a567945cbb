/**
 * Live capture through libpcap (the `pcap` package's native binding, an optionalDependency loaded on first
 * use) into a pcap written by {@link PcapWriter}.
 *
 * What the binding gives, and how it is used:
 * - `dispatch(buffer, header)` runs pcap_dispatch: for each packet the native side copies the bytes into
 *   `buffer` and libpcap's own record header into the 16-byte `header` (seconds, microseconds, caplen,
 *   len, host byte order), then calls our callback. The timestamps are therefore the kernel's, exactly
 *   as tcpdump writes them (microseconds: the binding does not ask libpcap for nanoseconds), and the
 *   lengths are libpcap's. `pcap_stats` gives the kernel's drop count.
 * - The handle is opened non-blocking in immediate mode (one ring slot per packet, handed over at once).
 *   We poll it with `dispatch` on a 1 ms timer rather than the binding's own uv poll: that poll handle
 *   stays referenced until a packet arrives after close() (libpcap only notices pcap_breakloop when it
 *   reads a packet), which would keep a process with a quiet capture alive for ever. A timer costs a
 *   little latency, never accuracy: the stamps are taken by the kernel.
 * - close() only sets libpcap's break flag; the native side closes the handle (and its ring) on the next
 *   dispatch that sees a packet. After stop() an unreferenced slow timer keeps dispatching until then,
 *   and the two Buffers stay referenced by it: the native side writes into them during every dispatch.
 */

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { smigError } from '../errors.js';
import { loadPcap, type NativeSession, openError, pcapLinktype, readRecordHeader } from './pcap-binding.js';
import { PcapWriter } from './writer.js';

export {
  CAPTURE_INSTALL_HINT,
  type CaptureDevice,
  listDevices,
  loadPcap,
  pcapLinktype,
  type RecordHeader,
  readRecordHeader,
} from './pcap-binding.js';

/** Largest snap length accepted (libpcap's MAXIMUM_SNAPLEN, tcpdump's default). */
export const MAX_SNAPLEN = 262144;
/** Default kernel ring size (see {@link LiveCaptureOptions.bufferSize}). */
export const DEFAULT_BUFFER_SIZE: number = 64 * 1024 * 1024;
/** Poll interval while capturing, ms. */
const POLL_MS = 1;
/** Poll interval after close(), until the native side has closed the handle, ms. */
const CLOSE_POLL_MS = 200;

/** A native session with the Buffers it writes into; `finalized` once a dispatch returned -2 (handle closed). */
interface Handle {
  session: NativeSession;
  buffer: Buffer;
  header: Buffer;
  finalized: boolean;
}

/** Every session not yet closed by the native side, with its Buffers: never collected before that. */
const OPEN = new Set<Handle>();

/** Options of {@link LiveCapture.open}. */
export interface LiveCaptureOptions {
  /** Interface name as libpcap knows it (`lo`, `eth0`, `any`). */
  interface: string;
  /** libpcap filter expression (pcap-filter(7)), compiled by libpcap; empty: every packet. */
  filter?: string;
  /** A file path (created, truncated, closed at the end) or a stream (written, left open). */
  output: string | Writable;
  /** Bytes kept of each packet, 1..262144 (default 262144, as tcpdump). */
  snaplen?: number;
  /** Write a nanosecond pcap (magic a1b23c4d); the stamps stay libpcap's microseconds. Default microseconds. */
  nanosecond?: boolean;
  /** Stop after this many packets. */
  count?: number;
  /** Stop after this long (integer nanoseconds). */
  durationNs?: bigint;
  /**
   * libpcap's kernel ring in bytes (default 64 MiB). In immediate mode libpcap on Linux uses TPACKET_V2:
   * one slot per packet, sized to the MTU when the interface has no offload on, else to the snap length.
   * 64 MiB then holds ~250 packets on `lo` (64 KiB frames, 256 KiB slots at the default snap length),
   * more with a smaller -s, and tens of thousands on a 1500-MTU interface with offloads off (smig lab
   * links when ethtool is installed): how far a stalled process can fall behind before the kernel drops.
   */
  bufferSize?: number;
  /** Packets are dropped (and counted) rather than queued when the output lags by more than this (default 64 MiB). */
  maxQueuedBytes?: number;
  /** Clock for the capture window in the summary (not for packets: they carry libpcap's stamps); ns since the epoch. */
  now?: () => bigint;
}

/** Why a capture ended. */
export type StopReason = 'count' | 'duration' | 'signal' | 'stopped' | 'error';

/** What a finished capture reports (also `smig capture --json`). */
export interface LiveCaptureSummary {
  interface: string;
  filter: string;
  /** LINKTYPE_* of the file. */
  linktype: number;
  snaplen: number;
  /** Packets written to the file. */
  packets: number;
  /** Sum of original lengths of those packets. */
  bytes: number;
  /** Sum of captured lengths. */
  capturedBytes: number;
  /** Packets whose captured length is below their original length. */
  truncated: number;
  /** Packets dropped by smig because the output lagged more than `maxQueuedBytes`. */
  writerDropped: number;
  /** Kernel drops (pcap_stats ps_drop: no room in the ring) up to the stop; null when pcap_stats failed. */
  kernelDropped: number | null;
  /** First and last instants of the capture window, ns since the epoch. */
  startNs: bigint;
  endNs: bigint;
  reason: StopReason;
}

function wallClockNs(): () => bigint {
  // one anchor (µs-precise wall clock), then the monotonic clock: no steps, no drift within a capture
  const anchor = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  const hr0 = process.hrtime.bigint();
  return () => anchor + (process.hrtime.bigint() - hr0);
}

/**
 * A running capture. Open with {@link LiveCapture.open}; it ends by `count`, `durationNs` or {@link stop};
 * {@link done} resolves once the file is complete (flushed and closed) with the summary.
 * @example
 * const c = await LiveCapture.open({ interface: 'lo', filter: 'tcp port 7100', output: 'lo.pcap', durationNs: 5_000_000_000n });
 * const summary = await c.done;
 */
export class LiveCapture {
  /** LINKTYPE_* of the interface (and of the file). */
  readonly linktype: number;
  /** Resolves with the summary when the capture has ended and the output is flushed; rejects on a write error. */
  readonly done: Promise<LiveCaptureSummary>;

  readonly #handle: Handle;
  readonly #out: Writable;
  readonly #ownsOut: boolean;
  readonly #writer: PcapWriter;
  readonly #opts: LiveCaptureOptions;
  readonly #now: () => bigint;
  readonly #maxQueued: number;
  #timer: NodeJS.Timeout | undefined;
  #poller: NodeJS.Timeout | undefined;
  /** stop() was called. */
  #stopping = false;
  /** No packet is taken any more. */
  #stopped = false;
  /** Packets handed over so far (to see when the ring is drained). */
  #seen = 0;
  #error: unknown;
  #resolve!: (s: LiveCaptureSummary) => void;
  #reject!: (e: unknown) => void;
  readonly #summary: LiveCaptureSummary;

  private constructor(
    handle: Handle,
    linktype: number,
    out: Writable,
    ownsOut: boolean,
    opts: LiveCaptureOptions,
    now: () => bigint,
  ) {
    this.#handle = handle;
    this.linktype = linktype;
    this.#out = out;
    this.#ownsOut = ownsOut;
    this.#opts = opts;
    this.#now = now;
    this.#maxQueued = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    const snaplen = handle.buffer.length;
    this.#writer = new PcapWriter(out, { linktype, snaplen, nanosecond: opts.nanosecond ?? false });
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const start = now();
    this.#summary = {
      interface: opts.interface,
      filter: opts.filter ?? '',
      linktype,
      snaplen,
      packets: 0,
      bytes: 0,
      capturedBytes: 0,
      truncated: 0,
      writerDropped: 0,
      kernelDropped: 0,
      startNs: start,
      endNs: start,
      reason: 'stopped',
    };
    out.on('error', (err) => this.#fail(err));
    this.#poller = setInterval(() => this.#poll(), POLL_MS);
    if (opts.durationNs !== undefined) {
      this.#timer = setTimeout(() => void this.stop('duration'), Math.max(1, Number(opts.durationNs / 1_000_000n)));
    }
  }

  /**
   * Opens `opts.interface` and starts capturing (packets flow once this resolves).
   * @throws SmigError SMIG_ERR_CAPTURE_LIVE (pcap/libpcap missing, libpcap failure), SMIG_ERR_USAGE (no such
   *   interface, bad snaplen/count), SMIG_ERR_FILTER (libpcap rejected the filter), SMIG_ERR_PERMISSION.
   */
  static async open(opts: LiveCaptureOptions): Promise<LiveCapture> {
    const snaplen = opts.snaplen ?? MAX_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN) {
      throw smigError('SMIG_ERR_USAGE', `--snaplen: expected 1..${MAX_SNAPLEN}, got ${snaplen}`);
    }
    if (opts.count !== undefined && (!Number.isSafeInteger(opts.count) || opts.count < 1)) {
      throw smigError('SMIG_ERR_USAGE', `--count: expected a whole number ≥ 1, got ${opts.count}`);
    }
    const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 2 ** 31 - 1) {
      throw smigError('SMIG_ERR_USAGE', `--buffer-size: expected 1 B … 2 GiB, got ${bufferSize}`);
    }
    const b = await loadPcap();
    const filter = opts.filter ?? '';
    const devices = b.findalldevs().map((d) => d.name);
    if (!devices.includes(opts.interface)) {
      throw smigError(
        'SMIG_ERR_USAGE',
        `-i ${opts.interface}: no such interface here (libpcap sees: ${devices.join(', ') || 'none'})`,
      );
    }
    const session = new b.PcapSession();
    const handle: Handle = { session, buffer: Buffer.alloc(snaplen), header: Buffer.alloc(16), finalized: false };
    let capture: LiveCapture | undefined;
    let linkName: string;
    try {
      // not promiscuous (tcpdump -p): a capture sees its own host's traffic; bufferTimeout 0 = immediate mode.
      // The warning (pcap_lookupnet: no IPv4 address) only matters to filters naming 'net' by mask.
      linkName = session.open_live(
        opts.interface,
        filter,
        bufferSize,
        snaplen,
        '',
        () => capture?.onPacket(),
        false,
        0,
        () => {},
        false,
      );
    } catch (err) {
      throw openError(opts.interface, filter, err);
    }
    OPEN.add(handle);
    let linktype: number;
    try {
      linktype = pcapLinktype(linkName);
    } catch (err) {
      LiveCapture.#release(handle);
      throw err;
    }
    let out: Writable;
    const ownsOut = typeof opts.output === 'string';
    if (typeof opts.output === 'string') {
      const path = opts.output;
      out = createWriteStream(path);
      try {
        await new Promise<void>((resolve, reject) => {
          out.once('open', () => resolve());
          out.once('error', reject);
        });
      } catch (err) {
        LiveCapture.#release(handle);
        throw smigError('SMIG_ERR_FILE', `-w ${path}: ${(err as Error).message}`, err);
      }
    } else {
      out = opts.output;
    }
    capture = new LiveCapture(handle, linktype, out, ownsOut, opts, opts.now ?? wallClockNs());
    return capture;
  }

  /**
   * Asks the native side to close the handle and keeps dispatching (unreferenced, every 200 ms) until it
   * has: it does so on the first packet it reads after close(). The Buffers stay referenced until then.
   */
  static #release(handle: Handle): void {
    if (handle.finalized) {
      OPEN.delete(handle);
      return;
    }
    handle.session.close();
    const t = setInterval(() => {
      // a dispatch on a handle the native side already closed would dereference a null pcap_t
      if (!handle.finalized) {
        try {
          if (handle.session.dispatch(handle.buffer, handle.header) !== -2) return;
        } catch {
          // an error after close(): give the handle up
        }
        handle.finalized = true;
      }
      clearInterval(t);
      OPEN.delete(handle);
    }, CLOSE_POLL_MS);
    t.unref();
  }

  /** Counts so far (a snapshot; final values come from {@link done}). */
  get summary(): LiveCaptureSummary {
    return { ...this.#summary };
  }

  /**
   * Ends the capture (idempotent) and resolves as {@link done} does. Except after `count` or an error,
   * packets already waiting in the kernel ring are taken first: the capture closes once two event-loop
   * turns pass without a packet (at most 500 ms later), so a capture stopped right after its traffic
   * still holds all of it.
   */
  stop(reason: StopReason = 'stopped'): Promise<LiveCaptureSummary> {
    if (!this.#stopping) {
      this.#stopping = true;
      clearTimeout(this.#timer);
      clearInterval(this.#poller);
      void this.#drainThenClose(this.#error === undefined ? reason : 'error');
    }
    return this.done;
  }

  /** Reads every packet waiting in the ring; false when libpcap reported an error. */
  #poll(): boolean {
    const h = this.#handle;
    if (this.#stopped || h.finalized) return true;
    let r: number;
    try {
      r = h.session.dispatch(h.buffer, h.header);
    } catch (err) {
      this.#fail(smigError('SMIG_ERR_CAPTURE_LIVE', `-i ${this.#opts.interface}: ${(err as Error).message}`, err));
      return false;
    }
    if (r === -2) h.finalized = true; // close() ran inside a packet callback: the native side closed the handle
    if (r === -1) {
      this.#fail(
        smigError('SMIG_ERR_CAPTURE_LIVE', `-i ${this.#opts.interface}: libpcap read error (the interface went away?)`),
      );
      return false;
    }
    return true;
  }

  async #drainThenClose(reason: StopReason): Promise<void> {
    // read what the kernel holds, until two event-loop turns bring no packet (at most 500 ms): the stamps
    // are the kernel's, so reading late costs nothing, and traffic that was held up by a busy loop lands too
    if (reason !== 'count' && reason !== 'error') {
      const limit = this.#now() + 500_000_000n;
      for (let quiet = 0; quiet < 2 && this.#now() < limit && this.#error === undefined; ) {
        const seen = this.#seen;
        if (!this.#poll()) break;
        await new Promise<void>((r) => setImmediate(r));
        quiet = this.#seen === seen ? quiet + 1 : 0;
      }
    }
    this.#stopped = true;
    this.#summary.reason = this.#error === undefined ? reason : 'error';
    this.#summary.endNs = this.#now();
    try {
      this.#summary.kernelDropped = this.#handle.session.stats().ps_drop;
    } catch {
      this.#summary.kernelDropped = null;
    }
    LiveCapture.#release(this.#handle);
    await this.#finish();
  }

  /** Called by the native side during dispatch, with the packet in the buffer and libpcap's header. */
  private onPacket(): void {
    if (this.#stopped) return;
    this.#seen++;
    const h = this.#handle;
    const { tsNs, caplen, len } = readRecordHeader(h.header);
    const nbytes = Math.min(caplen, h.buffer.length);
    const s = this.#summary;
    if (this.#out.writableLength > this.#maxQueued) {
      s.writerDropped++;
    } else {
      this.#writer.writePacket(tsNs, h.buffer.subarray(0, nbytes), len);
      s.packets++;
      s.bytes += len;
      s.capturedBytes += nbytes;
      if (len > nbytes) s.truncated++;
    }
    if (this.#opts.count !== undefined && s.packets >= this.#opts.count) {
      // stop at once: not one packet more
      this.#stopped = true;
      void this.stop('count');
    }
  }

  #fail(err: unknown): void {
    this.#error ??= err;
    this.#stopped = true;
    void this.stop('error');
  }

  async #finish(): Promise<void> {
    try {
      if (this.#error === undefined) await this.#flush();
    } catch (err) {
      this.#error ??= err;
    }
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#reject(smigError('SMIG_ERR_FILE', `writing the capture: ${e instanceof Error ? e.message : String(e)}`, e));
    } else {
      this.#resolve({ ...this.#summary });
    }
  }

  async #flush(): Promise<void> {
    const out = this.#out;
    if (this.#ownsOut) {
      await new Promise<void>((resolve, reject) => {
        out.once('error', reject);
        out.end(() => resolve());
      });
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()));
    } else if (out.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          out.off('drain', done);
          out.off('close', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
      });
    }
  }
}
