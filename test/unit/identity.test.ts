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
  it('derives the public halves of RFC 8032 (Ed25519 test 1) and RFC 7748 (X25519, Alice) from their private keys', () => {
    const id = parseIdentityFile(
      `smig-id-v1 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60 77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n`,
      'vectors',
    );
    expect(Buffer.from(id.public.sign).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(Buffer.from(id.public.agree).toString('hex')).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
  });

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
