import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  encodeKeyFile,
  generateKey,
  generateKeyFile,
  loadKeyFile,
  parseKeyFile,
  writeKeyFile,
} from '../../src/crypto/keyfile.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-keyfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const KEY_HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
let n = 0;
const fresh = (): string => join(dir, `k${n++}`);

/** Writes a file with the given content and mode (chmod after write: the umask does not interfere). */
function put(content: string, mode = 0o600): string {
  const p = fresh();
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

async function refused(p: Promise<unknown>, message: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: 'SmigError', code: 'SMIG_ERR_KEY_FILE', message });
  expect(message).not.toContain('\n');
}

describe('format', () => {
  test('one line: tag, 64 lowercase hex digits, newline', () => {
    expect(encodeKeyFile(KEY)).toBe(`smig-key-v1 ${KEY_HEX}\n`);
    expect([...parseKeyFile(`smig-key-v1 ${KEY_HEX}\n`, 'x')]).toEqual([...KEY]);
  });

  test('tolerates upper case, CRLF, a missing newline and trailing blanks', () => {
    for (const t of [
      `smig-key-v1 ${KEY_HEX.toUpperCase()}\n`,
      `smig-key-v1 ${KEY_HEX}\r\n`,
      `smig-key-v1 ${KEY_HEX}`,
      `smig-key-v1 ${KEY_HEX}  \n\n`,
    ]) {
      expect([...parseKeyFile(t, 'x')]).toEqual([...KEY]);
    }
  });

  test('generateKey gives 32 fresh bytes', () => {
    const a = generateKey();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(Buffer.from(a).equals(Buffer.from(generateKey()))).toBe(false);
  });
});

describe('writing', () => {
  test('generateKeyFile writes mode 0600 in the documented format and loadKeyFile reads it back', async () => {
    const p = fresh();
    await generateKeyFile(p);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const text = readFileSync(p, 'utf8');
    expect(text).toMatch(/^smig-key-v1 [0-9a-f]{64}\n$/);
    const key = await loadKeyFile(p);
    expect(Buffer.from(key).toString('hex')).toBe(text.slice(12, 76));
  });

  test('an existing file is kept unless forced; no temporary file is left behind', async () => {
    const p = fresh();
    await writeKeyFile(p, KEY);
    await refused(generateKeyFile(p), `key file ${p}: already exists (use --force to replace it)`);
    expect([...(await loadKeyFile(p))]).toEqual([...KEY]);
    await generateKeyFile(p, { force: true });
    expect([...(await loadKeyFile(p))]).not.toEqual([...KEY]);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('an unwritable place is one clear line', async () => {
    const p = join(dir, 'no-such-dir', 'key');
    await refused(generateKeyFile(p), `key file ${p}: cannot write (ENOENT)`);
  });
});

describe('loadKeyFile refuses', () => {
  test('a missing file', async () => {
    const p = join(dir, 'missing');
    await refused(loadKeyFile(p), `key file ${p}: no such file`);
  });

  test('a directory, a FIFO', async () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    await refused(loadKeyFile(d), `key file ${d}: not a regular file`);
    const f = fresh();
    execFileSync('mkfifo', ['-m', '600', f]);
    await refused(loadKeyFile(f), `key file ${f}: not a regular file`); // and does not hang
  });

  test.each([0o644, 0o640, 0o604, 0o620, 0o602, 0o700 | 0o010])(
    'mode %o (group or others have access)',
    async (mode) => {
      const p = put(encodeKeyFile(KEY), mode);
      const shown = (mode & 0o777).toString(8).padStart(4, '0');
      await refused(
        loadKeyFile(p),
        `key file ${p}: permissions ${shown} are too open: group and others must have no access (chmod 600 '${p}')`,
      );
    },
  );

  test('owner-only modes are accepted, through a symlink too', async () => {
    for (const mode of [0o600, 0o400, 0o700])
      expect([...(await loadKeyFile(put(encodeKeyFile(KEY), mode)))]).toEqual([...KEY]);
    const target = put(encodeKeyFile(KEY));
    const link = fresh();
    symlinkSync(target, link);
    expect([...(await loadKeyFile(link))]).toEqual([...KEY]);
  });

  test.each([
    ['empty', ''],
    ['another tag', `smig-key-v2 ${KEY_HEX}\n`],
    ['bare hex', `${KEY_HEX}\n`],
    ['non-hex digits', `smig-key-v1 ${'zz'.repeat(32)}\n`],
    ['two lines', `smig-key-v1 ${KEY_HEX}\nsmig-key-v1 ${KEY_HEX}\n`],
    ['leading space', ` smig-key-v1 ${KEY_HEX}\n`],
  ])('malformed content: %s', async (_, content) => {
    const p = put(content);
    await refused(loadKeyFile(p), `key file ${p}: malformed content (expected one line 'smig-key-v1 <64 hex digits>')`);
  });

  test.each([[62], [66], [0]])('a wrong key length: %i hex digits', async (digits) => {
    const p = put(`smig-key-v1 ${'ab'.repeat(digits / 2)}\n`);
    await refused(loadKeyFile(p), `key file ${p}: wrong key length: ${digits} hex digits, expected 64 (32 bytes)`);
  });

  test('a large file, without reading it', async () => {
    const p = put(`smig-key-v1 ${KEY_HEX}\n`.repeat(100));
    await refused(loadKeyFile(p), `key file ${p}: malformed content (7700 bytes; a key file is one line)`);
  });

  test('messages never quote the key', async () => {
    const p = put(`smig-key-v1 ${KEY_HEX}0\n`);
    const err = await loadKeyFile(p).catch((e: Error) => e);
    expect((err as Error).message).not.toContain(KEY_HEX);
  });
});
