/**
 * Restoring a migrated VM at the destination: the operator's command template starts QEMU waiting for an
 * incoming migration on its standard input, smig feeds it the stream as it arrives (no file in between),
 * and starts the VM only once the stream is complete and verified.
 *
 * The template runs as `/bin/sh -c TEMPLATE smig-vm` in its own process group with:
 * - stdin: the migration stream (so QEMU takes `-incoming fd:0`);
 * - `$SMIG_QMP`: a Unix socket path QEMU must serve its monitor on (`-qmp unix:$SMIG_QMP,server=on,wait=off`);
 * - `$SMIG_NAME` (the VM's name: the session name without `.vmstate`) and `$SMIG_SESSION`.
 * It should pass `-S`, so the VM does not run before smig has verified the stream (length and SHA-256);
 * smig then runs `cont` and waits for `query-status` to say `running`.
 *
 * The monitor socket is created under a temporary name in the output directory and published under
 * `NAME.qmp` (never replacing an existing name) once the VM runs: the "installed" VM is its monitor. On any
 * failure the whole process group is killed and the socket removed, so nothing half-restored keeps running;
 * and QEMU itself exits when its input ends before the stream is complete (a killed `smig recv`).
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { smigError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import type { QmpObject } from './qmp.js';
import { QmpClient } from './qmp.js';

/** Session names ending in this are restored into a VM by a destination given a VM template. */
export const VM_SUFFIX = '.vmstate';
/** Longest Unix socket path (sun_path is 108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH = 107;
/** Bytes of the command's standard error kept for the error message. */
const STDERR_TAIL = 2048;

/** True when a session of this name is a VM's migration stream. */
export function isVmName(name: string): boolean {
  return name.endsWith(VM_SUFFIX) && name.length > VM_SUFFIX.length;
}

/** Options of {@link VmRestore.start}. */
export interface VmRestoreOptions {
  /** The operator's command template. */
  command: string;
  /** Where the monitor socket goes while restoring (a temporary name in the output directory). */
  qmpPath: string;
  name: string;
  session: string;
  /** Longest wait for the monitor to come up, and for QEMU to finish loading once the stream ended. Default 30 s. */
  timeoutMs?: number;
  log?: Logger;
}

/** A QEMU process restoring one migration. */
export class VmRestore {
  readonly #o: VmRestoreOptions;
  readonly #child: ChildProcess;
  readonly #log: Logger;
  readonly #exited: Promise<{ code: number | null; signal: string | null }>;
  #qmp: QmpClient | undefined;
  #stderr = '';
  #exit: { code: number | null; signal: string | null } | null = null;
  #written = 0;

