/**
 * A running QEMU VM as a migration source, driven over its QMP monitor.
 *
 * The migration stream goes straight from QEMU into the session, with no file in between: smig listens on a
 * Unix socket in a private directory (mode 0700) and tells QEMU `migrate uri=unix:PATH`; QEMU connects and
 * writes its stream, and the socket's backpressure paces QEMU to the session's speed. The stream counts as
 * complete only when `query-migrate` says `completed` — a socket that merely closes is not a finished
 * migration (QEMU also closes it when it fails).
 *
 * Modes: `live` (pre-copy: the VM runs while its RAM is copied and dirty pages are re-sent; QEMU pauses it
 * for the last round) and `stop` (stop first: the VM is paused, then its state is streamed once — snapshot
 * semantics). Either way the VM ends paused at the source (`postmigrate`); it is given up only once the
 * destination confirmed ({@link VmSource.confirm}: stay paused, or `quit`). On any failure
 * ({@link VmSource.abort}) the migration is cancelled (`migrate_cancel`) and the VM resumed (`cont`) when it
 * was running before.
 *
 * Downtime is measured here: from the moment the VM paused (the STOP event, or `stop` in stop-first mode)
 * to the destination's confirmation (DONE, sent once its VM is running), on this host's monotonic clock.
 */
import { chown, mkdtemp, rm, stat } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import type { QmpObject, QmpValue } from './qmp.js';
import { QmpClient } from './qmp.js';

export type VmMode = 'live' | 'stop';
export type VmAfter = 'pause' | 'quit';
export const VM_MODES: readonly VmMode[] = ['live', 'stop'];
export const VM_AFTER: readonly VmAfter[] = ['pause', 'quit'];

/**
 * The mode that fits a pacing strategy: live pre-copy when unpaced; stop-first when paced, where QEMU fills
 * the session window at memory speed and pauses the VM long before the paced session has delivered it, so
 * pre-copy would only add re-sent pages (docs/VM.md).
 */
export function vmModeFor(strategy: string): VmMode {
  return strategy === 'bulk' ? 'live' : 'stop';
}

/** Options of {@link VmSource.open}. */
export interface VmSourceOptions {
  /** Path of the VM's QMP Unix socket. */
  qmp: string;
  mode?: VmMode;
  /** What to do with the source VM once the destination confirmed. Default `pause` (it stays paused). */
  after?: VmAfter;
  log?: Logger;
  /** Monotonic milliseconds (test hook). Default performance.now. */
  now?: () => number;
  /** query-migrate interval while streaming. Default 500 ms. */
  pollMs?: number;
  /** Longest wait for QEMU to connect, and for its final status once the stream ended. Default 30 s. */
  timeoutMs?: number;
}

/** What QEMU reported at the end (`query-migrate`), as numbers. */
export interface QemuMigrationStats {
  status: string;
  totalTimeMs: number | null;
  downtimeMs: number | null;
  setupTimeMs: number | null;
  ramTotalBytes: number | null;
  ramTransferredBytes: number | null;
  dirtySyncCount: number | null;
}

/** The VM side of a finished migration (`smig send --json` → `vm`). */
export interface VmMigrationReport {
  qmp: string;
  mode: VmMode;
  after: VmAfter;
  /** Bytes of QEMU's migration stream. */
  streamBytes: number;
  /** From `migrate` (or `stop`) to the destination's confirmation, seconds. */
  totalSeconds: number;
  /** From the source VM's pause to the destination's confirmation (its VM running), seconds. */
  downtimeSeconds: number;
  qemu: QemuMigrationStats;
}

