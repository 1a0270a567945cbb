/**
 * The destination's files in its output directory: the sender's name made safe, the publish under a free name
 * that never overwrites, the sweep of temporaries left by killed receivers, the write and sync helpers, and a
 * file-system failure as the one line that may travel upstream.
 */
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { link, lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { smigError } from '../errors.js';

const MAX_NAME_BYTES = 240;
const TEMP_NAME = /^\.smig-(\d+)-[0-9a-f]{16}\.part$/;

/**
 * Makes the sender's name safe to create in the output directory: control characters, invisible format
 * characters (bidi controls such as U+202E, which make `gnp.exe` display as `exe.png`; zero-width ones),
 * line separators and path separators become `_`; a leading `.` becomes `_` (no hidden files, never a
 * `.smig-` temporary name, never `.` or `..`) and so does a leading `-` (never read as an option by a
 * command the operator runs on the file); it is cut to 240 UTF-8 bytes; an empty result becomes `migration`.
 * @example sanitizeName('../etc/passwd') === '_._etc_passwd'
 */
export function sanitizeName(name: string): string {
  let s = name.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}/\\]/gu, '_').replace(/^[.-]/, '_');
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > MAX_NAME_BYTES) {
    let end = MAX_NAME_BYTES;
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // a character boundary
    s = bytes.subarray(0, end).toString('utf8');
  }
  return s === '' ? 'migration' : s;
}

/**
 * A file-system failure as it may travel upstream in ERROR (relays and the leader read it): SMIG_ERR_FILE, a
 * plain reason and the errno code, never a path or a file name (the destination logs those locally).
 * @example upstreamFileError('write the file', enospc).message === 'destination: cannot write the file: no space left on the device (ENOSPC)'
 */
export function upstreamFileError(what: string, err: unknown): Error {
  let e: unknown = err;
  while (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    (e as NodeJS.ErrnoException).code!.startsWith('SMIG_') &&
    e.cause !== undefined
  )
    e = e.cause;
  const code = (e as NodeJS.ErrnoException).code;
  const errno = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
  const why = errno === undefined ? "see the destination's log" : (FS_REASONS[errno] ?? 'file system error');
  return smigError(
    'SMIG_ERR_FILE',
    `destination: cannot ${what}: ${why}${errno === undefined ? '' : ` (${errno})`}`,
    err,
  );
}

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the file system',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
};

/**
 * Publishes `tmp` in `dir` under `name`, or `name.1`, `name.2`, … when taken; never overwrites. Removes
 * `tmp`. Returns the name used.
 * @throws SmigError SMIG_ERR_FILE when no name is free or the file system refuses
 */
export async function installNoClobber(tmp: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < 10_000; n++) {
    const candidate = n === 0 ? name : `${name}.${n}`;
    const target = join(dir, candidate);
    if (dirname(target) !== dir) throw smigError('SMIG_ERR_FILE', `install: '${candidate}' is not a plain name`);
    try {
      await link(tmp, target); // atomic: fails with EEXIST instead of replacing
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
        throw smigError('SMIG_ERR_FILE', `install into ${dir}: ${code ?? (err as Error).message}`, err);
      }
      // a file system without hard links: check, then rename (not atomic against another writer)
      if (
        await lstat(target).then(
          () => true,
          () => false,
        )
      )
        continue;
      await rename(tmp, target);
      return candidate;
    }
    await unlink(tmp);
    return candidate;
  }
  throw smigError('SMIG_ERR_FILE', `install into ${dir}: no free name for '${name}' (tried ${name}.1 … ${name}.9999)`);
}

/**
 * Deletes temporary files of `smig recv` processes that no longer run (a killed receiver cannot delete
 * its own). Returns the names removed.
 */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const m = TEMP_NAME.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await unlink(join(dir, name)).then(
      () => removed.push(name),
      () => {},
    );
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes all of `bytes` at the file's position (a write may take fewer). */
export async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}

/** fsync of a directory, so a new name in it survives a crash (best effort). */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, fsConstants.O_RDONLY).catch(() => undefined);
  await d?.sync().catch(() => {});
  await d?.close().catch(() => {});
}
