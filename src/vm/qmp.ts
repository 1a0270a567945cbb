/**
 * A QEMU Machine Protocol (QMP) client: a pure protocol core ({@link QmpProtocol}: bytes in, lines out, no
 * sockets, no timers) and a thin adapter on a Unix socket ({@link QmpClient}).
 *
 * QMP is line-delimited JSON. The server greets first (`{"QMP": {...}}`), the client must send
 * `qmp_capabilities` before anything else, then every command (`{"execute": C, "arguments": A, "id": N}`) gets
 * exactly one `{"return": ...}` or `{"error": {"class", "desc"}}` carrying the same id; asynchronous
 * `{"event": NAME, "data": ..., "timestamp": ...}` lines may come at any time.
 *
 * Bounds: a line longer than {@link MAX_LINE_BYTES} fails the connection before it is buffered whole; at
 * most {@link MAX_PENDING} commands wait for an answer. Any reply that is not well-formed JSON of the
 * shapes above is a protocol error (the VM's monitor is a peer like any other).
 */

import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { SmigError, smigError } from '../errors.js';

/** Longest QMP line accepted (QEMU's replies to the commands smig sends are a few KiB). */
export const MAX_LINE_BYTES: number = 1024 * 1024;
/** Commands waiting for their answer, at most. */
export const MAX_PENDING = 64;

/** A JSON value as QMP carries it. */
export type QmpValue = null | boolean | number | string | QmpValue[] | { [key: string]: QmpValue };
export type QmpObject = { [key: string]: QmpValue };

/** An asynchronous QMP event. */
export interface QmpEvent {
  event: string;
  data: QmpObject;
}

