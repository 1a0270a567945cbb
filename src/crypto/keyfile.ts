/**
 * Cluster key files (docs/DESIGN.md §3 "Channel", §6 `smig keygen [-o FILE]` and `--key FILE`): the 32-byte
 * pre-shared key of every TLS-PSK connection.
 *
 * Format: one line of text, `smig-key-v1 <64 hex digits>` and a newline (trailing whitespace is tolerated on
 * load, hex digits in either case). Files are written with mode 0600, atomically (temporary file in the same
 * directory, fsync, then link or rename) and never over an existing file unless `force` is set. Like ssh with
 * private keys, loading refuses a file that group or others may read or write.
 * Error messages never quote the file's content.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isSmigError, smigError } from '../errors.js';
import { KEY_BYTES } from './shares.js';
import { wipe } from './wipe.js';

/** First word of a key file; the version is part of it. */
export const KEY_FILE_TAG = 'smig-key-v1';
/** A key file is one short line; anything larger is refused before it is read. */
export const MAX_KEY_FILE_BYTES = 1024;

const KEY_LINE = /^smig-key-v1 ([0-9A-Fa-f]*)\s*$/;

/** A fresh cluster key: 32 bytes from the CSPRNG. */
export function generateKey(): Uint8Array {
  return randomFillSync(new Uint8Array(KEY_BYTES));
}

/**
 * The key file text for `key` (what `smig keygen` prints without `-o`).
 * @example encodeKeyFile(key) === 'smig-key-v1 00112233…eeff\n'
 */
export function encodeKeyFile(key: Uint8Array): string {
  if (key.length !== KEY_BYTES) throw smigError('SMIG_ERR_INTERNAL', `key file: key must be ${KEY_BYTES} bytes`);
  return `${KEY_FILE_TAG} ${Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex')}\n`;
}

/**
 * Parses key file text; `where` names the source in error messages.
 * @throws SmigError SMIG_ERR_KEY_FILE for malformed content or a wrong key length
 */
export function parseKeyFile(text: string, where: string): Uint8Array {
  const m = KEY_LINE.exec(text);
  if (!m) throw keyFileError(where, `malformed content (expected one line '${KEY_FILE_TAG} <64 hex digits>')`);
  const hex = m[1]!;
  if (hex.length !== 2 * KEY_BYTES) {
    throw keyFileError(
      where,
      `wrong key length: ${hex.length} hex digits, expected ${2 * KEY_BYTES} (${KEY_BYTES} bytes)`,
    );
  }
  const b = Buffer.from(hex, 'hex');
  const key = new Uint8Array(b);
  wipe(b);
  return key;
}

/**
 * Writes `key` to `path` as a key file (mode 0600), atomically.
 * @throws SmigError SMIG_ERR_KEY_FILE when the file exists (and `force` is not set) or cannot be written
 */
export async function writeKeyFile(path: string, key: Uint8Array, opts: { force?: boolean } = {}): Promise<void> {
  await writeSecretFile(path, encodeKeyFile(key), opts);
}

/**
 * Writes `text` to `path` with mode 0600, atomically (temporary file, fsync, link or rename), never over an
 * existing file unless `force` is set. Shared by cluster key files and identity files.
 * @throws SmigError SMIG_ERR_KEY_FILE when the file exists (and `force` is not set) or cannot be written
 */
export async function writeSecretFile(path: string, text: string, opts: { force?: boolean } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.chmod(0o600); // whatever the umask
    await fh.writeFile(text);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (opts.force) await rename(tmp, path);
    else await linkNoClobber(tmp, path);
  } catch (err) {
    if (isSmigError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw keyFileError(path, `cannot write (${code})`, err);
  } finally {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {}); // gone after rename; still there after link or on failure
  }
  await syncDir(dirname(path));
}

/**
 * Generates a fresh key and writes it to `path` (`smig keygen -o FILE`; `--force` maps to `opts.force`).
 * For standard output use `encodeKeyFile(generateKey())`.
 * @throws SmigError SMIG_ERR_KEY_FILE as writeKeyFile
 */
export async function generateKeyFile(path: string, opts: { force?: boolean } = {}): Promise<void> {
  const key = generateKey();
  try {
    await writeKeyFile(path, key, opts);
  } finally {
    wipe(key);
  }
}

/**
 * Reads the cluster key from a key file. Refuses, with one line naming the file: a missing file, one that is
 * not a regular file, one readable or writable by group or others (mode & 0o077), malformed content and a
 * wrong key length.
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export async function loadKeyFile(path: string): Promise<Uint8Array> {
  const buf = await readSecretFile(path, MAX_KEY_FILE_BYTES);
  try {
    return parseKeyFile(buf.toString('latin1'), path);
  } finally {
    wipe(buf);
  }
}

/**
 * Reads a small secret file whole. Refuses, with one line naming the file: a missing file, one that is not a
 * regular file, one readable or writable by group or others (mode & 0o077), one larger than `maxBytes`.
 * The caller wipes the returned buffer.
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export async function readSecretFile(path: string, maxBytes: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang; the checks below refuse it anyway
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? 'error'})`;
    throw keyFileError(path, why, err);
  }
  const buf = Buffer.alloc(maxBytes + 1);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw keyFileError(path, 'not a regular file');
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw keyFileError(
        path,
        `permissions ${mode} are too open: group and others must have no access (chmod 600 '${path}')`,
      );
    }
    if (st.size > maxBytes) throw keyFileError(path, `malformed content (${st.size} bytes; a key file is one line)`);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > maxBytes) throw keyFileError(path, 'malformed content (grew while being read)');
    const out = Buffer.from(buf.subarray(0, bytesRead));
    return out;
  } catch (err) {
    if (isSmigError(err)) throw err;
    throw keyFileError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  } finally {
    wipe(buf);
    await fh.close().catch(() => {});
  }
}

/** Publishes `tmp` as `path` unless `path` exists: link() fails atomically with EEXIST. */
async function linkNoClobber(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw keyFileError(path, 'already exists (use --force to replace it)');
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // file systems without hard links: check, then rename (not atomic against a concurrent writer)
    if (
      await lstat(path).then(
        () => true,
        () => false,
      )
    )
      throw keyFileError(path, 'already exists (use --force to replace it)');
    await rename(tmp, path);
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY).catch(() => undefined);
  await d?.sync().catch(() => {});
  await d?.close().catch(() => {});
}

function keyFileError(path: string, why: string, cause?: unknown): Error {
  return smigError('SMIG_ERR_KEY_FILE', `key file ${path}: ${why}`, cause);
}
