/**
 * Live capture through `cap` (libpcap binding, an optionalDependency loaded on first use) into a pcap
 * written by {@link PcapWriter}.
 *
 * What cap 0.2.1 gives, and what we make of it:
 * - Each packet's bytes are copied by the native side into ONE Buffer handed to `open()`, then a
 *   `packet(nbytes, truncated)` event fires. libpcap's own record header (kernel timestamp, original
 *   length) is not passed on, and neither is `pcap_stats` (kernel drops).
 * - Timestamps are therefore taken here, when the event fires: a monotonic clock (process.hrtime)
 *   anchored once to the wall clock. cap opens the handle in immediate mode, so a process that keeps up
 *   stamps packets microseconds after the kernel; a busy event loop stamps a backlog late and close
 *   together. Gaps are exact to the nanosecond of *our* clock, not the kernel's.
 * - libpcap's snap length is fixed at 65535 by cap; the shorter `snaplen` is the size of our Buffer. The
 *   original length is the captured length unless that was cut (by our Buffer or by libpcap's 65535,
 *   which loopback's 64 KiB GSO frames exceed), then it is rebuilt from the IPv4 total length / IPv6
 *   payload length (link header + IP length); a cut packet that is not IP keeps its captured length.
 * - The native side holds a raw pointer into the Buffer: it must outlive the handle, so it is tied to
 *   the Cap instance (a WeakMap) and every Cap instance is kept for the life of the process (cap never
 *   uv_close()s its poll handle, and a failed `open()` leaves a half-open handle its destructor would
 *   stop uninitialised: collecting either would corrupt the heap). One Cap instance per open.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { smigError } from '../errors.js';
import { createDecoded, decodePacket } from './decode.js';
import type { Decoded } from './decode.js';
import { PcapWriter } from './writer.js';

/** The part of cap's API we use. */
interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): unknown;
}
interface CapModule {
  Cap: { new (): CapInstance; deviceList(): { name: string; description?: string; addresses: { addr: string }[]; flags?: string }[] };
}

/** The command that installs what live capture needs (Debian/Ubuntu). */
export const CAP_INSTALL_HINT: string = 'apt-get install libpcap-dev && npm install cap';
/** libpcap snap length cap 0.2.1 sets (not configurable through it). */
export const CAP_MAX_SNAPLEN = 65535;
/** Default kernel ring size (see {@link LiveCaptureOptions.bufferSize}). */
export const DEFAULT_BUFFER_SIZE: number = 64 * 1024 * 1024;

let capModule: Promise<CapModule> | undefined;
/** Every Cap ever opened: never collected (see the file comment). */
const PINNED = new Set<CapInstance>();
/** Keeps each Cap's packet Buffer alive as long as the Cap. */
const BUFFERS = new WeakMap<CapInstance, Buffer>();

/**
 * Loads `cap` once.
 * @throws SmigError SMIG_ERR_CAPTURE_LIVE when cap or libpcap is missing, naming the install command.
 */
export async function loadCap(): Promise<CapModule> {
  capModule ??= import('cap' as string).then(
    (m: { default?: CapModule } & Partial<CapModule>) => (m.default ?? m) as CapModule,
    (err: unknown) => {
      capModule = undefined;
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw smigError('SMIG_ERR_CAPTURE_LIVE', `live capture needs the optional package cap and libpcap (${why}); install them: ${CAP_INSTALL_HINT}`, err);
    },
  );
  return capModule;
}

/** One interface libpcap can open. */
export interface CaptureDevice {
  name: string;
  description?: string;
  addresses: string[];
  loopback: boolean;
}

/** The interfaces libpcap sees in this network namespace (`pcap_findalldevs`). */
export async function listDevices(): Promise<CaptureDevice[]> {
  const { Cap } = await loadCap();
  return Cap.deviceList().map((d) => ({
    name: d.name,
    ...(d.description ? { description: d.description } : {}),
    addresses: d.addresses.map((a) => a.addr),
    loopback: (d.flags ?? '').includes('LOOPBACK'),
  }));
}

