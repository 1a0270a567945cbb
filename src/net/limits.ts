/**
 * The caps of a channel listener and their defaults: sockets in all, in the TLS handshake and per peer address,
 * the size and deadline of the first frame, and the rate-limited report of refused peers (one line at once,
 * then one summary per interval while a flood lasts).
 */
/** Default cap on a listener's sockets (established and in the handshake). */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default cap on a listener's sockets still in the TLS handshake. */
export const DEFAULT_MAX_HANDSHAKES = 64;
/** Default cap on a listener's sockets from one peer address. */
export const DEFAULT_MAX_PER_ADDRESS = 32;
/**
 * Default limit of a listener's first inbound frame (length field): the largest opening frame of any smig
 * link (a SESSION with a 32 KiB plan, or a controller STATUS/INSTRUCT of 64 KiB of JSON) with room to spare.
 */
export const DEFAULT_OPENING_FRAME_MAX_LENGTH: number = 68 * 1024;
/** Default interval of the refused-peer summary. */
export const DEFAULT_REJECT_LOG_INTERVAL_MS = 10_000;

/**
 * A refused incoming connection: who, and why (one line, with the TLS/OS code). A summary of several
 * peers has `count` (> 1), `remote` = `N peers` and `reason` = the reasons with their counts.
 */
export interface RejectInfo {
  remote: string;
  reason: string;
  count?: number;
}

/** Caps of a listener (see the module comment); every field has a default. */
export interface ListenerLimits {
  /** Sockets at once, established or in the handshake. Default 256. */
  maxConnections?: number;
  /** Sockets in the TLS handshake at once. Default 64. */
  maxHandshakes?: number;
  /** Sockets at once from one peer address. Default 32. */
  maxPerAddress?: number;
  /** Largest first frame (length field) of an accepted connection. Default 68 KiB. */
  openingFrameMaxLength?: number;
  /**
   * The first frame must be complete within this long of the handshake. Default 3 × the handshake timeout
   * (a source connects to all its relays before it opens the session on any: one slow relay costs a
   * handshake timeout and a retry).
   */
  openingTimeoutMs?: number;
  /** Refusals reported individually at most once per this interval; the rest as one summary. Default 10 s; 0 reports each. */
  rejectLogIntervalMs?: number;
}

export function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`listenChannel: ${what} must be a whole number ≥ 1, got ${n}`);
  return n;
}

/**
 * Rate-limits refusal reports: the first of an interval goes out at once; later ones are counted by
 * reason and reported as one summary when the interval ends (and the next interval starts then).
 */
export class RejectLog {
  readonly #emit: (info: RejectInfo) => void;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #held = new Map<string, number>();
  #count = 0;

  constructor(emit: (info: RejectInfo) => void, intervalMs: number) {
    this.#emit = emit;
    this.#intervalMs = intervalMs;
  }

  add(info: RejectInfo): void {
    if (this.#intervalMs <= 0) {
      this.#emit(info);
      return;
    }
    if (this.#timer === undefined) {
      this.#emit(info);
      this.#start();
      return;
    }
    this.#count++;
    const key = info.reason.replace(/ within \d+ ms/, '');
    if (this.#held.has(key) || this.#held.size < 8) this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
  }

  #start(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#flush()) this.#start(); // still flooding: keep summarizing
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Emits the summary of the held refusals; false when there were none. */
  #flush(): boolean {
    if (this.#count === 0) return false;
    const reasons = [...this.#held]
      .sort((a, b) => b[1] - a[1])
      .map(([r, n]) => `${r} ×${n}`)
      .join('; ');
    const count = this.#count;
    this.#held = new Map();
    this.#count = 0;
    this.#emit({ remote: `${count} peers`, reason: reasons, count });
    return true;
  }
}
