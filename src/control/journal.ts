/**
 * The controller's session journal: an append-only file
 * of JSON lines, each record written and `fdatasync`ed before the controller acts on it (write-ahead), and
 * replayed at start into the state of every session.
 *
 * Records (`v` is implicit 1; `t` is the wall-clock time in ms):
 * ```
 * {"rec":"session","id","trigger","attempt","source":{"host","name"},"reason",plan|null,"deadline"}  planned
 * {"rec":"sending","id"}                       the source is about to be instructed (written before it is)
 * {"rec":"result","id","ok":true,"outcome"}    DONE ok came back
 * {"rec":"result","id","ok":false,"error","retry"}   the session failed (retry: a new attempt follows)
 * {"rec":"hook","id","event","index","phase":"start"} / {..."phase":"end","status","error"}
 * {"rec":"closed","id"}                        every hook ran: nothing more to do for this session
 * {"rec":"honeypot","host","on"}               a migrated-away host is kept out of every session
 * ```
 * How restart resolves a session (controller.ts does it): `planned` (no `sending`): the source was never
 * instructed, so the session fails and is retried; `sending`: the source's agent is asked (it reports the
 * sessions it ran when it registers again) and the session is adopted, completed or failed and retried;
 * `result` without `closed`: the hooks not yet finished run (a hook that had started is run again with
 * `SMIG_HOOK_RETRY=1`: isolating a compromised host must not be skipped because the controller died).
 * A session id is never instructed twice: a retry is a new session with a new id.
 *
 * At open the journal is compacted (written to a temporary file, fsynced, renamed over): the records of
 * open sessions, of the last {@link KEEP_CLOSED} closed ones and the honeypot marks are kept. A last line
 * cut short by a crash is dropped with a warning; so is any record that does not parse.
 * A lock file (`JOURNAL.lock`, holding the pid) keeps a second controller off the same journal.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { smigError } from '../errors.js';
import { LineSplitter } from './lines.js';
import type { HostPlan } from './selection.js';

/** Closed sessions kept across a compaction (for `smig control status`). */
export const KEEP_CLOSED = 100;
/** Longest journal record. */
const MAX_RECORD_BYTES = 256 * 1024;

/** The alert that triggered a session, as the hooks and the status show it. */
export interface AlertFacts {
  signature: string;
  signatureId: number | null;
  severity: number;
  srcIp: string | null;
  destIp: string | null;
  timestamp: string | null;
}

/** Why a session exists. */
export interface TriggerReason {
  kind: 'eve' | 'manual';
  alert?: AlertFacts;
}

/** What the source reported once the destination confirmed. */
export interface SessionOutcome {
  bytes: number;
  /** SHA-256 of the payload as the destination verified it (hex). */
  sha256: string;
  seconds: number;
  lostRelays: string[];
  resentChunks: number;
  /** The destination's `--exec` status, null when none ran. */
  exitStatus: number | null;
}

/** One journal record. */
export type JournalRecord =
  | {
      rec: 'session';
      t: number;
      id: string;
      trigger: string;
      attempt: number;
      source: { host: string; name: string | null };
      reason: TriggerReason;
      plan: HostPlan | null;
      deadline: number;
    }
  | { rec: 'sending'; t: number; id: string }
  | { rec: 'result'; t: number; id: string; ok: true; outcome: SessionOutcome }
  | { rec: 'result'; t: number; id: string; ok: false; error: string; retry: boolean }
  | { rec: 'hook'; t: number; id: string; event: string; index: number; phase: 'start' }
  | {
      rec: 'hook';
      t: number;
      id: string;
      event: string;
      index: number;
      phase: 'end';
      status: number | null;
      error: string | null;
    }
  | { rec: 'closed'; t: number; id: string }
  | { rec: 'honeypot'; t: number; host: string; on: boolean };

/** A session as the journal knows it. */
export interface SessionState {
  id: string;
  trigger: string;
  attempt: number;
  created: number;
  source: { host: string; name: string | null };
  reason: TriggerReason;
  plan: HostPlan | null;
  deadline: number;
  state: 'planned' | 'sending' | 'done' | 'failed';
  outcome: SessionOutcome | null;
  error: string | null;
  retry: boolean;
  /** Hooks by `event#index`: started, and the end status once finished. */
  hooks: Map<string, { started: boolean; ended: boolean; status: number | null; error: string | null }>;
  closed: boolean;
  ended: number | null;
}

/** Everything a replay yields. */
export interface JournalState {
  /** In the order they were created. */
  sessions: Map<string, SessionState>;
  honeypots: Set<string>;
}

