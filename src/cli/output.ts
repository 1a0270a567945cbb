/**
 * Output files of the commands (`--plot`, `--csv`, `-o`, `-w`, `--out`): a missing parent directory is made
 * (as `mkdir -p`), so `--plot out/report.html` works like `--csv out/` does; a failure is one line naming
 * the option and the path.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { smigError } from '../errors.js';

function reason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EEXIST':
      return 'exists and is not a directory';
    default:
      return e.code ?? e.message;
  }
}

/** Makes DIR and its parents (`mkdir -p`). */
export async function ensureDir(dir: string, what: string): Promise<void> {
  await mkdir(dir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw smigError('SMIG_ERR_FILE', `${what}: cannot make directory ${dir}: ${reason(e)}`);
  });
}

/** Makes the directory FILE goes into (`mkdir -p $(dirname FILE)`); `-` (stdout) is left alone. */
export async function ensureParentDir(file: string, what: string): Promise<void> {
  if (file === '-') return;
  await ensureDir(dirname(file), what);
}

/** Writes TEXT to FILE, making its directory first. */
export async function writeOutputFile(file: string, text: string, what: string): Promise<void> {
  await ensureParentDir(file, what);
  await writeFile(file, text).catch((e: NodeJS.ErrnoException) => {
    throw smigError('SMIG_ERR_FILE', `${what}: cannot write ${file}: ${reason(e)}`);
  });
}
