/**
 * The control channel's signatures (src/control/auth.ts): canonical JSON, domain separation, the challenge,
 * and the TLS channel binding over real TLS-PSK channels on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, channelBinding, checkSignature, newChallenge, signBody } from '../../src/control/auth.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import type { FramedConnection } from '../../src/net/index.js';
import { connectChannel, listenChannel } from '../../src/net/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined, like JSON.stringify does', () => {
    expect(canonicalJson({ b: 1, a: [{ z: null, y: 'é\n' }, undefined], c: undefined })).toBe(
      '{"a":[{"y":"é\\n","z":null},null],"b":1}',
    );
    expect(canonicalJson(JSON.parse('{"x":{"q":1,"p":2}}'))).toBe(canonicalJson({ x: { p: 2, q: 1 } }));
  });
});

describe('signBody / checkSignature', () => {
  const id = generateIdentity();
  const binding = new Uint8Array(randomBytes(32));
  const body = { type: 'register', name: 'h1', listen: '127.0.0.1:7001', sessions: [] };
  it('verifies the signer over the same challenge, channel and body, with the key order of the wire irrelevant', () => {
    const challenge = newChallenge();
    const sig = signBody(id, 'register', challenge, binding, body);
    const wire = JSON.parse(
      JSON.stringify({ sessions: [], listen: '127.0.0.1:7001', name: 'h1', type: 'register', sig }),
    ) as Record<string, unknown>;
    expect(checkSignature('register', challenge, binding, wire, [id.public], 'h1').ok).toBe(true);
  });
  it('refuses another challenge (replay), another channel, another purpose, a changed field, another key', () => {
    const challenge = newChallenge();
    const signed = { ...body, sig: signBody(id, 'register', challenge, binding, body) };
    const other = generateIdentity();
    const cases: [boolean, string][] = [
      [checkSignature('register', newChallenge(), binding, signed, [id.public], 'k').ok, 'replayed challenge'],
      [checkSignature('register', challenge, new Uint8Array(32), signed, [id.public], 'k').ok, 'other channel'],
      [checkSignature('operator', challenge, binding, signed, [id.public], 'k').ok, 'other purpose'],
      [checkSignature('register', challenge, binding, { ...signed, name: 'h2' }, [id.public], 'k').ok, 'changed name'],
      [checkSignature('register', challenge, binding, signed, [other.public], 'k').ok, 'other key'],
    ];
    for (const [ok, what] of cases) expect(ok, what).toBe(false);
    expect(checkSignature('register', challenge, binding, body, [id.public], "h1's key")).toEqual({
      ok: false,
      reason: "not signed (h1's key is required: start it with --identity FILE)",
    });
    expect(checkSignature('register', challenge, binding, { ...body, sig: 'zz' }, [id.public], 'k')).toEqual({
      ok: false,
      reason: 'the signature is not 128 hex digits',
    });
  });
});

describe('channelBinding', () => {
  it('is the same on both ends of one TLS connection and differs between connections', async () => {
    const key = new Uint8Array(randomBytes(32));
    const accepted: FramedConnection[] = [];
    const l = await listenChannel({ host: '127.0.0.1', port: 0 }, { key, onConnection: (c) => void accepted.push(c) });
    try {
      const a = await connectChannel(l.address, { key });
      const b = await connectChannel(l.address, { key });
      for (let i = 0; i < 50 && accepted.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      const byLocal = new Map(accepted.map((c) => [c.remote, c]));
      const aServer = byLocal.get(a.local)!;
      const bServer = byLocal.get(b.local)!;
      expect(Buffer.from(channelBinding(a)).equals(Buffer.from(channelBinding(aServer)))).toBe(true);
      expect(Buffer.from(channelBinding(b)).equals(Buffer.from(channelBinding(bServer)))).toBe(true);
      expect(Buffer.from(channelBinding(a)).equals(Buffer.from(channelBinding(b)))).toBe(false);
      expect(channelBinding(a).every((x) => x === 0)).toBe(false);
      for (const c of [a, b, ...accepted]) c.destroy();
    } finally {
      await l.close();
    }
  });
});
