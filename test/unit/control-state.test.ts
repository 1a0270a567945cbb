/** Where `smig control` keeps its journal when --journal does not say (src/control/state.ts). */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultStateDir, ensureStateDir, JOURNAL_NAME, journalPath } from '../../src/control/state.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('defaultStateDir', () => {
  it('is /var/lib/smig for root, whatever the environment says', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/x' }, 0, '/root')).toBe('/var/lib/smig');
  });
  it('is $XDG_STATE_HOME/smig for others when it is absolute, else ~/.local/state/smig', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/home/u/.st' }, 1000, '/home/u')).toBe('/home/u/.st/smig');
    expect(defaultStateDir({ XDG_STATE_HOME: 'relative/st' }, 1000, '/home/u')).toBe('/home/u/.local/state/smig');
    expect(defaultStateDir({ XDG_STATE_HOME: '' }, 1000, '/home/u')).toBe('/home/u/.local/state/smig');
    expect(defaultStateDir({}, 1000, '/home/u')).toBe('/home/u/.local/state/smig');
  });
});

describe('ensureStateDir / journalPath', () => {
  it('creates the directory and its parents with mode 0700, and accepts it when it exists', async () => {
    const d = join(dir, 'a', 'b', 'smig');
    expect(await ensureStateDir(d)).toBe(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'a')).mode & 0o077).toBe(0);
    expect(await ensureStateDir(d)).toBe(d);
  });
  it('names a path that is a file in one line', async () => {
    const f = join(dir, 'file');
    writeFileSync(f, '');
    await expect(ensureStateDir(f)).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `state directory ${f}: not a directory (or give --journal FILE)`,
    });
  });
  it('--journal wins; without it the journal is control.journal in the state directory (made on demand)', async () => {
    expect(await journalPath('here.journal', {})).toBe('here.journal');
    const xdg = join(dir, 'xdg');
    expect(await journalPath(undefined, { XDG_STATE_HOME: xdg }, 1000)).toBe(join(xdg, 'smig', JOURNAL_NAME));
    expect(statSync(join(xdg, 'smig')).mode & 0o777).toBe(0o700);
  });
});