  private constructor(o: VmRestoreOptions, child: ChildProcess) {
    this.#o = o;
    this.#child = child;
    this.#log = o.log ?? silentLogger;
    child.stderr?.on('data', (b: Buffer) => {
      this.#stderr = (this.#stderr + b.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.stdin?.on('error', () => {}); // EPIPE when QEMU is gone: reported by write()
    this.#exited = new Promise((resolve) => {
      child.once('error', () => resolve({ code: 127, signal: null }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    }).then((e) => {
      this.#exit = e as { code: number | null; signal: string | null };
      return this.#exit;
    });
  }

  /**
   * Starts the template and connects to its monitor.
   * @throws SmigError SMIG_ERR_VM when the command exits, serves no monitor in time, or QEMU is not waiting
   *   for an incoming migration
   */
  static async start(o: VmRestoreOptions): Promise<VmRestore> {
    if (Buffer.byteLength(o.qmpPath) > MAX_SOCKET_PATH) {
      throw smigError(
        'SMIG_ERR_VM',
        `VM restore: the monitor socket path ${o.qmpPath} is longer than ${MAX_SOCKET_PATH} bytes (use a shorter --out directory)`,
      );
    }
    const child = spawn('/bin/sh', ['-c', o.command, 'smig-vm'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, SMIG_QMP: o.qmpPath, SMIG_NAME: o.name, SMIG_SESSION: o.session },
    });
    const r = new VmRestore(o, child);
    const timeoutMs = o.timeoutMs ?? 30_000;
    const abort = new AbortController();
    try {
      r.#qmp = await Promise.race([
        QmpClient.connect(o.qmpPath, { retry: true, timeoutMs, signal: abort.signal }),
        r.#exited.then((e) => {
          throw smigError(
            'SMIG_ERR_VM',
            `VM restore: the command ${describeExit(e)} before its monitor came up${r.#stderrNote()}`,
          );
        }),
      ]);
      const status = await r.#qmp.status();
      if (status !== 'inmigrate')
        throw smigError(
          'SMIG_ERR_VM',
          `VM restore: the VM is '${status}', not waiting for a migration (start QEMU with -incoming fd:0)`,
        );
    } catch (err) {
      abort.abort();
      await r.kill();
      throw err instanceof Error && (err as { code?: string }).code === 'SMIG_ERR_VM'
        ? err
        : smigError('SMIG_ERR_VM', `VM restore: ${(err as Error).message}`, err);
    }
    r.#log.event('vm-restore-started', { pid: child.pid ?? null });
    return r;
  }

  /** Feeds stream bytes to QEMU, waiting while its pipe is full. */
  async write(bytes: Uint8Array): Promise<void> {
    const stdin = this.#child.stdin!;
    if (this.#exit !== null || stdin.destroyed) throw this.#gone('while the stream was coming in');
    const ok = stdin.write(Buffer.from(bytes)); // a copy: the caller wipes its buffer
    this.#written += bytes.length;
    if (ok) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stdin.off('drain', done);
        stdin.off('close', done);
        if (this.#exit !== null || stdin.destroyed) reject(this.#gone('while the stream was coming in'));
        else resolve();
      };
      stdin.once('drain', done);
      stdin.once('close', done);
      void this.#exited.then(done);
    });
  }

  /**
   * The stream is complete and verified: close QEMU's input, wait until it loaded the state, start the VM
   * and check it runs.
   * @throws SmigError SMIG_ERR_VM
   */
  async finish(): Promise<void> {
    this.#child.stdin!.end();
    const qmp = this.#qmp!;
    const deadline = Date.now() + (this.#o.timeoutMs ?? 30_000);
    for (;;) {
      if (this.#exit !== null) throw this.#gone('while loading the state');
      let status: string;
      try {
        status = await qmp.status();
      } catch {
        throw this.#gone('while loading the state');
      }
      if (status === 'paused' || status === 'running') break;
      if (status !== 'inmigrate')
        throw smigError('SMIG_ERR_VM', `VM restore: the VM went from inmigrate to '${status}'`);
      const m = (await qmp.execute('query-migrate').catch(() => null)) as QmpObject | null;
      if (m?.status === 'failed')
        throw smigError(
          'SMIG_ERR_VM',
          `VM restore: QEMU failed to load the state${typeof m['error-desc'] === 'string' ? ` (${m['error-desc'].slice(0, 300)})` : ''}${this.#stderrNote()}`,
        );
      if (Date.now() > deadline)
        throw smigError('SMIG_ERR_VM', 'VM restore: QEMU did not finish loading the state in time');
      await new Promise((r) => setTimeout(r, 25));
    }
    if ((await qmp.status()) === 'paused') await qmp.execute('cont');
    const status = await qmp.status();
    if (status !== 'running')
      throw smigError('SMIG_ERR_VM', `VM restore: after cont the VM is '${status}', not running`);
    this.#log.event('vm-running', { at: 'destination', bytes: this.#written });
  }

  /** After success: let go of the VM (it keeps running, in its own process group, after smig exits). */
  async detach(): Promise<void> {
    this.#child.stderr?.removeAllListeners('data');
    this.#child.stderr?.resume();
    this.#child.unref();
    (this.#child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    await this.#qmp?.close().catch(() => {});
  }

  /** Kills the whole process group (nothing half-restored or unconfirmed keeps running) and removes the monitor socket. */
  async kill(): Promise<void> {
    await this.#qmp?.close().catch(() => {});
    const pid = this.#child.pid;
    if (pid !== undefined && this.#exit === null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await this.#exited;
    }
    await unlink(this.#o.qmpPath).catch(() => {});
    this.#log.event('vm-restore-killed', { bytes: this.#written });
  }

  #gone(when: string): Error {
    const why = this.#exit === null ? 'closed its input' : describeExit(this.#exit);
    return smigError('SMIG_ERR_VM', `VM restore: QEMU ${why} ${when}${this.#stderrNote()}`);
  }

  #stderrNote(): string {
    const line = this.#stderr
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop();
    return line === undefined ? '' : `: ${line.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 300)}`;
  }
}

function describeExit(e: { code: number | null; signal: string | null }): string {
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with status ${e.code}`;
}
