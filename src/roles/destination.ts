/**
 * The destination daemon (`smig recv`; docs/DESIGN.md §3 "Session flow" step 6, paper §5.2 algorithm 5): takes
 * the plaintext from a leader, writes it to a temporary file in the output directory, and installs it
 * only when its length and SHA-256 match the leader's END (which come from the envelope's authenticated
 * trailer).
 *
 * Decisions:
 * - Temporary file `DIR/.smig-<pid>-<random>.part`, created with O_EXCL and mode 0600. It is deleted on
 *   any failure or disconnect; files left by a killed `smig recv` (its pid no longer alive) are deleted
 *   when `smig recv` next starts on that directory.
 * - The sender's name is sanitized ({@link sanitizeName}) and joined to DIR: never a path, never hidden.
 *   Installing never overwrites: when `NAME` exists the file becomes `NAME.1`, `NAME.2`, … (the first
 *   free one; link(2) makes the check and the publication one atomic step), after fsync of the file; the
 *   directory is fsynced after the rename.
 * - `--exec CMD` runs as `/bin/sh -c CMD smig-exec PATH`: the installed file's absolute path is `$1`, and
 *   also `$SMIG_FILE` (with `$SMIG_NAME`, `$SMIG_BYTES`, `$SMIG_SHA256`, `$SMIG_SESSION`). Its exit status
 *   goes into DONE; a status other than 0 makes DONE not ok (the file stays installed). While it runs
 *   (and during fsync) the destination sends PING upstream so that no link of the session times out.
 * - DONE's message never names the file or a host (relays read it on its way back).
 * - With `vm` set, a session named `*.vmstate` is a VM's migration stream: it is fed to the operator's QEMU
 *   as it arrives (src/vm/destination.ts), not written to a file; DONE is sent once that VM runs.
 * - What the leader forwards is the inner stream (crypto/inner.ts): the destination opens it, checks the name
 *   and length against its authenticated header (the source's, not only the leader's SESSION), and answers with
 *   a receipt over the session, the payload's SHA-256 and length and the result. With `identity`, only streams
 *   sealed to that identity are accepted (a session meant for another destination, or an unbound one, is
 *   refused before a byte is written) and the receipt is signed with it; without, only unbound streams are
 *   accepted.
 */
