/**
 * The controller's IDS input (paper §5.2 Algorithm 1 `push_notification_from_IDS`):
 * Suricata's EVE JSON log, one event per line, followed like `tail -F`.
 *
 * - {@link EveFollower} polls the file (`fs.watch` misses rotations on some file systems and is not
 *   portable): new bytes are read from the last offset; a new inode at the path (logrotate's rename +
 *   create) finishes the old file, then reads the new one from its start; a file shorter than the offset
 *   (copytruncate) is read again from 0. It starts at the end of the file: alerts written while the
 *   controller was down are old news, and Suricata alerts again on an attack that goes on.
 * - Lines are bounded ({@link LineSplitter}); a malformed, oversized or cut-short line is counted, reported
 *   as a warning and skipped: the follower never stops on bad input.
 * - {@link parseEveLine} reads an event strictly enough to act on it (EVE format: `event_type`, `src_ip`,
 *   `dest_ip`, `alert.signature`, `alert.signature_id`, `alert.severity`, and the optional `alert.target`
 *   of rules with the `target` keyword), and {@link AlertTriage} maps an alert to inventory hosts with a
 *   severity threshold and a per-host cool-down, so that one attack does not start twenty migrations.
 */

import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import type { TimerClock, TimerHandle } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { Inventory, InventoryHost } from './inventory.js';
import { canonicalIp } from './inventory.js';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter } from './lines.js';

/** An alert, as much of it as the controller uses. */
export interface EveAlert {
  /** EVE `timestamp` as written (`2017-04-07T22:24:37.251547+0100`), or null. */
  timestamp: string | null;
  /** Canonical IPs ({@link canonicalIp}), null when absent or not an IP. */
  srcIp: string | null;
  destIp: string | null;
  /** `alert.target.ip` (Suricata ≥ 6 with the rule keyword `target`), canonical, or null. */
  targetIp: string | null;
  signature: string;
  signatureId: number | null;
  category: string | null;
  /** Suricata priority: 1 is the most severe. */
  severity: number;
}

/** What one EVE line is. */
export type EveLine =
  | { kind: 'alert'; alert: EveAlert }
  | { kind: 'other'; eventType: string }
  | { kind: 'malformed'; reason: string };

/** Longest signature kept (they are one line of a rule; longer ones are cut). */
const MAX_SIGNATURE = 256;

/**
 * Parses one EVE line. Events other than alerts are `other`; an alert without a usable `alert.severity`
 * or signature is malformed (a rule without a priority still gets Suricata's default 3).
 * @example parseEveLine('{"event_type":"alert","src_ip":"10.0.0.5","dest_ip":"203.0.113.9","alert":{"signature":"x","severity":1}}')
 */