/**
 * Replays records into session states, one at a time. Closed sessions beyond the newest `keepClosed` are
 * forgotten as replay goes (their records are never needed again), so memory follows the open sessions.
 */
export class JournalReplayer {
  readonly state: JournalState = { sessions: new Map(), honeypots: new Set() };
  readonly warnings: string[];
  readonly #keepClosed: number;
  readonly #closed: string[] = [];

  constructor(warnings: string[] = [], keepClosed: number = KEEP_CLOSED) {
    this.warnings = warnings;
    this.#keepClosed = keepClosed;
  }

  /** Applies one record; a record that makes no sense (a `sending` for an unknown session) is reported and skipped. */
  apply(r: JournalRecord): void {
    const { sessions, honeypots } = this.state;
    if (r.rec === 'honeypot') {
      if (r.on) honeypots.add(r.host);
      else honeypots.delete(r.host);
      return;
    }
    if (r.rec === 'session') {
      if (sessions.has(r.id)) {
        this.warnings.push(`session ${r.id} recorded twice (the second record is ignored)`);
        return;
      }
      sessions.set(r.id, {
        id: r.id,
        trigger: r.trigger,
        attempt: r.attempt,
        created: r.t,
        source: r.source,
        reason: r.reason,
        plan: r.plan,
        deadline: r.deadline,
        state: 'planned',
        outcome: null,
        error: null,
        retry: false,
        hooks: new Map(),
        closed: false,
        ended: null,
      });
      return;
    }
    const s = sessions.get(r.id);
    if (s === undefined) {
      this.warnings.push(`'${r.rec}' record for unknown session ${r.id} (skipped)`);
      return;
    }
    switch (r.rec) {
      case 'sending':
        if (s.state === 'planned') s.state = 'sending';
        return;
      case 'result':
        s.ended = r.t;
        if (r.ok) {
          s.state = 'done';
          s.outcome = r.outcome;
        } else {
          s.state = 'failed';
          s.error = r.error;
          s.retry = r.retry;
        }
        return;
      case 'hook': {
        const key = `${r.event}#${r.index}`;
        const h = s.hooks.get(key) ?? { started: false, ended: false, status: null, error: null };
        if (r.phase === 'start') h.started = true;
        else Object.assign(h, { started: true, ended: true, status: r.status, error: r.error });
        s.hooks.set(key, h);
        return;
      }
      case 'closed':
        if (s.closed) return;
        s.closed = true;
        this.#closed.push(s.id);
        while (this.#closed.length > this.#keepClosed) sessions.delete(this.#closed.shift()!);
        return;
    }
  }
}

/** Replays a list of records (see {@link JournalReplayer}). */
export function replayJournal(
  records: readonly JournalRecord[],
  warnings: string[] = [],
  keepClosed: number = KEEP_CLOSED,
): JournalState {
  const r = new JournalReplayer(warnings, keepClosed);
  for (const rec of records) r.apply(rec);
  return r.state;
}

/** Parses one journal line; null (with a reason) when it is not a record. */
export function parseRecord(text: string): JournalRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const r = v as Record<string, unknown>;
  const str = (k: string): boolean => typeof r[k] === 'string';
  if (typeof r.t !== 'number') return 'no time';
  switch (r.rec) {
    case 'session':
      return str('id') &&
        str('trigger') &&
        typeof r.attempt === 'number' &&
        typeof r.source === 'object' &&
        r.source !== null &&
        typeof r.reason === 'object' &&
        r.reason !== null &&
        typeof r.deadline === 'number' &&
        'plan' in r
        ? (r as JournalRecord)
        : 'incomplete session record';
    case 'sending':
    case 'closed':
      return str('id') ? (r as JournalRecord) : `incomplete ${r.rec} record`;
    case 'result':
      return str('id') &&
        typeof r.ok === 'boolean' &&
        (r.ok ? typeof r.outcome === 'object' && r.outcome !== null : str('error') && typeof r.retry === 'boolean')
        ? (r as JournalRecord)
        : 'incomplete result record';
    case 'hook':
      return str('id') && str('event') && typeof r.index === 'number' && (r.phase === 'start' || r.phase === 'end')
        ? (r as JournalRecord)
        : 'incomplete hook record';
    case 'honeypot':
      return str('host') && typeof r.on === 'boolean' ? (r as JournalRecord) : 'incomplete honeypot record';
    default:
      return `unknown record '${String(r.rec)}'`;
  }
}

/** A record without its time, as callers append it. */
export type NewRecord = JournalRecord extends infer R ? (R extends JournalRecord ? Omit<R, 't'> : never) : never;

