import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  agreeSecret,
  encodeIdentityFile,
  encodePublicKey,
  ephemeralX25519,
  fingerprint,
  generateIdentity,
  loadIdentityFile,
  loadPublicKeyFile,
  parseIdentityFile,
  parsePublicKey,
  samePublicIdentity,
  signMessage,
  verifyMessage,
  writeIdentityFiles,
  x25519,
} from '../../src/crypto/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-id-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('identity keys', () => {
  it('round-trips the private file and derives the same public halves', () => {
    const id = generateIdentity('h1');
    const back = parseIdentityFile(encodeIdentityFile(id), 'mem');
    expect(samePublicIdentity(back.public, id.public)).toBe(true);
    const pub = parsePublicKey(encodePublicKey(id.public), 'mem');
    expect(pub.comment).toBe('h1');
    expect(fingerprint(pub)).toBe(fingerprint(id.public));
    expect(fingerprint(pub)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('signs and verifies; a flipped bit or another key fails', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    const msg = new TextEncoder().encode('receipt');
    const sig = signMessage(a, msg);
    expect(verifyMessage(a.public, msg, sig)).toBe(true);
    expect(verifyMessage(b.public, msg, sig)).toBe(false);
    const bad = Uint8Array.from(sig);
    bad[10] = bad[10]! ^ 1;
    expect(verifyMessage(a.public, msg, bad)).toBe(false);
    expect(verifyMessage(a.public, msg, sig.subarray(0, 63))).toBe(false);
  });

  it('agrees on the same secret from both sides, and with an ephemeral key', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    expect(Buffer.compare(agreeSecret(a, b.public), agreeSecret(b, a.public))).toBe(0);
    const e = ephemeralX25519();
    expect(
      Buffer.compare(
        x25519(e.privateKey, b.public.agree),
        agreeSecret(b, { sign: new Uint8Array(32), agree: e.publicKey }),
      ),
    ).toBe(0);
    expect(() => x25519(e.privateKey, new Uint8Array(32))).toThrow(/low-order|invalid/);
  });

  it('writes 0600 + .pub files, loads them, refuses open permissions and junk', async () => {
    const p = join(dir, 'h1.id');
    const id = generateIdentity('h1');
    await writeIdentityFiles(p, id);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const loaded = await loadIdentityFile(p);
    expect(samePublicIdentity(loaded.public, id.public)).toBe(true);
    const pub = await loadPublicKeyFile(`${p}.pub`);
    expect(samePublicIdentity(pub, id.public)).toBe(true);
    await expect(writeIdentityFiles(p, id)).rejects.toThrow(/already exists/);
    chmodSync(p, 0o644);
    await expect(loadIdentityFile(p)).rejects.toThrow(/too open/);
    expect(() => parseIdentityFile('smig-id-v1 zz', 'x')).toThrow(/identity x: malformed/);
    expect(() => parsePublicKey('ssh-ed25519 AAAA', 'y')).toThrow(/identity y: malformed public key/);
    expect(readFileSync(`${p}.pub`, 'utf8')).toMatch(/^smig-pub-v1 [0-9a-f]{64} [0-9a-f]{64} h1\n$/);
  });
});