export function parseEveLine(text: string): EveLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON (${(err as Error).message.split('\n')[0]})` };
  }
  if (!isObject(v)) return { kind: 'malformed', reason: 'not a JSON object' };
  if (typeof v.event_type !== 'string') return { kind: 'malformed', reason: 'no event_type' };
  if (v.event_type !== 'alert') return { kind: 'other', eventType: v.event_type.slice(0, 64) };
  const a = v.alert;
  if (!isObject(a)) return { kind: 'malformed', reason: 'alert event without an alert object' };
  const sev = a.severity;
  if (typeof sev !== 'number' || !Number.isInteger(sev) || sev < 1 || sev > 255) {
    return { kind: 'malformed', reason: `alert.severity ${JSON.stringify(sev) ?? 'missing'} is not 1..255` };
  }
  const ip = (x: unknown): string | null => (typeof x === 'string' ? canonicalIp(x) : null);
  const target = isObject(a.target) ? ip(a.target.ip) : null;
  const srcIp = ip(v.src_ip);
  const destIp = ip(v.dest_ip);
  if (srcIp === null && destIp === null && target === null)
    return { kind: 'malformed', reason: 'alert without src_ip, dest_ip or alert.target.ip' };
  const sid = a.signature_id;
  return {
    kind: 'alert',
    alert: {
      timestamp: typeof v.timestamp === 'string' ? v.timestamp.slice(0, 64) : null,
      srcIp,
      destIp,
      targetIp: target,
      signature: typeof a.signature === 'string' ? a.signature.slice(0, MAX_SIGNATURE) : '',
      signatureId: typeof sid === 'number' && Number.isSafeInteger(sid) ? sid : null,
      category: typeof a.category === 'string' ? a.category.slice(0, MAX_SIGNATURE) : null,
      severity: sev,
    },
  };
}

/** A problem with the EVE input; the follower goes on. */
export interface EveWarning {
  kind: 'malformed' | 'oversized' | 'truncated' | 'rotated' | 'shrunk' | 'missing' | 'read-error';
  /** One line, naming the file and the line. */
  message: string;
  line?: number;
}

/** Counters of an EVE follower. */
export interface EveStats {
  lines: number;
  alerts: number;
  other: number;
  malformed: number;
  oversized: number;
  truncated: number;
  rotations: number;
  truncations: number;
  /** Byte offset in the current file. */
  offset: number;
}

/** Options of {@link EveFollower}. */
export interface EveFollowerOptions {
  onAlert(alert: EveAlert, line: number): void;
  onWarning(w: EveWarning): void;
  /** Poll interval. Default 250 ms. */
  pollMs?: number;
  /** Longest line accepted. Default 1 MiB. */
  maxLineBytes?: number;
  /** Read the file from its start instead of its end (tests, replaying a capture's log). */
  fromStart?: boolean;
  /** The poll timer's clock. Default the real one. */
  clock?: TimerClock;
}

const READ_CHUNK = 64 * 1024;

/**
 * Follows an EVE file across rotation and truncation.
 * @example
 * const f = new EveFollower('/var/log/suricata/eve.json', { onAlert: (a) => triage(a), onWarning: (w) => log(w) });
 * await f.start(); ... await f.close();
 */
export class EveFollower {
  readonly path: string;
  readonly #o: EveFollowerOptions;
  readonly #splitter: LineSplitter;
  readonly #stats: EveStats = {
    lines: 0,
    alerts: 0,
    other: 0,
    malformed: 0,
    oversized: 0,
    truncated: 0,
    rotations: 0,
    truncations: 0,
    offset: 0,
  };
  readonly #buf = Buffer.allocUnsafe(READ_CHUNK);
  #fh: FileHandle | null = null;
  #ino = -1;
  #first = true;
  #missingReported = false;
  /** The line begun before the offset we started at: its rest is no line of ours. */
  #skipLine = -1;
  #timer: TimerHandle | undefined;
  readonly #clock: TimerClock;
  #polling: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(path: string, o: EveFollowerOptions) {
    this.path = path;
    this.#o = o;
    this.#clock = o.clock ?? new RealClock();
    this.#splitter = new LineSplitter(
      {
        line: (text, n) => this.#onLine(text, n),
        oversized: (n, bytes) => {
          this.#stats.oversized++;
          this.#o.onWarning({
            kind: 'oversized',
            line: n,
            message: `${this.path} line ${n}: ${bytes} bytes, longer than ${this.#maxLine} (skipped)`,
          });
        },
      },
      this.#maxLine,
    );
  }

  get #maxLine(): number {
    return this.#o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  /** A copy of the counters. */
  get stats(): EveStats {
    return { ...this.#stats };
  }

  /** Opens the file (at its end unless `fromStart`) and starts polling. A missing file is waited for. */
  async start(): Promise<void> {
    await this.poll();
    this.#schedule();
  }

  /** One poll: reads what is new (exposed for tests that do not want to wait for the timer). */
  poll(): Promise<void> {
    this.#polling = this.#polling
      .then(() => this.#pollOnce())
      .catch((err: unknown) => {
        this.#o.onWarning({
          kind: 'read-error',
          message: `${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        });
      });
    return this.#polling;
  }

  /** Stops polling and closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    await this.#polling;
    await this.#fh?.close().catch(() => {});
    this.#fh = null;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.timer(this.#o.pollMs ?? 250, () => void this.poll().then(() => this.#schedule())).unref();
  }

  async #pollOnce(): Promise<void> {
    if (this.#closed) return;
    const st = await stat(this.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (this.#fh !== null && st !== null && st.ino !== this.#ino) {
      // rotated (renamed away and replaced): finish the old file first, Suricata may have written to it last
      await this.#readToEnd();
      this.#endFile('rotated');
      this.#stats.rotations++;
      this.#o.onWarning({ kind: 'rotated', message: `${this.path}: rotated, reading the new file from its start` });
    }
    if (st === null) {
      // renamed away and not yet replaced: keep reading the old file until a new one appears
      if (this.#fh !== null) await this.#readToEnd();
      else if (!this.#missingReported) {
        this.#missingReported = true;
        this.#o.onWarning({ kind: 'missing', message: `${this.path}: no such file yet, waiting for it` });
      }
      this.#first = false;
      return;
    }
    if (this.#fh === null) {
      this.#fh = await open(this.path, 'r');
      const st2 = await this.#fh.stat(); // the file opened, not the one stat() saw a moment ago
      this.#ino = st2.ino;
      this.#stats.offset = this.#first && !this.#o.fromStart ? st2.size : 0;
      if (this.#stats.offset > 0) {
        // started at the end, maybe in the middle of a line being written: its rest is not a line of ours
        const { bytesRead } = await this.#fh.read(this.#buf, 0, 1, this.#stats.offset - 1);
        if (bytesRead === 1 && this.#buf[0] !== 0x0a) this.#skipLine = this.#splitter.lineNo + 1;
      }
      this.#first = false;
    } else if (st.size < this.#stats.offset) {
      this.#stats.truncations++;
      this.#o.onWarning({
        kind: 'shrunk',
        message: `${this.path}: truncated to ${st.size} bytes, reading again from the start`,
      });
      this.#cutPending();
      this.#stats.offset = 0;
    }
    await this.#readToEnd();
  }

  async #readToEnd(): Promise<void> {
    const fh = this.#fh!;
    for (;;) {
      if (this.#closed) return;
      const { bytesRead } = await fh.read(this.#buf, 0, READ_CHUNK, this.#stats.offset);
      if (bytesRead === 0) return;
      this.#stats.offset += bytesRead;
      this.#splitter.push(this.#buf.subarray(0, bytesRead));
    }
  }

  #endFile(why: string): void {
    void this.#fh?.close().catch(() => {});
    this.#fh = null;
    this.#ino = -1;
    this.#cutPending(why);
    this.#stats.offset = 0;
  }

  #cutPending(why = 'truncated'): void {
    const pending = this.#splitter.cut();
    if (pending > 0) {
      this.#stats.truncated++;
      this.#o.onWarning({
        kind: 'truncated',
        line: this.#splitter.lineNo + 1,
        message: `${this.path} line ${this.#splitter.lineNo + 1}: cut short after ${pending} bytes (file ${why}; skipped)`,
      });
    }
  }

  #onLine(text: string, n: number): void {
    if (n === this.#skipLine) return;
    this.#stats.lines++;
    const e = parseEveLine(text);
    switch (e.kind) {
      case 'alert':
        this.#stats.alerts++;
        this.#o.onAlert(e.alert, n);
        return;
      case 'other':
        this.#stats.other++;
        return;
      default:
        this.#stats.malformed++;
        this.#o.onWarning({ kind: 'malformed', line: n, message: `${this.path} line ${n}: ${e.reason} (skipped)` });
    }
  }
}

/** What {@link AlertTriage} made of an alert. */
export interface TriageResult {
  /** Hosts to migrate now. */
  flagged: InventoryHost[];
  /** Inventory hosts the alert names but that are not flagged, and why. */
  suppressed: { host: InventoryHost; reason: 'cooldown' | 'severity' | 'not-source' | 'excluded' }[];
  /** IPs of the alert that no inventory host has (src_ip/dest_ip, or target). */
  unknown: string[];
}

/** Options of {@link AlertTriage}. */
export interface TriageOptions {
  /** Act on alerts whose `alert.severity` is at most this (1 is the most severe). */
  maxSeverity: number;
  /** After a host is flagged, its alerts are ignored for this long. */
  cooldownMs: number;
  /** The clock (ms) the cool-down is measured on; default Date.now (the controller passes its own). */
  now?: () => number;
}

/**
 * Maps alerts to inventory hosts. The hosts an alert names are those of its `alert.target.ip` when the
 * rule marks a target, otherwise those of `src_ip` and `dest_ip` (an inbound attack names the victim, an
 * outbound one the compromised host, lateral movement both). A host is flagged when the alert is severe
 * enough, the host may be a source, it is not excluded (a honeypot, already being migrated), and its
 * cool-down has passed; flagging starts the cool-down.
 */
export class AlertTriage {
  readonly #inv: Inventory;
  readonly #o: TriageOptions;
  readonly #last = new Map<string, number>();

  constructor(inv: Inventory, o: TriageOptions) {
    this.#inv = inv;
    this.#o = o;
  }

  /** Classifies an alert; `excluded(host)` says whether a host is out of play (honeypot, migrating). */
  triage(a: EveAlert, excluded: (host: InventoryHost) => boolean = () => false): TriageResult {
    const now = (this.#o.now ?? Date.now)();
    const ips = a.targetIp !== null ? [a.targetIp] : [a.srcIp, a.destIp].filter((x): x is string => x !== null);
    const r: TriageResult = { flagged: [], suppressed: [], unknown: [] };
    const seen = new Set<string>();
    for (const ip of ips) {
      const host = this.#inv.byIp.get(ip);
      if (host === undefined) {
        if (!r.unknown.includes(ip)) r.unknown.push(ip);
        continue;
      }
      if (seen.has(host.name)) continue;
      seen.add(host.name);
      const last = this.#last.get(host.name);
      if (a.severity > this.#o.maxSeverity) r.suppressed.push({ host, reason: 'severity' });
      else if (!host.roles.has('source')) r.suppressed.push({ host, reason: 'not-source' });
      else if (excluded(host)) r.suppressed.push({ host, reason: 'excluded' });
      else if (last !== undefined && now - last < this.#o.cooldownMs) r.suppressed.push({ host, reason: 'cooldown' });
      else {
        this.#last.set(host.name, now);
        r.flagged.push(host);
      }
    }
    return r;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
