/**
 * Attack: a cluster-key holder plays leader towards `smig recv` and delivers a file of its own (before
 * identities, any key holder could install files there and trigger --exec). A destination with an identity
 * opens only what is sealed to it, and with `--trust-source` only what a trusted source signed: the fake
 * leader's stream — unsealed, sealed but unsigned, or signed by its own key — is refused before a byte is
 * installed, and the legitimate source's migration goes through.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, parsePublicKey } from '../../src/crypto/identity.js';
import { InnerSealer } from '../../src/crypto/inner.js';
import { loadKeyFile } from '../../src/crypto/keyfile.js';
import { connectChannel, parseHostPort } from '../../src/net/index.js';
import type { Message } from '../../src/protocol/index.js';
import { decodeMessage, FrameType } from '../../src/protocol/index.js';
import type { Proc } from '../e2e/migration-helpers.js';
import { makeRandomFile, sha256File, spawnRecv, spawnRelay, stopAll } from '../e2e/migration-helpers.js';
import { runBin } from '../helpers/cli.js';
import { scratch, sendArgv } from './helpers.js';

let s: Awaited<ReturnType<typeof scratch>>;
let recv: Proc;
let relay: Proc;
const srcId = (): string => join(s.dir, 'src.id');

beforeAll(async () => {
  s = await scratch('smig-adv-install-');
  expect((await runBin(['keygen', '--identity', '-o', srcId()])).status).toBe(0);
  [recv, relay] = await Promise.all([
    spawnRecv(s.keyFile, s.outDir, [
      '--identity',
      s.idFile,
      '--trust-source',
      `${srcId()}.pub`,
      '--exec',
      'touch "$1.exec-ran"',
    ]),
    spawnRelay(s.keyFile),
  ]);
}, 60_000);

afterAll(async () => {
  await stopAll();
  rmSync(s.dir, { recursive: true, force: true });
}, 60_000);

/** Plays leader towards the destination: SESSION, the inner stream as DATA, END; returns what came back. */
async function deliver(name: string, mode: 'unsealed' | 'unsigned' | 'own-key'): Promise<Message[]> {
  const key = await loadKeyFile(s.keyFile);
  const destPub = parsePublicKey(readFileSync(`${s.idFile}.pub`, 'utf8'), 'dest');
  const sessionId = new Uint8Array(randomBytes(16));
  const payload = new Uint8Array(randomBytes(10_000));
  const sealer = new InnerSealer({
    sessionId,
    destination: recv.addr,
    name,
    length: payload.length,
    segmentSize: 4096,
    ...(mode === 'unsealed' ? {} : { dest: destPub }),
    ...(mode === 'own-key' ? { signer: generateIdentity() } : {}),
  });
  const stream = Buffer.concat([sealer.prefix(), ...sealer.push(payload), ...sealer.finish()]);
  const conn = await connectChannel(parseHostPort(recv.addr, 'recv'), { key });
  const got: Message[] = [];
  conn.onFrame((type, body) => void got.push(decodeMessage(type, body)));
  await conn.sendMessage({ type: FrameType.SESSION, sessionId, role: 'destination', name, length: stream.length });
  await conn.sendMessage({ type: FrameType.DATA, offset: 0, bytes: stream }).catch(() => {});
  await conn
    .sendMessage({ type: FrameType.END, length: stream.length, sha256: createHash('sha256').update(stream).digest() })
    .catch(() => {});
  await conn.closed;
  return got;
}

describe('a key holder playing leader towards a destination that trusts one source', () => {
  let seen = 0;
  for (const [mode, why] of [
    ['unsealed', /not signed by a source this destination trusts/],
    ['unsigned', /not signed by a source this destination trusts/],
    ['own-key', /signed by a source this destination does not trust/],
  ] as const) {
    it(`cannot install a file (${mode} stream): ERROR, nothing installed, --exec never runs`, async () => {
      const got = await deliver(`evil-${mode}`, mode);
      expect(got.map((m) => m.type)).toEqual([FrameType.ERROR]);
      expect((got[0] as { message: string }).message).toMatch(why);
      expect(existsSync(join(s.outDir, `evil-${mode}`))).toBe(false);
      // its temporary file is gone once the destination logs the failure
      const failures = (): number => (recv.stderr.match(/ receive-failed session=/g) ?? []).length;
      for (let i = 0; i < 200 && failures() <= seen; i++) await new Promise((r) => setTimeout(r, 50));
      expect(failures()).toBe(seen + 1);
      seen = failures();
      expect(readdirSync(s.outDir).filter((f) => f.endsWith('.part') || f.endsWith('.exec-ran'))).toEqual([]);
    }, 30_000);
  }

  it('the trusted source, signing with its identity, migrates through a relay', async () => {
    const file = join(s.dir, 'good.bin');
    const sha = await makeRandomFile(file, 250_000);
    const r = await runBin(
      sendArgv(s, {
        file,
        dest: recv.addr,
        data: relay.addr,
        keys: relay.addr,
        threshold: 1,
        extra: ['--identity', srcId()],
      }),
      { timeoutMs: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(await sha256File(join(s.outDir, 'good.bin'))).toBe(sha);
    expect(existsSync(join(s.outDir, 'good.bin.exec-ran'))).toBe(true);
    await recv.waitFor(/ installed session=\w+ file=\S+good\.bin bytes=250000 sha256=\w+ sealed=true source=SHA256:/);
  }, 60_000);
});