/** A command the server answered with `error` (an SMIG_ERR_VM: one line, exit 1). */
export class QmpCommandError extends SmigError {
  override name = 'QmpCommandError';
  readonly command: string;
  readonly errorClass: string;
  readonly desc: string;
  constructor(command: string, errorClass: string, desc: string) {
    super('SMIG_ERR_VM', `QMP ${command}: ${errorClass}: ${desc}`);
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

type Phase = 'greeting' | 'negotiating' | 'ready' | 'failed';

interface Pending {
  id: number;
  command: string;
  resolve: (v: QmpValue) => void;
  reject: (e: Error) => void;
}

/** What the core asks its transport to do. */
export interface QmpTransport {
  /** Write one line (the newline included). */
  write(line: string): void;
}

/**
 * The protocol state machine. Feed it the socket's bytes ({@link QmpProtocol.push}); it writes commands through
 * the transport and settles their promises. Commands issued before the greeting and capabilities exchange are
 * queued and sent once the session is ready.
 */
export class QmpProtocol {
  readonly #t: QmpTransport;
  #phase: Phase = 'greeting';
  #buf: Buffer[] = [];
  #bufBytes = 0;
  #nextId = 1;
  #pending: Pending[] = [];
  #queued: { line: string; p: Pending }[] = [];
  #failure: Error | null = null;
  /** Called for every event. */
  onEvent: (e: QmpEvent) => void = () => {};
  /** Called once when the session becomes ready (greeting and capabilities done). */
  onReady: (greeting: QmpObject) => void = () => {};
  /** Called once when the protocol fails (bad line, server error on capabilities). */
  onFailure: (e: Error) => void = () => {};

  constructor(transport: QmpTransport) {
    this.#t = transport;
  }

  get ready(): boolean {
    return this.#phase === 'ready';
  }

  get failure(): Error | null {
    return this.#failure;
  }

  /** Bytes from the server. */
  push(chunk: Uint8Array): void {
    let start = 0;
    for (let i = 0; i < chunk.length && this.#phase !== 'failed'; i++) {
      if (chunk[i] !== 0x0a) continue;
      const piece = Buffer.from(chunk.subarray(start, i));
      start = i + 1;
      if (this.#bufBytes + piece.length > MAX_LINE_BYTES)
        return this.fail(smigError('SMIG_ERR_VM', `QMP: a line longer than ${MAX_LINE_BYTES} bytes`));
      const line = Buffer.concat([...this.#buf, piece]).toString('utf8');
      this.#buf = [];
      this.#bufBytes = 0;
      this.#line(line);
    }
    if (this.#phase === 'failed' || start >= chunk.length) return;
    const rest = chunk.length - start;
    if (this.#bufBytes + rest > MAX_LINE_BYTES)
      return this.fail(smigError('SMIG_ERR_VM', `QMP: a line longer than ${MAX_LINE_BYTES} bytes`));
    this.#buf.push(Buffer.from(chunk.subarray(start)));
    this.#bufBytes += rest;
  }

  /** Sends `command` (once ready) and resolves with its `return` value. */
  execute(command: string, args?: QmpObject): Promise<QmpValue> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#pending.length + this.#queued.length >= MAX_PENDING) {
      return Promise.reject(smigError('SMIG_ERR_VM', `QMP: more than ${MAX_PENDING} commands waiting for an answer`));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.#nextId++, command, resolve, reject };
      const line = `${JSON.stringify(args === undefined ? { execute: command, id: p.id } : { execute: command, arguments: args, id: p.id })}\n`;
      if (this.#phase === 'ready') {
        this.#pending.push(p);
        this.#t.write(line);
      } else {
        this.#queued.push({ line, p });
      }
    });
  }

  /** Fails every waiting command and the session (the transport closed, or a protocol error). */
  fail(err: Error): void {
    if (this.#phase === 'failed') return;
    this.#phase = 'failed';
    this.#failure = err;
    this.#buf = [];
    for (const p of [...this.#pending, ...this.#queued.map((q) => q.p)]) p.reject(err);
    this.#pending = [];
    this.#queued = [];
    this.onFailure(err);
  }

  #line(text: string): void {
    if (text.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      if (this.#phase === 'greeting')
        return this.fail(
          smigError(
            'SMIG_ERR_VM',
            `QMP: the server did not greet with {"QMP": …} but ${JSON.stringify(text.slice(0, 60))} (is this a QMP socket?)`,
          ),
        );
      return this.fail(smigError('SMIG_ERR_VM', `QMP: a line that is not JSON (${JSON.stringify(text.slice(0, 60))})`));
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
      return this.fail(smigError('SMIG_ERR_VM', 'QMP: a line that is not a JSON object'));
    const o = msg as QmpObject;
    if (this.#phase === 'greeting') {
      if (typeof o.QMP !== 'object' || o.QMP === null)
        return this.fail(
          smigError('SMIG_ERR_VM', 'QMP: the server did not greet with {"QMP": …} (is this a QMP socket?)'),
        );
      this.#phase = 'negotiating';
      const greeting = o.QMP as QmpObject;
      this.#pending.push({
        id: 0,
        command: 'qmp_capabilities',
        resolve: () => {
          this.#phase = 'ready';
          for (const q of this.#queued) {
            this.#pending.push(q.p);
            this.#t.write(q.line);
          }
          this.#queued = [];
          this.onReady(greeting);
        },
        reject: () => {},
      });
      this.#t.write('{"execute":"qmp_capabilities","id":0}\n');
      return;
    }
    if (typeof o.event === 'string') {
      const data = typeof o.data === 'object' && o.data !== null && !Array.isArray(o.data) ? o.data : {};
      this.onEvent({ event: o.event, data });
      return;
    }
    const hasReturn = 'return' in o;
    const error = o.error;
    if (!hasReturn && (typeof error !== 'object' || error === null || Array.isArray(error))) {
      return this.fail(smigError('SMIG_ERR_VM', 'QMP: a line that is neither a reply nor an event'));
    }
    const at = this.#pending.findIndex((p) => p.id === o.id);
    if (at < 0)
      return this.fail(
        smigError('SMIG_ERR_VM', `QMP: a reply to no command sent (id ${JSON.stringify(o.id ?? null)})`),
      );
    const p = this.#pending.splice(at, 1)[0]!;
    if (hasReturn) {
      p.resolve(o.return!);
      return;
    }
    const e = error as QmpObject;
    const err = new QmpCommandError(p.command, String(e.class ?? 'Error'), String(e.desc ?? '').slice(0, 500));
    if (p.id === 0) return this.fail(smigError('SMIG_ERR_VM', `QMP: qmp_capabilities refused (${err.desc})`));
    p.reject(err);
  }
}

/** Options of {@link QmpClient.connect}. */
export interface QmpConnectOptions {
  /** Give up when the socket is not connected and negotiated within this long. Default 10 s. */
  timeoutMs?: number;
  /** Retry a refused or missing socket until the timeout (a VM still starting). Default false. */
  retry?: boolean;
  signal?: AbortSignal;
}

/** A QMP session on a Unix socket. */
export class QmpClient {
  readonly #socket: Socket;
  readonly #proto: QmpProtocol;
  readonly #events = new Set<(e: QmpEvent) => void>();
  readonly path: string;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private constructor(path: string, socket: Socket) {
    this.path = path;
    this.#socket = socket;
    this.#proto = new QmpProtocol({ write: (line) => void socket.write(line) });
    this.#proto.onEvent = (e) => {
      for (const f of this.#events) f(e);
    };
    socket.on('data', (b: Buffer) => this.#proto.push(b));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#proto.fail(smigError('SMIG_ERR_VM', `QMP ${path}: the monitor closed the connection`));
        resolve();
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.#proto.fail(smigError('SMIG_ERR_VM', `QMP ${path}: ${err.code ?? err.message}`)),
    );
  }

  /**
   * Connects to the QMP socket at `path` and negotiates capabilities.
   * @throws SmigError SMIG_ERR_VM when the socket is missing, refuses, is not QMP, or the timeout passes
   */
  static async connect(path: string, o: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    for (;;) {
      try {
        return await QmpClient.#once(path, deadline, o.signal);
      } catch (err) {
        const code = (err as { errno?: string }).errno;
        const retryable = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (!o.retry || !retryable || Date.now() >= deadline || o.signal?.aborted) {
          throw smigError(
            'SMIG_ERR_VM',
            retryable
              ? `QMP ${path}: ${code === 'ENOENT' ? 'no such socket' : 'connection refused'} (is the VM running with -qmp unix:${path},server=on,wait=off?)`
              : (err as Error).message,
            err,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  static #once(path: string, deadline: number, signal?: AbortSignal): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      let client: QmpClient | undefined;
      const timer = setTimeout(
        () => fail(smigError('SMIG_ERR_VM', `QMP ${path}: no greeting and capabilities within the timeout`)),
        Math.max(1, deadline - Date.now()),
      );
      const onAbort = (): void => fail(smigError('SMIG_ERR_VM', `QMP ${path}: aborted`));
      signal?.addEventListener('abort', onAbort, { once: true });
      function fail(err: Error): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      }
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (client !== undefined) return;
        fail(Object.assign(smigError('SMIG_ERR_VM', `QMP ${path}: ${err.code ?? err.message}`), { errno: err.code }));
      });
      socket.once('connect', () => {
        client = new QmpClient(path, socket);
        client.#proto.onReady = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(client!);
        };
        client.#proto.onFailure = (err) => fail(err);
      });
    }).then((c) => {
      (c as QmpClient).#proto.onFailure = () => {};
      return c as QmpClient;
    });
  }

  /** Runs a command; resolves with its `return` value. */
  execute(command: string, args?: QmpObject): Promise<QmpValue> {
    return this.#proto.execute(command, args);
  }

  /** `human-monitor-command`: the HMP line's output. */
  async hmp(line: string): Promise<string> {
    const r = await this.execute('human-monitor-command', { 'command-line': line });
    return typeof r === 'string' ? r : '';
  }

  /** The VM's run state (`query-status`.status: running, paused, postmigrate, inmigrate, …). */
  async status(): Promise<string> {
    const r = await this.execute('query-status');
    const s = (r as QmpObject | null)?.status;
    if (typeof s !== 'string') throw smigError('SMIG_ERR_VM', `QMP ${this.path}: query-status without a status`);
    return s;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(f: (e: QmpEvent) => void): () => void {
    this.#events.add(f);
    return () => this.#events.delete(f);
  }

  /** Closes the connection (the VM keeps running). */
  close(): Promise<void> {
    this.#socket.end();
    this.#socket.destroySoon?.();
    const t = setTimeout(() => this.#socket.destroy(), 1000);
    return this.closed.finally(() => clearTimeout(t));
  }
}