const num = (v: QmpValue | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function statsOf(r: QmpValue): QemuMigrationStats {
  const o = (r ?? {}) as QmpObject;
  const ram = (typeof o.ram === 'object' && o.ram !== null ? o.ram : {}) as QmpObject;
  return {
    status: typeof o.status === 'string' ? o.status : 'none',
    totalTimeMs: num(o['total-time']),
    downtimeMs: num(o.downtime),
    setupTimeMs: num(o['setup-time']),
    ramTotalBytes: num(ram.total),
    ramTransferredBytes: num(ram.transferred),
    dirtySyncCount: num(ram['dirty-sync-count']),
  };
}

/** A VM being migrated away. */
export class VmSource {
  readonly #o: VmSourceOptions;
  readonly #qmp: QmpClient;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #wasRunning: boolean;
  #dir: string | undefined;
  #server: Server | undefined;
  #conn: Socket | undefined;
  #startedAt: number | null = null;
  #pausedAt: number | null = null;
  #bytes = 0;
  #final: QemuMigrationStats | null = null;
  #failure: Error | null = null;
  #settled = false;

  private constructor(o: VmSourceOptions, qmp: QmpClient, wasRunning: boolean) {
    this.#o = o;
    this.#qmp = qmp;
    this.#log = o.log ?? silentLogger;
    this.#now = o.now ?? ((): number => performance.now());
    this.#wasRunning = wasRunning;
    qmp.onEvent((e) => {
      if (e.event === 'STOP' && this.#startedAt !== null && this.#pausedAt === null) {
        this.#pausedAt = this.#now();
        this.#log.event('vm-paused', { reason: 'migration final round' });
      }
    });
  }

  /**
   * Connects to the VM's monitor and checks that it can be migrated (running or paused, no migration in
   * progress).
   * @throws SmigError SMIG_ERR_VM
   */
  static async open(o: VmSourceOptions): Promise<VmSource> {
    const qmp = await QmpClient.connect(o.qmp, { timeoutMs: 10_000 });
    try {
      const status = await qmp.status();
      if (status !== 'running' && status !== 'paused') {
        throw smigError('SMIG_ERR_VM', `VM ${o.qmp}: its state is '${status}' (a VM to migrate is running or paused)`);
      }
      const m = statsOf(await qmp.execute('query-migrate'));
      if (m.status === 'active' || m.status === 'setup' || m.status === 'device' || m.status === 'pre-switchover') {
        throw smigError('SMIG_ERR_VM', `VM ${o.qmp}: a migration is already in progress (${m.status})`);
      }
      return new VmSource(o, qmp, status === 'running');
    } catch (err) {
      await qmp.close();
      throw err;
    }
  }

  get mode(): VmMode {
    return this.#o.mode ?? 'live';
  }

  /** QEMU's migration stream; it ends only once QEMU reported `completed`, and fails when QEMU failed. */
  async *stream(): AsyncGenerator<Uint8Array> {
    if (this.#startedAt !== null) throw smigError('SMIG_ERR_INTERNAL', 'VmSource.stream: already started');
    this.#startedAt = this.#now();
    const timeoutMs = this.#o.timeoutMs ?? 30_000;
    this.#dir = await mkdtemp(join(tmpdir(), 'smig-vm-'));
    const path = join(this.#dir, 'migrate.sock');
    const accepted = new Promise<Socket>((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true }, (sock) => {
        server.close(); // one connection: QEMU's
        resolve(sock);
      });
      this.#server = server;
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          smigError(
            'SMIG_ERR_VM',
            `VM ${this.#o.qmp}: cannot listen for the migration stream (${err.code ?? err.message})`,
          ),
        ),
      );
      server.listen(path);
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('listening', resolve);
      accepted.catch(reject);
    });
    await this.#shareWithQemu(path);
    if (this.mode === 'stop' && this.#wasRunning) {
      this.#pausedAt = this.#now(); // downtime counts from the request (the vCPU stops within it)
      await this.#qmp.execute('stop');
      this.#log.event('vm-paused', { reason: 'stop-first migration' });
    } else if (!this.#wasRunning) {
      this.#pausedAt = this.#startedAt;
    }
    await this.#qmp.execute('migrate', { uri: `unix:${path}` });
    this.#log.event('vm-migrate', { mode: this.mode });
    const poller = this.#poll();
    let timer: NodeJS.Timeout | undefined;
    const conn = await Promise.race([
      accepted,
      poller.then(() => {
        throw this.#failure ?? smigError('SMIG_ERR_VM', `VM ${this.#o.qmp}: the migration ended before QEMU connected`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              smigError(
                'SMIG_ERR_VM',
                `VM ${this.#o.qmp}: QEMU did not connect its migration stream within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    this.#conn = conn;
    for await (const chunk of conn) {
      if (this.#failure !== null) throw this.#failure;
      this.#bytes += (chunk as Buffer).length;
      yield chunk as Uint8Array;
    }
    // the socket ended: did QEMU complete, or give up?
    const deadline = this.#now() + timeoutMs;
    for (;;) {
      const m = statsOf(await this.#qmp.execute('query-migrate'));
      if (m.status === 'completed') {
        this.#final = m;
        this.#log.event('vm-stream-complete', {
          bytes: this.#bytes,
          qemuDowntimeMs: m.downtimeMs,
          qemuTotalMs: m.totalTimeMs,
        });
        return;
      }
      if (m.status === 'failed' || m.status === 'cancelled' || m.status === 'none') {
        throw smigError(
          'SMIG_ERR_VM',
          `VM ${this.#o.qmp}: QEMU reports the migration ${m.status}${await this.#errorDesc()}`,
        );
      }
      if (this.#now() > deadline)
        throw smigError('SMIG_ERR_VM', `VM ${this.#o.qmp}: the stream ended but QEMU still reports '${m.status}'`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * QEMU often runs as a user of its own (libvirt: libvirt-qemu, or the session user): when smig runs as root,
   * the private directory and the stream socket are handed to the owner of the VM's monitor socket, the one
   * user that must connect.
   */
  async #shareWithQemu(path: string): Promise<void> {
    if (process.getuid?.() !== 0) return;
    const st = await stat(this.#o.qmp).catch(() => undefined);
    if (st === undefined || st.uid === 0) return;
    await chown(this.#dir!, st.uid, st.gid);
    await chown(path, st.uid, st.gid);
  }

  /** Polls query-migrate while streaming: progress in the log; a failure fails the stream. */
  async #poll(): Promise<void> {
    const every = this.#o.pollMs ?? 500;
    for (;;) {
      await new Promise((r) => setTimeout(r, every));
      if (this.#settled || this.#final !== null) return;
      let m: QemuMigrationStats;
      try {
        m = statsOf(await this.#qmp.execute('query-migrate'));
      } catch (err) {
        this.#failure = err as Error;
        this.#conn?.destroy(this.#failure);
        return;
      }
      if (m.status === 'failed' || m.status === 'cancelled') {
        this.#failure = smigError(
          'SMIG_ERR_VM',
          `VM ${this.#o.qmp}: QEMU reports the migration ${m.status}${await this.#errorDesc()}`,
        );
        this.#conn?.destroy(this.#failure);
        return;
      }
      if (m.status === 'completed') return;
      this.#log.event('vm-progress', {
        status: m.status,
        transferred: m.ramTransferredBytes,
        total: m.ramTotalBytes,
        syncs: m.dirtySyncCount,
      });
    }
  }

  async #errorDesc(): Promise<string> {
    const r = await this.#qmp.execute('query-migrate').catch(() => null);
    const d = (r as QmpObject | null)?.['error-desc'];
    return typeof d === 'string' ? ` (${d.slice(0, 300)})` : '';
  }

  /**
   * The destination confirmed (its VM runs): the source VM stays paused, or quits (`after: 'quit'`).
   * Returns the measurements.
   */
  async confirm(): Promise<VmMigrationReport> {
    const at = this.#now();
    this.#settled = true;
    const paused = this.#pausedAt ?? at;
    const report: VmMigrationReport = {
      qmp: this.#o.qmp,
      mode: this.mode,
      after: this.#o.after ?? 'pause',
      streamBytes: this.#bytes,
      totalSeconds: (at - (this.#startedAt ?? at)) / 1000,
      downtimeSeconds: (at - paused) / 1000,
      qemu: this.#final ?? statsOf(null),
    };
    if ((this.#o.after ?? 'pause') === 'quit') {
      await this.#qmp.execute('quit').catch(() => {}); // the monitor closes as QEMU exits
      this.#log.event('vm-quit', { at: 'source' });
    } else {
      this.#log.event('vm-left-paused', { at: 'source', status: await this.#qmp.status().catch(() => 'unknown') });
    }
    await this.#cleanup();
    return report;
  }

  /**
   * The migration failed: cancel it in QEMU and resume the VM if it was running before. Never throws;
   * returns the VM's run state afterwards ('unknown' when the monitor is gone).
   */
  async abort(reason: string): Promise<string> {
    this.#settled = true;
    this.#conn?.destroy();
    let status = 'unknown';
    try {
      if (this.#startedAt !== null) {
        await this.#qmp.execute('migrate_cancel');
        for (let i = 0; i < 200; i++) {
          const m = statsOf(await this.#qmp.execute('query-migrate'));
          if (
            m.status !== 'active' &&
            m.status !== 'setup' &&
            m.status !== 'cancelling' &&
            m.status !== 'device' &&
            m.status !== 'pre-switchover'
          )
            break;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      status = await this.#qmp.status();
      if (this.#wasRunning && status !== 'running') {
        await this.#qmp.execute('cont');
        status = await this.#qmp.status();
      }
      this.#log.event('vm-resumed', { at: 'source', status, reason: reason.slice(0, 300) });
    } catch (err) {
      this.#log.event('vm-resume-failed', { reason: (err as Error).message });
    }
    await this.#cleanup();
    return status;
  }

  async #cleanup(): Promise<void> {
    this.#server?.close();
    this.#conn?.destroy();
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
    await this.#qmp.close().catch(() => {});
  }
}