/** Options of {@link LiveCapture.open}. */
export interface LiveCaptureOptions {
  /** Interface name as libpcap knows it (`lo`, `eth0`, `any`). */
  interface: string;
  /** libpcap filter expression (pcap-filter(7)), compiled by libpcap; empty: every packet. */
  filter?: string;
  /** A file path (created, truncated, closed at the end) or a stream (written, left open). */
  output: string | Writable;
  /** Bytes kept of each packet, 1..65535 (default 65535). */
  snaplen?: number;
  /** Write nanosecond timestamps (pcap magic a1b23c4d); default microseconds. */
  nanosecond?: boolean;
  /** Stop after this many packets. */
  count?: number;
  /** Stop after this long (integer nanoseconds). */
  durationNs?: bigint;
  /**
   * libpcap's kernel ring in bytes (default 64 MiB). cap opens libpcap in immediate mode, which on Linux
   * means TPACKET_V2: one slot per packet, sized to the MTU when the interface has no offload on, else
   * to the 65535 snap length. 64 MiB then holds ~1,000 packets on `lo` or an offloading NIC and tens of
   * thousands on a 1500-MTU interface with offloads off (smig lab links when ethtool is installed):
   * how far a stalled process can fall behind before the kernel drops.
   */
  bufferSize?: number;
  /** Packets are dropped (and counted) rather than queued when the output lags by more than this (default 64 MiB). */
  maxQueuedBytes?: number;
  /** Test hook and clock injection: returns integer nanoseconds since the epoch. */
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
  /** Kernel drops: null, because cap does not expose pcap_stats. */
  kernelDropped: null;
  /** First and last instants of the capture window, ns since the epoch. */
  startNs: bigint;
  endNs: bigint;
  reason: StopReason;
}

// pcap linktypes of the strings cap's open() returns (tcpdump.org LINKTYPE registry)
const LINKTYPES: Record<string, number> = { NULL: 0, ETHERNET: 1, RAW: 101, LINKTYPE_LINUX_SLL: 113, IEEE802_11_RADIO: 127 };

/** Maps cap's link-type string to a LINKTYPE_* number; `Unknown linktype N` carries the DLT (equal to the LINKTYPE for these). */
export function capLinktype(name: string): number {
  const known = LINKTYPES[name];
  if (known !== undefined) return known;
  const m = /^Unknown linktype (\d+)$/.exec(name);
  if (m) return Number(m[1]);
  throw smigError('SMIG_ERR_CAPTURE_LIVE', `cap reported an unknown link type '${name}'`);
}

/**
 * The original length of a packet whose captured bytes were cut: link header + IP length field (IPv4
 * total length, 40 + IPv6 payload length), never below what was captured. Not IP, or a header cut
 * short: the captured length.
 */
export function originalLength(linktype: number, data: Uint8Array, d: Decoded = createDecoded()): number {
  decodePacket(linktype, data, d);
  if (d.ipTotalLength < 0 || d.srcOffset < 0) return data.length;
  const ipStart = d.srcOffset - (d.network === 'ipv4' ? 12 : 8);
  return Math.max(data.length, ipStart + d.ipTotalLength);
}

function wallClockNs(): () => bigint {
  // one anchor (µs-precise wall clock), then the monotonic clock: no steps, no drift within a capture
  const anchor = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  const hr0 = process.hrtime.bigint();
  return () => anchor + (process.hrtime.bigint() - hr0);
}

