/**
 * Where `smig control` keeps its state when `--journal` does not say: a state directory, never the working
 * directory (a controller restarted from elsewhere would silently start a fresh journal and forget its
 * honeypots and open sessions).
 *
 * - root: `/var/lib/smig`;
 * - others: `$XDG_STATE_HOME/smig` when XDG_STATE_HOME is an absolute path (the XDG Base Directory
 *   specification ignores a relative one), else `~/.local/state/smig`.
 * The directory is created with mode 0700 (parents as needed); the journal in it is `control.journal`.
 */
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { smigError } from '../errors.js';

/** The journal's name inside the state directory. */
export const JOURNAL_NAME = 'control.journal';

/** The state directory for a user (see the module comment). */
export function defaultStateDir(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
  home: string = homedir(),
): string {
  if (uid === 0) return '/var/lib/smig';
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'smig');
  return join(home, '.local', 'state', 'smig');
}

/**
 * Creates `dir` (mode 0700, parents as needed) unless it exists; returns it.
 * @throws SmigError SMIG_ERR_FILE naming the directory when it cannot be made or is not a directory
 */
export async function ensureStateDir(dir: string): Promise<string> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw smigError(
      'SMIG_ERR_FILE',
      `state directory ${dir}: ${code === 'EEXIST' || code === 'ENOTDIR' ? 'not a directory' : (code ?? (err as Error).message)} (or give --journal FILE)`,
      err,
    );
  }
  return dir;
}

/** The journal path: `--journal` as given, else `control.journal` in the (created) state directory. */
export async function journalPath(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): Promise<string> {
  if (given !== undefined) return given;
  return join(await ensureStateDir(defaultStateDir(env, uid)), JOURNAL_NAME);
}