import type { Hash } from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { access, open, realpath, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Identity, PublicIdentity } from '../crypto/identity.js';
import { fingerprint } from '../crypto/identity.js';
import { InnerOpener } from '../crypto/inner.js';
import { wipe } from '../crypto/wipe.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { ChannelListener, FramedConnection, HostPort, ListenerLimits, Transport } from '../net/index.js';
import { tlsTransport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { segmentsMs } from '../pacing/cut-sizes.js';
import type { DestinationSession, EndMessage, Message, SessionMessage } from '../protocol/index.js';
import { decodeMessage, FrameType, sessionIdHex } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { logRejected, silentLogger } from '../util/log.js';
import { isVmName, VM_SUFFIX, VmRestore } from '../vm/destination.js';
import { runExec } from './exec.js';
import { installNoClobber, sanitizeName, sweepStaleTemps, syncDir, upstreamFileError, writeAll } from './install.js';
import { Link } from './link.js';
import { destinationAckEcho, endHoldMs, sessionPlan } from './pace.js';
import type { Timer } from './util.js';
import { after, every, Signal } from './util.js';

export { installNoClobber, sanitizeName, sweepStaleTemps, upstreamFileError } from './install.js';

/** Default cap on sessions received at once. */
export const DEFAULT_RECV_SESSIONS = 8;
/** Default limit on the `--exec` command's run time. */
export const DEFAULT_EXEC_TIMEOUT_MS: number = 10 * 60_000;
/** Default time a session may go without payload (DATA) before END: then it is dropped and its slot freed. */
export const DEFAULT_SESSION_IDLE_MS = 120_000;
/** PING interval while the destination is busy after END. */
export const KEEPALIVE_MS = 10_000;
/** Longest installed name (UTF-8 bytes), leaving room for a `.N` suffix within NAME_MAX (255). */

/** Options of {@link DestinationDaemon.start}. */
export interface DestinationOptions {
  clusterKey: Uint8Array;
  listen: HostPort;
  /**
   * This destination's identity: sessions must be sealed to it, receipts are signed with it. Absent: only
   * unbound sessions (sources without `--dest-key`) are accepted.
   */
  identity?: Identity;
  /** Sources allowed to send here: when given, only sessions signed by one of them are installed. */
  trustedSources?: readonly PublicIdentity[];
  /** Directory the payloads are installed in (must exist and be writable). */
  outDir: string;
  /** Shell command run after each install (see the module comment). */
  exec?: string;
  execTimeoutMs?: number;
  /** Sessions received at once; more are refused with ERROR. Default 8. */
  maxSessions?: number;
  /** Sessions at once from one leader address (so that one host cannot hold every slot). Default ⌈maxSessions / 2⌉. */
  maxSessionsPerAddress?: number;
  /** Times the session idle limit and the keepalive (default the event loop's timers). */
  clock?: Clock;
  /** A session that receives no DATA for this long before its END is dropped (SMIG_ERR_TIMEOUT). Default 120 s. */
  sessionIdleMs?: number;
  /** Caps of the listener (connections, handshakes, per address, opening frame); defaults of src/net. */
  limits?: ListenerLimits;
  /** PING interval while busy after END (test hook). Default 10 s. */
  keepaliveMs?: number;
  log?: Logger;
  /** Opens the channels (default TLS, src/net/tls.ts); tests give an in-process one (src/net/memory.ts). */
  transport?: Transport;
  channel?: ChannelTimeouts;
  /** Told when a session's link arrives (`open`) and when it is over and its temporary file gone (`end`); session id in hex. */
  onSession?: (event: 'open' | 'end', session: string) => void;
  /** Restore sessions named `*.vmstate` into a VM started by this command template (src/vm/destination.ts). */
  vm?: { command: string; timeoutMs?: number };
}

/** A running `smig recv`. */
export class DestinationDaemon {
  readonly #o: DestinationOptions;
  readonly #log: Logger;
  readonly #dir: string;
  readonly #receipts = new Set<Receipt>();
  readonly #idle = new Signal();
  #listener: ChannelListener | undefined;
  #closing = false;

  private constructor(o: DestinationOptions, dir: string) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#dir = dir;
  }

  /**
   * Checks the output directory, removes stale temporary files, starts listening.
   * @throws SmigError SMIG_ERR_FILE for an output directory that is missing, not a directory or not
   *   writable; SMIG_ERR_CONNECTION when the address cannot be bound
   */
  static async start(o: DestinationOptions): Promise<DestinationDaemon> {
    let dir: string;
    try {
      dir = await realpath(o.outDir);
      if (!(await stat(dir)).isDirectory()) throw smigError('SMIG_ERR_FILE', `--out ${o.outDir}: not a directory`);
      await access(dir, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('SMIG_'))
        throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'not writable' : (code ?? 'error');
      throw smigError('SMIG_ERR_FILE', `--out ${o.outDir}: ${why}`, err);
    }
    const d = new DestinationDaemon(o, dir);
    for (const name of await sweepStaleTemps(dir)) d.#log.event('stale-temp-removed', { file: name });
    d.#listener = await (o.transport ?? tlsTransport).listen(o.listen, {
      key: o.clusterKey,
      ...o.channel,
      onConnection: (conn) => d.#accept(conn),
      ...o.limits,
      onRejected: logRejected(d.#log),
    });
    return d;
  }

  /** The bound address. */
  get address(): HostPort {
    return this.#listener!.address;
  }

  /** The output directory (resolved). */
  get outDir(): string {
    return this.#dir;
  }

  /** Stops listening; sessions in progress are closed and their temporary files deleted. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#listener?.close();
    while (this.#receipts.size > 0) await this.#idle.wait();
  }

  #accept(conn: FramedConnection): void {
    if (this.#closing) {
      conn.destroy();
      return;
    }
    void conn.closed.then((info) => {
      if (info.error !== undefined) this.#log.event('link-failed', { remote: conn.remote, reason: info.error.message });
    });
    conn.onFrame((type, body) => {
      if (type !== FrameType.SESSION)
        throw smigError('SMIG_ERR_PROTOCOL_STATE', `destination: frame type ${type} before SESSION (expected SESSION)`);
      const first = decodeMessage(type, body) as SessionMessage;
      if (first.role !== 'destination') {
        throw smigError(
          'SMIG_ERR_PROTOCOL_STATE',
          `destination: SESSION for role '${first.role}' (this host is a destination)`,
        );
      }
      const max = this.#o.maxSessions ?? DEFAULT_RECV_SESSIONS;
      if (this.#receipts.size >= max)
        throw smigError('SMIG_ERR_BUFFER_LIMIT', `busy: already receiving ${max} sessions`);
      const perAddress = this.#o.maxSessionsPerAddress ?? Math.ceil(max / 2);
      const from = peerAddress(conn.remote);
      if ([...this.#receipts].filter((x) => x.from === from).length >= perAddress) {
        throw smigError('SMIG_ERR_BUFFER_LIMIT', `busy: already receiving ${perAddress} sessions from ${from}`);
      }
      const r = new Receipt(this.#o, this.#dir, this.#log, conn, first, from);
      const id = sessionIdHex(first.sessionId);
      this.#receipts.add(r);
      this.#o.onSession?.('open', id);
      void r.finished.then(() => {
        this.#receipts.delete(r);
        this.#idle.notify();
        this.#o.onSession?.('end', id);
      });
      return r.open();
    });
  }
}

/** One incoming payload. */
class Receipt {
  readonly #o: DestinationOptions;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #first: DestinationSession;
  readonly #link: Link;
  readonly #tmp: string;
  #fh: FileHandle | undefined;
  /** SHA-256 and length of the inner stream as received (END states them from the envelope's trailer). */
  #hash: Hash = createHash('sha256');
  #written = 0;
  readonly #inner: InnerOpener;
  /** Payload bytes written to the temporary file. */
  #plainWritten = 0;
  #nameChecked = false;
  #installed = false;
  #vm: VmRestore | undefined;
  #idleTimer: Timer | undefined;
  #holdSlackMs = 0; // after the last data, how long the leader may hold END on a shaped link (hold.ts)
  /** The leader's address (no port): sessions are counted per address. */
  readonly from: string;
  /** Resolves when the link has closed and the temporary file is gone. */
  readonly finished: Promise<void>;