function openError(iface: string, filter: string, err: unknown): Error {
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (/permission|not permitted/i.test(why)) return smigError('SMIG_ERR_PERMISSION', `-i ${iface}: ${why} (capturing needs root or CAP_NET_RAW)`, err);
  if (/no such device|doesn't exist/i.test(why)) return smigError('SMIG_ERR_USAGE', `-i ${iface}: ${why}`, err);
  if (filter !== '' && /syntax error|filter|parse|unknown|illegal|expression/i.test(why)) return smigError('SMIG_ERR_FILTER', `-f '${filter}': ${why}`, err);
  return smigError('SMIG_ERR_CAPTURE_LIVE', `-i ${iface}: ${why}`, err);
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

  readonly #cap: CapInstance;
  readonly #buffer: Buffer;
  readonly #out: Writable;
  readonly #ownsOut: boolean;
  readonly #writer: PcapWriter;
  readonly #opts: LiveCaptureOptions;
  readonly #now: () => bigint;
  readonly #maxQueued: number;
  readonly #decoded = createDecoded();
  #timer: NodeJS.Timeout | undefined;
  /** stop() was called. */
  #stopping = false;
  /** No packet is taken any more. */
  #stopped = false;
  /** Packet events so far (to see when the ring is drained). */
  #seen = 0;
  #error: unknown;
  #resolve!: (s: LiveCaptureSummary) => void;
  #reject!: (e: unknown) => void;
  readonly #summary: LiveCaptureSummary;

  private constructor(cap: CapInstance, buffer: Buffer, linktype: number, out: Writable, ownsOut: boolean, opts: LiveCaptureOptions, now: () => bigint) {
    this.#cap = cap;
    this.#buffer = buffer;
    this.linktype = linktype;
    this.#out = out;
    this.#ownsOut = ownsOut;
    this.#opts = opts;
    this.#now = now;
    this.#maxQueued = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.#writer = new PcapWriter(out, { linktype, snaplen: buffer.length, nanosecond: opts.nanosecond ?? false });
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const start = now();
    this.#summary = {
      interface: opts.interface, filter: opts.filter ?? '', linktype, snaplen: buffer.length,
      packets: 0, bytes: 0, capturedBytes: 0, truncated: 0, writerDropped: 0, kernelDropped: null,
      startNs: start, endNs: start, reason: 'stopped',
    };
    out.on('error', (err) => this.#fail(err));
    cap.on('packet', (n, cut) => this.#onPacket(n, cut));
    if (opts.durationNs !== undefined) {
      this.#timer = setTimeout(() => void this.stop('duration'), Math.max(1, Number(opts.durationNs / 1_000_000n)));
    }
  }

  /**
   * Opens `opts.interface` and starts capturing (packets flow once this resolves).
   * @throws SmigError SMIG_ERR_CAPTURE_LIVE (cap/libpcap missing, libpcap failure), SMIG_ERR_USAGE (no such
   *   interface, bad snaplen/count), SMIG_ERR_FILTER (libpcap rejected the filter), SMIG_ERR_PERMISSION.
   */
  static async open(opts: LiveCaptureOptions): Promise<LiveCapture> {
    const snaplen = opts.snaplen ?? CAP_MAX_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > CAP_MAX_SNAPLEN) {
      throw smigError('SMIG_ERR_USAGE', `--snaplen: expected 1..${CAP_MAX_SNAPLEN} (cap fixes libpcap's snap length at ${CAP_MAX_SNAPLEN}), got ${snaplen}`);
    }
    if (opts.count !== undefined && (!Number.isSafeInteger(opts.count) || opts.count < 1)) {
      throw smigError('SMIG_ERR_USAGE', `--count: expected a whole number ≥ 1, got ${opts.count}`);
    }
    const { Cap } = await loadCap();
    const filter = opts.filter ?? '';
    const devices = Cap.deviceList().map((d) => d.name);
    if (!devices.includes(opts.interface)) {
      throw smigError('SMIG_ERR_USAGE', `-i ${opts.interface}: no such interface here (libpcap sees: ${devices.join(', ') || 'none'})`);
    }
    const cap = new Cap();
    const buffer = Buffer.alloc(snaplen);
    PINNED.add(cap);
    BUFFERS.set(cap, buffer);
    let linkName: string;
    try {
      linkName = cap.open(opts.interface, filter, opts.bufferSize ?? DEFAULT_BUFFER_SIZE, buffer);
    } catch (err) {
      throw openError(opts.interface, filter, err);
    }
    const linktype = capLinktype(linkName);
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
        cap.close();
        throw smigError('SMIG_ERR_FILE', `-w ${path}: ${(err as Error).message}`, err);
      }
    } else {
      out = opts.output;
    }
    return new LiveCapture(cap, buffer, linktype, out, ownsOut, opts, opts.now ?? wallClockNs());
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
      void this.#drainThenClose(this.#error === undefined ? reason : 'error');
    }
    return this.done;
  }

  async #drainThenClose(reason: StopReason): Promise<void> {
    if (reason !== 'count' && reason !== 'error') {
      const limit = this.#now() + 500_000_000n;
      for (let quiet = 0; quiet < 2 && this.#now() < limit && this.#error === undefined;) {
        const seen = this.#seen;
        await new Promise<void>((r) => setImmediate(r));
        quiet = this.#seen === seen ? quiet + 1 : 0;
      }
    }
    this.#stopped = true;
    this.#summary.reason = this.#error === undefined ? reason : 'error';
    this.#summary.endNs = this.#now();
    this.#cap.close();
    await this.#finish();
  }

  #onPacket(nbytes: number, cutByBuffer: boolean): void {
    if (this.#stopped) return;
    this.#seen++;
    const ts = this.#now();
    const data = this.#buffer.subarray(0, nbytes);
    const s = this.#summary;
    // cut by our Buffer, or possibly by libpcap's fixed 65535: rebuild the wire length from the IP header
    const origLen = cutByBuffer || nbytes >= CAP_MAX_SNAPLEN ? originalLength(this.linktype, data, this.#decoded) : nbytes;
    if (this.#out.writableLength > this.#maxQueued) {
      s.writerDropped++;
    } else {
      this.#writer.writePacket(ts, data, origLen);
      s.packets++;
      s.bytes += origLen;
      s.capturedBytes += nbytes;
      if (origLen > nbytes) s.truncated++;
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
    // the native side releases its pointer into the Buffer when close() returns, or at the end of the
    // dispatch loop when close() ran inside a packet event; after a turn the Buffer may go
    await new Promise<void>((r) => setImmediate(r));
    BUFFERS.delete(this.#cap);
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