/** An open journal: replayed, compacted, locked, appending. */
export class Journal {
  readonly path: string;
  readonly #fh: FileHandle;
  readonly #lock: string;
  readonly #now: () => number;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, fh: FileHandle, lock: string, now: () => number) {
    this.path = path;
    this.#fh = fh;
    this.#lock = lock;
    this.#now = now;
  }

  /**
   * Locks, reads, replays and compacts the journal at `path` (created when missing). `now` is the wall clock
   * (ms since the epoch) that stamps every record.
   * @throws SmigError SMIG_ERR_FILE when it cannot be read or written, or another controller holds it
   */
  static async open(
    path: string,
    now: () => number = Date.now,
  ): Promise<{ journal: Journal; state: JournalState; warnings: string[] }> {
    const lock = `${path}.lock`;
    await takeLock(lock);
    try {
      const warnings: string[] = [];
      // pass 1: replay
      const replayer = new JournalReplayer(warnings);
      const exists = await readLines(path, (rec) => replayer.apply(rec), warnings);
      const state = replayer.state;
      // pass 2 (compaction): the records of the sessions still known, and the honeypot marks that are on
      const kept: string[] = [];
      if (exists)
        await readLines(
          path,
          (rec, text) => {
            if (rec.rec !== 'honeypot' && state.sessions.has(rec.id)) kept.push(text);
          },
          null,
        );
      const t = now();
      for (const host of state.honeypots) kept.push(JSON.stringify({ rec: 'honeypot', t, host, on: true }));
      await writeAtomically(path, kept.length === 0 ? '' : `${kept.join('\n')}\n`);
      const fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_APPEND).catch((err: unknown) => {
        throw fileError(path, err);
      });
      return { journal: new Journal(path, fh, lock, now), state, warnings };
    } catch (err) {
      await unlink(lock).catch(() => {});
      throw err;
    }
  }

  /**
   * Appends a record and makes it durable (fdatasync) before resolving. Appends are serialized.
   * @throws SmigError SMIG_ERR_FILE when the write fails (the controller cannot keep its promises then)
   */
  append(rec: NewRecord, now: () => number = this.#now): Promise<void> {
    const line = `${JSON.stringify({ ...rec, t: now() })}\n`;
    const p = this.#queue.then(async () => {
      if (this.#closed) throw smigError('SMIG_ERR_FILE', `journal ${this.path}: closed`);
      try {
        await this.#fh.write(line);
        await this.#fh.datasync();
      } catch (err) {
        throw fileError(this.path, err);
      }
    });
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Waits for pending appends, closes the file, removes the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    await this.#fh.close().catch(() => {});
    await unlink(this.#lock).catch(() => {});
  }
}

/** Streams the records of a journal file to `each`; false when there is no file. Warnings only when a list is given. */
async function readLines(
  path: string,
  each: (rec: JournalRecord, text: string) => void,
  warnings: string[] | null,
): Promise<boolean> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fileError(path, err);
  }
  try {
    const splitter = new LineSplitter(
      {
        line: (t, n) => {
          const rec = parseRecord(t);
          if (typeof rec !== 'string') each(rec, t);
          else warnings?.push(`journal ${path} line ${n}: ${rec} (skipped)`);
        },
        oversized: (n, bytes) => warnings?.push(`journal ${path} line ${n}: ${bytes} bytes, too long (skipped)`),
      },
      MAX_RECORD_BYTES,
    );
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      splitter.push(buf.subarray(0, bytesRead));
    }
    const cut = splitter.cut();
    if (cut > 0)
      warnings?.push(`journal ${path}: the last record was cut short (${cut} bytes, a crash while writing; dropped)`);
  } catch (err) {
    throw fileError(path, err);
  } finally {
    await fh.close();
  }
  return true;
}

async function takeLock(lock: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lock, 'wx', 0o600);
      await fh.write(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(lock, err);
    }
    const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw smigError(
        'SMIG_ERR_FILE',
        `journal lock ${lock}: held by running process ${pid} (another smig control on this journal?)`,
      );
    }
    await unlink(lock).catch(() => {}); // stale: its controller is gone
  }
  throw smigError('SMIG_ERR_FILE', `journal lock ${lock}: cannot be taken`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.journal.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.write(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const d = await open(dirname(path), 'r').catch(() => undefined);
    await d?.sync().catch(() => {});
    await d?.close();
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw fileError(path, err);
  }
}

function fileError(path: string, err: unknown): Error {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('SMIG_')) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return smigError(
    'SMIG_ERR_FILE',
    `journal ${path}: ${code === 'ENOENT' ? 'no such directory' : (code ?? (err as Error).message)}`,
    err,
  );
}