  constructor(
    o: DestinationOptions,
    dir: string,
    log: Logger,
    conn: FramedConnection,
    first: DestinationSession,
    from: string,
  ) {
    this.#o = o;
    this.from = from;
    this.#dir = dir;
    this.#first = first;
    this.#log = log.with({ session: sessionIdHex(first.sessionId).slice(0, 16) });
    this.#link = new Link(conn, 'destination', `leader ${conn.remote}`);
    this.#link.state.accept(FrameType.SESSION);
    this.#tmp = join(dir, `.smig-${process.pid}-${randomBytes(8).toString('hex')}.part`);
    this.#inner = new InnerOpener(first.sessionId, {
      ...(o.identity === undefined ? {} : { identity: o.identity }),
      ...(o.trustedSources === undefined ? {} : { trustedSources: o.trustedSources }),
    });
    this.finished = this.#link.ended.then(async (end) => {
      this.#inner.destroy();
      this.#idleTimer?.cancel();
      await this.#discard();
      if (!this.#installed)
        this.#log.event('receive-failed', { bytes: this.#written, reason: end.error?.message ?? 'closed before END' });
    });
  }

  async open(): Promise<void> {
    if (this.#o.vm !== undefined && isVmName(this.#first.name)) {
      this.#vm = await VmRestore.start({
        command: this.#o.vm.command,
        qmpPath: this.#tmp,
        name: sanitizeName(this.#first.name.slice(0, -VM_SUFFIX.length)),
        session: sessionIdHex(this.#first.sessionId),
        log: this.#log,
        ...(this.#o.vm.timeoutMs === undefined ? {} : { timeoutMs: this.#o.vm.timeoutMs }),
      });
      this.#log.event('receive-open', {
        name: this.#first.name,
        length: this.#first.length,
        leader: this.#link.conn.remote,
        vm: true,
      });
      this.#link.start((msg) => this.#onMessage(msg));
      return;
    }
    this.#fh = await open(this.#tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600).catch(
      (err: NodeJS.ErrnoException) => {
        throw smigError(
          'SMIG_ERR_FILE',
          `destination: cannot create a temporary file (${err.code ?? err.message})`,
          err,
        );
      },
    );
    this.#log.event('receive-open', {
      name: this.#first.name,
      length: this.#first.length,
      leader: this.#link.conn.remote,
    });
    destinationAckEcho(this.#first, this.#link, this.#o.clock); // a shaped link: answer the leader's writes as the profile's receiver did
    // before the first data, also the plan's time for it to come through three paced hops (cut-sizes.ts)
    const plan = sessionPlan(this.#first.plan);
    this.#holdSlackMs = endHoldMs(plan, this.#first.length ?? Number.MAX_SAFE_INTEGER, 0);
    this.#armIdle(segmentsMs(plan, 3));
    this.#link.start((msg) => this.#onMessage(msg));
  }

  /** (Re)starts the no-payload timer, `extraMs` longer (by default the plan's longest END hold); PINGs don't count. */
  #armIdle(extraMs = this.#holdSlackMs): void {
    this.#idleTimer?.cancel();
    if (this.#link.isClosed) return;
    const ms = (this.#o.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS) + extraMs;
    this.#idleTimer = after(this.#o.clock, ms, () => {
      void this.#link.fail(smigError('SMIG_ERR_TIMEOUT', `destination: no data for ${ms} ms; the session is dropped`));
    });
  }

  async #onMessage(msg: Message): Promise<void> {
    switch (msg.type) {
      case FrameType.DATA: {
        if (msg.offset !== this.#written) {
          throw smigError(
            'SMIG_ERR_PROTOCOL_STATE',
            `destination: DATA at offset ${msg.offset}, expected ${this.#written}`,
          );
        }
        const declared = this.#first.length;
        if (declared !== null && this.#written + msg.bytes.length > declared) {
          throw smigError('SMIG_ERR_VERIFY', `destination: more than the ${declared} bytes announced`);
        }
        this.#armIdle();
        this.#hash.update(msg.bytes);
        this.#written += msg.bytes.length;
        // a copy: the opener keeps unconsumed bytes by reference, and the frame body may be reused
        await this.#writePlain(this.#inner.push(new Uint8Array(msg.bytes)));
        return;
      }
      case FrameType.END:
        this.#idleTimer?.cancel(); // from here this side works (fsync, --exec), bounded by --exec-timeout
        return this.#complete(msg);
      default:
        return; // ERROR: the leader gave up; the close follows and #discard cleans up
    }
  }

  /** Payload that authenticated: to the file, or to the VM (which copies it); then wiped. */
  async #writePlain(plain: Uint8Array[]): Promise<void> {
    const header = this.#inner.header;
    if (header !== undefined && !this.#nameChecked) {
      // the leader's SESSION name decided how this session is received (file or VM): it must be the source's
      if (header.name !== this.#first.name)
        throw smigError('SMIG_ERR_VERIFY', 'destination: the SESSION name differs from the sealed one');
      this.#nameChecked = true;
    }
    for (const p of plain) {
      if (this.#vm !== undefined) await this.#vm.write(p);
      else {
        await writeAll(this.#fh!, p).catch((err: unknown) => {
          this.#log.event('write-failed', {
            dir: this.#dir,
            reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message,
          });
          throw upstreamFileError('write the file', err);
        });
      }
      this.#plainWritten += p.length;
      wipe(p);
    }
  }

  /** Verify, fsync, install, run --exec, answer DONE. */
  async #complete(end: EndMessage): Promise<void> {
    const streamDigest = new Uint8Array(this.#hash.digest());
    const declared = this.#first.length;
    if (end.length !== this.#written || (declared !== null && declared !== this.#written)) {
      throw smigError(
        'SMIG_ERR_VERIFY',
        `destination: received ${this.#written} bytes, END says ${end.length}${declared === null ? '' : `, SESSION said ${declared}`}`,
      );
    }
    if (end.sha256 === null || !Buffer.from(streamDigest).equals(end.sha256)) {
      throw smigError('SMIG_ERR_VERIFY', 'destination: the SHA-256 of the received bytes differs from the one in END');
    }
    // the end-to-end check: the inner trailer authenticates the payload's SHA-256 and length
    const fin = this.#inner.finish();
    await this.#writePlain(fin.plaintext);
    const header = this.#inner.header!;
    if (fin.length !== BigInt(this.#plainWritten) || (header.length !== null && header.length !== fin.length)) {
      throw smigError(
        'SMIG_ERR_VERIFY',
        `destination: wrote ${this.#plainWritten} bytes, the sealed payload has ${fin.length}`,
      );
    }
    const digest = fin.sha256;
    const keepalive = every(this.#o.clock, this.#o.keepaliveMs ?? KEEPALIVE_MS, () =>
      this.#link.post({ type: FrameType.PING, seq: 0 }),
    );
    if (this.#vm !== undefined) {
      try {
        await this.#vm.finish();
        const name = await installNoClobber(
          this.#tmp,
          this.#dir,
          `${sanitizeName(this.#first.name.slice(0, -VM_SUFFIX.length))}.qmp`,
        );
        this.#installed = true;
        await this.#vm.detach();
        this.#log.event('installed', {
          vm: true,
          qmp: join(this.#dir, name),
          bytes: this.#plainWritten,
          sha256: Buffer.from(digest).toString('hex'),
          sealed: this.#inner.mode === 'sealed',
        });
        const facts = { ok: true, sha256: digest, length: this.#plainWritten, exitStatus: null };
        await this.#link.send({
          type: FrameType.DONE,
          ...facts,
          receipt: this.#inner.receipt(facts),
          message: `verified ${this.#plainWritten} bytes (SHA-256); VM running at the destination (query-status running)`,
        });
      } finally {
        keepalive.cancel();
      }
      void this.#link.close();
      return;
    }
    try {
      let name: string;
      try {
        await this.#fh!.sync();
        await this.#fh!.close();
        this.#fh = undefined;
        name = await installNoClobber(this.#tmp, this.#dir, sanitizeName(header.name));
      } catch (err) {
        // the full reason, with the directory, stays here; upstream goes a reason without a path
        this.#log.event('install-failed', { dir: this.#dir, reason: (err as Error).message });
        throw upstreamFileError('install the file', err);
      }
      this.#installed = true;
      await syncDir(this.#dir);
      const path = join(this.#dir, name);
      const sha256 = Buffer.from(digest).toString('hex');
      const from = this.#inner.signer === undefined ? {} : { source: fingerprint(this.#inner.signer) };
      this.#log.event('installed', {
        file: path,
        bytes: this.#plainWritten,
        sha256,
        sealed: this.#inner.mode === 'sealed',
        ...from,
      });
      let exitStatus: number | null = null;
      let message = `verified ${this.#plainWritten} bytes (SHA-256) and installed`;
      if (this.#o.exec !== undefined) {
        const r = await runExec(
          this.#o.exec,
          path,
          {
            SMIG_FILE: path,
            SMIG_NAME: name,
            SMIG_BYTES: String(this.#plainWritten),
            SMIG_SHA256: sha256,
            SMIG_SESSION: sessionIdHex(this.#first.sessionId),
          },
          this.#o.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
        );
        exitStatus = r.status;
        message += r.timedOut
          ? `; --exec timed out (killed, status ${r.status})`
          : `; --exec exited with status ${r.status}`;
        this.#log.event('exec-done', { status: r.status, timedOut: r.timedOut });
      }
      const facts = {
        ok: exitStatus === null || exitStatus === 0,
        sha256: digest,
        length: this.#plainWritten,
        exitStatus,
      };
      await this.#link.send({ type: FrameType.DONE, ...facts, receipt: this.#inner.receipt(facts), message });
    } finally {
      keepalive.cancel();
    }
    void this.#link.close();
  }

  /** Closes and deletes the temporary file unless installed. */
  async #discard(): Promise<void> {
    if (this.#vm !== undefined && !this.#installed) await this.#vm.kill();
    await this.#fh?.close().catch(() => {});
    this.#fh = undefined;
    await unlink(this.#tmp).catch(() => {}); // after an install it is gone already
  }
}

/** `HOST` of a `HOST:PORT` (brackets of an IPv6 address removed; an IPv4-mapped address as IPv4). */
function peerAddress(remote: string): string {
  const host = remote.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
