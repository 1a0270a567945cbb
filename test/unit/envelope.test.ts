import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { CipherEngine, EnvelopeHeader } from '../../src/crypto/envelope.js';
import {
  ciphertextLength,
  createAead,
  DEFAULT_SEGMENT_SIZE,
  decodeHeader,
  EnvelopeOpener,
  EnvelopeSealer,
  encodeHeader,
  HEADER_PLAIN_BYTES,
  MAX_SEGMENT_SIZE,
  PREFIX_BYTES,
  segmentCiphertextOffset,
  TRAILER_BYTES,
  tryOpenHeader,
} from '../../src/crypto/envelope.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const KEY = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const SID = hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
const PREFIX7 = hex('f0f1f2f3f4f5f6');
const S = 64; // small segments: many segments from small payloads
const ENGINES: CipherEngine[] = ['node', 'noble'];

function header(over: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  return {
    version: 1,
    sessionId: SID,
    destination: '10.0.0.7:7400',
    name: 'vm.img',
    length: null,
    segmentSize: S,
    ...over,
  };
}

function payload(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);
}

function seal(
  p: Uint8Array,
  over: Partial<EnvelopeHeader> = {},
  engine: CipherEngine = 'node',
  key: Uint8Array = KEY,
): Buffer {
  const s = new EnvelopeSealer(key, header(over), { engine, noncePrefix: PREFIX7 });
  return Buffer.concat([s.prefix(), ...s.push(p), ...s.finish()]);
}

/** Opens `chunks` one push each; returns the concatenated plaintext and the trailer. */
function open(chunks: Uint8Array[], engine: CipherEngine = 'node', sid: Uint8Array = SID, key: Uint8Array = KEY) {
  const o = new EnvelopeOpener(key, sid, { engine });
  const out: Uint8Array[] = [];
  let h: EnvelopeHeader | undefined;
  for (const c of chunks) {
    const r = o.push(c);
    if (r.header) h = r.header;
    out.push(...r.plaintext);
  }
  const f = o.finish();
  out.push(...f.plaintext);
  return { plain: Buffer.concat(out), header: h, sha256: Buffer.from(f.sha256), length: f.length };
}

/**
 * Independent oracle: the envelope built straight from the documented layout with node:crypto, without the
 * module's code (nonce = prefix ‖ u32 BE counter ‖ last-flag, AAD = session id, fixed 544-byte header).
 */
function oracle(p: Uint8Array, h: EnvelopeHeader, trailerDigest?: Uint8Array): Buffer {
  const sealOne = (i: number, last: number, pt: Uint8Array): Buffer => {
    const nonce = Buffer.alloc(12);
    nonce.set(PREFIX7);
    nonce.writeUInt32BE(i, 7);
    nonce[11] = last;
    const c = createCipheriv('chacha20-poly1305', KEY, nonce, { authTagLength: 16 });
    c.setAAD(h.sessionId, { plaintextLength: pt.length });
    return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  };
  const hp = Buffer.alloc(544);
  hp[0] = 1;
  hp.set(h.sessionId, 1);
  hp[17] = Buffer.byteLength(h.destination);
  hp.write(h.destination, 18);
  hp[273] = Buffer.byteLength(h.name);
  hp.write(h.name, 274);
  hp.writeBigUInt64BE(h.length ?? 0xffffffffffffffffn, 529);
  hp.writeUInt32BE(h.segmentSize, 537);
  const parts = [Buffer.from([1]), PREFIX7, sealOne(0, 0, hp)];
  let i = 1;
  for (let off = 0; off < p.length; off += h.segmentSize, i++)
    parts.push(sealOne(i, 0, p.subarray(off, off + h.segmentSize)));
  const trailer = Buffer.alloc(40);
  trailer.set(trailerDigest ?? createHash('sha256').update(p).digest());
  trailer.writeBigUInt64BE(BigInt(p.length), 32);
  parts.push(sealOne(i, 1, trailer));
  return Buffer.concat(parts);
}

function authError(f: () => unknown, message?: string | RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ name: 'SmigError', code: 'SMIG_ERR_AUTH' });
  if (message !== undefined) expect((err as Error).message).toMatch(message);
}

describe('AEAD engines (RFC 8439)', () => {
  // RFC 8439 §2.8.2 (also Wycheproof chacha20_poly1305_test.json tcId 1)
  const rfc = {
    key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
    nonce: hex('070000004041424344454647'),
    aad: hex('50515253c0c1c2c3c4c5c6c7'),
    plain: Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    ),
    ct: hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905
      d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116`),
    tag: hex('1ae10b594f09e26a7e902ecbd0600691'),
  };
  // Wycheproof chacha20_poly1305_test.json tcId 2: empty message and AAD
  const empty = {
    key: hex('80ba3192c803ce965ea371d5ff073cf0f43b6a2ab576b208426e11409c09b9b0'),
    nonce: hex('4da5bf8dfd5852c1ea12379d'),
    tag: hex('76acb342cf3166a5b63c0c0ea1383c8d'),
  };

  test.each(ENGINES)('%s: §2.8.2 vector seals and opens', (engine) => {
    const a = createAead(rfc.key, rfc.aad, engine);
    const sealed = a.seal(rfc.nonce, rfc.plain);
    expect(Buffer.from(sealed)).toEqual(Buffer.concat([rfc.ct, rfc.tag]));
    expect(Buffer.from(a.open(rfc.nonce, sealed)!)).toEqual(rfc.plain);
    const forged = Buffer.from(sealed);
    forged[forged.length - 1]! ^= 1;
    expect(a.open(rfc.nonce, forged)).toBeUndefined();
  });

  test.each(ENGINES)('%s: empty message vector', (engine) => {
    const a = createAead(empty.key, new Uint8Array(0), engine);
    expect(Buffer.from(a.seal(empty.nonce, new Uint8Array(0)))).toEqual(Buffer.from(empty.tag));
    expect(a.open(empty.nonce, empty.tag)).toEqual(new Uint8Array(0));
  });

  test('a destroyed engine refuses to work', () => {
    for (const engine of ENGINES) {
      const a = createAead(rfc.key, rfc.aad, engine);
      a.destroy();
      expect(() => a.seal(rfc.nonce, rfc.plain)).toThrow(expect.objectContaining({ code: 'SMIG_ERR_INTERNAL' }));
    }
  });
});

describe('header codec', () => {
  test('encodes the documented fixed layout and decodes it back', () => {
    const h = header({ length: 1234n, name: 'disk-é.qcow2' });
    const b = encodeHeader(h);
    expect(b.length).toBe(HEADER_PLAIN_BYTES);
    const buf = Buffer.from(b);
    expect(buf[0]).toBe(1);
    expect(buf.subarray(1, 17)).toEqual(Buffer.from(SID));
    expect(buf[17]).toBe(13);
    expect(buf.toString('utf8', 18, 31)).toBe('10.0.0.7:7400');
    expect(buf[273]).toBe(13); // 'é' is two bytes
    expect(buf.readBigUInt64BE(529)).toBe(1234n);
    expect(buf.readUInt32BE(537)).toBe(S);
    expect(decodeHeader(b)).toEqual(h);
    expect(decodeHeader(encodeHeader(header({ length: null }))).length).toBeNull();
    expect(buf.subarray(529, 537).equals(Buffer.alloc(8, 0xff))).toBe(false);
    expect(Buffer.from(encodeHeader(header())).readBigUInt64BE(529)).toBe(0xffffffffffffffffn);
  });

  test.each([
    [{ destination: '' }, 'SMIG_ERR_BAD_ADDRESS', 'envelope header: destination is empty'],
    [{ destination: 'host' }, 'SMIG_ERR_BAD_ADDRESS', "envelope header: destination 'host' is not host:port"],
    [{ destination: 'host:0' }, 'SMIG_ERR_BAD_ADDRESS', "envelope header: destination 'host:0' is not host:port"],
    [
      { destination: 'host:65536' },
      'SMIG_ERR_BAD_ADDRESS',
      "envelope header: destination 'host:65536' is not host:port",
    ],
    [
      { destination: `${'h'.repeat(250)}:12345` },
      'SMIG_ERR_BAD_ADDRESS',
      'envelope header: destination is 256 bytes, at most 255',
    ],
    [{ name: '' }, 'SMIG_ERR_FILE', 'envelope header: name is empty'],
    [{ name: 'a/b' }, 'SMIG_ERR_FILE', "envelope header: name 'a/b' is not a base name"],
    [{ name: '..' }, 'SMIG_ERR_FILE', "envelope header: name '..' is not a base name"],
    [{ name: 'a\nb' }, 'SMIG_ERR_FILE', 'envelope header: name contains a control character'],
    [{ name: '\ud800' }, 'SMIG_ERR_FILE', 'envelope header: name is not valid Unicode'],
    [{ name: 'é'.repeat(128) }, 'SMIG_ERR_FILE', 'envelope header: name is 256 bytes, at most 255'],
    [{ segmentSize: 63 }, 'SMIG_ERR_BAD_SIZE', 'envelope header: segment size 63 is outside 64..16777216'],
    [
      { segmentSize: MAX_SEGMENT_SIZE + 1 },
      'SMIG_ERR_BAD_SIZE',
      'envelope header: segment size 16777217 is outside 64..16777216',
    ],
    [
      { length: -1n },
      'SMIG_ERR_BAD_SIZE',
      'envelope header: payload length -1 is out of range for segments of 64 bytes',
    ],
    [{ length: 64n * (2n ** 32n - 2n) + 1n }, 'SMIG_ERR_BAD_SIZE', /payload length 274877906817 is out of range/],
    [{ sessionId: new Uint8Array(15) }, 'SMIG_ERR_INTERNAL', 'envelope header: session id must be 16 bytes'],
  ] as const)('rejects %o', (over, code, message) => {
    expect(() => encodeHeader(header(over as Partial<EnvelopeHeader>))).toThrow(expect.objectContaining({ code }));
    expect(() => encodeHeader(header(over as Partial<EnvelopeHeader>))).toThrow(message);
  });

  test('accepts IPv6 and names with spaces and unicode', () => {
    expect(() => encodeHeader(header({ destination: '[fe80::1]:9000', name: 'my disk ☃.img' }))).not.toThrow();
  });

  test('decoding is strict: padding, reserved bytes, UTF-8, size', () => {
    const good = encodeHeader(header());
    const mutate = (at: number, v: number): Uint8Array => {
      const b = good.slice();
      b[at] = v;
      return b;
    };
    authError(() => decodeHeader(good.subarray(1)), 'envelope header: 543 bytes, expected 544');
    authError(() => decodeHeader(mutate(0, 2)), 'envelope header: unsupported version 2');
    authError(() => decodeHeader(mutate(18 + 20, 1)), 'envelope header: destination padding is not zero');
    authError(() => decodeHeader(mutate(274 + 100, 1)), 'envelope header: name padding is not zero');
    authError(() => decodeHeader(mutate(543, 1)), 'envelope header: reserved bytes are not zero');
    authError(() => decodeHeader(mutate(274, 0xff)), 'envelope header: name is not valid UTF-8');
    authError(() => decodeHeader(mutate(273, 0)), 'envelope header: name padding is not zero');
  });
});

describe('layout: byte-exact against an independent construction', () => {
  test.each(ENGINES)('%s sealer matches the oracle for lengths around segment boundaries', (engine) => {
    for (const n of [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 17]) {
      for (const length of [BigInt(n), null]) {
        const h = header({ length });
        expect(seal(payload(n), { length }, engine).equals(oracle(payload(n), h))).toBe(true);
      }
    }
  });

  test('node and noble seal identical bytes with the default segment size', () => {
    const p = randomBytes(3 * DEFAULT_SEGMENT_SIZE + 1000);
    const a = seal(p, { segmentSize: DEFAULT_SEGMENT_SIZE }, 'node');
    const b = seal(p, { segmentSize: DEFAULT_SEGMENT_SIZE }, 'noble');
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBe(ciphertextLength(p.length, DEFAULT_SEGMENT_SIZE));
  });

  test('offsets and lengths are closed formulas', () => {
    expect(PREFIX_BYTES).toBe(568);
    expect(TRAILER_BYTES).toBe(56);
    expect(segmentCiphertextOffset(0, S)).toBe(8);
    expect(segmentCiphertextOffset(1, S)).toBe(568);
    expect(segmentCiphertextOffset(3, S)).toBe(568 + 2 * 80);
    expect(ciphertextLength(0, S)).toBe(568 + 56);
    expect(ciphertextLength(3 * S + 17, S)).toBe(568 + 3 * S + 17 + 4 * 16 + 56);
  });

  test('the stream starts with the version and nonce prefix; a fresh sealer draws a random prefix', () => {
    const c = seal(payload(10));
    expect(c.subarray(0, 8)).toEqual(Buffer.concat([Buffer.from([1]), PREFIX7]));
    const a = new EnvelopeSealer(KEY, header()).prefix();
    const b = new EnvelopeSealer(KEY, header()).prefix();
    expect(Buffer.from(a.subarray(1, 8)).equals(Buffer.from(b.subarray(1, 8)))).toBe(false);
  });
});

describe('round trips', () => {
  const engines = ENGINES.flatMap((s) => ENGINES.map((o) => [s, o] as const));
  test.each(engines)('sealed by %s, opened by %s, known and unknown length', (sEngine, oEngine) => {
    for (const n of [0, 1, S - 1, S, S + 1, 2 * S, 5 * S + 3]) {
      for (const length of [BigInt(n), null]) {
        const p = payload(n, n);
        const r = open([seal(p, { length }, sEngine)], oEngine);
        expect(r.plain.equals(Buffer.from(p))).toBe(true);
        expect(r.length).toBe(BigInt(n));
        expect(r.sha256).toEqual(createHash('sha256').update(p).digest());
        expect(r.header).toEqual(header({ length }));
      }
    }
  });

  test('every two-part split of the ciphertext opens (both length modes)', () => {
    const p = payload(2 * S + 22);
    for (const length of [BigInt(p.length), null]) {
      const c = seal(p, { length });
      for (let i = 0; i <= c.length; i++) {
        expect(open([c.subarray(0, i), c.subarray(i)]).plain.equals(Buffer.from(p))).toBe(true);
      }
    }
  });

  test('any chunking of sealer input and opener input gives the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 5 * S }),
        fc.array(fc.integer({ min: 0, max: 3 * S }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom(...ENGINES),
        (p, cuts, sizes, known, engine) => {
          const length = known ? BigInt(p.length) : null;
          const s = new EnvelopeSealer(KEY, header({ length }), { engine, noncePrefix: PREFIX7 });
          const parts = [s.prefix()];
          let off = 0;
          for (const c of cuts) {
            const end = Math.min(p.length, off + c);
            parts.push(...s.push(p.subarray(off, end)));
            off = end;
          }
          parts.push(...s.push(p.subarray(off)), ...s.finish());
          const c = Buffer.concat(parts);
          expect(c.equals(oracle(p, header({ length })))).toBe(true);
          const chunks: Uint8Array[] = [];
          let at = 0;
          for (let i = 0; at < c.length; i++) {
            const n = sizes.length ? sizes[i % sizes.length]! : c.length;
            chunks.push(c.subarray(at, at + n));
            at += n;
          }
          expect(open(chunks, engine).plain.equals(Buffer.from(p))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('known length: the final segment authenticates inside push(); unknown: only at finish()', () => {
    const p = payload(100);
    const known = new EnvelopeOpener(KEY, SID);
    expect(known.push(seal(p, { length: 100n })).plaintext.length).toBe(2);
    expect(known.done).toBe(true);
    const stream = new EnvelopeOpener(KEY, SID);
    const r = stream.push(seal(p));
    expect(r.plaintext.length).toBe(1); // the short segment is held back with the trailer
    expect(stream.done).toBe(false);
    const f = stream.finish();
    expect(f.plaintext.map((x) => x.length)).toEqual([36]);
    expect(stream.done).toBe(true);
  });

  test('unaligned views in, inputs unchanged', () => {
    for (const engine of ENGINES) {
      const backing = new Uint8Array(3 * S + 1);
      backing.set(payload(3 * S), 1);
      const p = backing.subarray(1);
      const before = Buffer.from(backing);
      const c = seal(p, {}, engine);
      expect(Buffer.from(backing)).toEqual(before);
      const cb = new Uint8Array(c.length + 3);
      cb.set(c, 3);
      const view = cb.subarray(3);
      const copy = Buffer.from(view);
      expect(open([view.subarray(0, 601), view.subarray(601)], engine).plain.equals(Buffer.from(p))).toBe(true);
      expect(Buffer.from(view)).toEqual(copy);
    }
  });
});

describe('failures are SMIG_ERR_AUTH', () => {
  const p = payload(2 * S + 10);

  test('truncation at every length fails (known and unknown length)', () => {
    for (const length of [BigInt(p.length), null]) {
      const c = seal(p, { length });
      for (let n = 0; n < c.length; n++) authError(() => open([c.subarray(0, n)]), /truncated|did not authenticate/);
    }
  });

  test('truncation at a segment boundary of an unknown-length stream fails at finish()', () => {
    const c = seal(p);
    const o = new EnvelopeOpener(KEY, SID);
    o.push(c.subarray(0, segmentCiphertextOffset(3, S)));
    authError(
      () => o.finish(),
      'envelope: segment 2 did not authenticate (wrong key, corrupted, reordered, spliced or truncated data)',
    );
  });

  test('a flipped bit anywhere fails', () => {
    for (const length of [BigInt(p.length), null]) {
      const c = seal(p, { length });
      for (let i = 0; i < c.length; i++) {
        const bad = Buffer.from(c);
        bad[i]! ^= 0x10;
        authError(() => open([bad]));
      }
    }
  });

  test('a changed version byte is named', () => {
    const c = seal(p);
    c[0] = 2;
    authError(() => open([c]), 'envelope: unsupported format version 2');
  });

  test('reordered segments fail', () => {
    const c = seal(p);
    const o1 = segmentCiphertextOffset(1, S);
    const o2 = segmentCiphertextOffset(2, S);
    const o3 = segmentCiphertextOffset(3, S);
    const swapped = Buffer.concat([c.subarray(0, o1), c.subarray(o2, o3), c.subarray(o1, o2), c.subarray(o3)]);
    authError(() => open([swapped]), 'envelope: segment 1 did not authenticate');
  });

  test('splicing a segment of another envelope under the same key fails (other prefix, other session)', () => {
    const mine = seal(p);
    const other = (() => {
      const s = new EnvelopeSealer(KEY, header(), { noncePrefix: hex('00000000000001') });
      return Buffer.concat([s.prefix(), ...s.push(p), ...s.finish()]);
    })();
    const o1 = segmentCiphertextOffset(1, S);
    const o2 = segmentCiphertextOffset(2, S);
    const spliced = Buffer.concat([mine.subarray(0, o1), other.subarray(o1, o2), mine.subarray(o2)]);
    authError(() => open([spliced]), 'envelope: segment 1 did not authenticate');
    const sid2 = hex('b0b1b2b3b4b5b6b7b8b9babbbcbdbebf');
    const otherSession = seal(p, { sessionId: sid2 });
    const spliced2 = Buffer.concat([mine.subarray(0, o1), otherSession.subarray(o1, o2), mine.subarray(o2)]);
    authError(() => open([spliced2]), 'envelope: segment 1 did not authenticate');
  });

  test('a final segment moved earlier (dropping the middle) fails', () => {
    const c = seal(p);
    const dropped = Buffer.concat([
      c.subarray(0, segmentCiphertextOffset(2, S)),
      c.subarray(segmentCiphertextOffset(3, S)),
    ]);
    authError(() => open([dropped]));
  });

  test('wrong key, wrong session id', () => {
    const c = seal(p);
    authError(
      () => open([c], 'node', SID, randomBytes(32)),
      'envelope: header segment did not authenticate (wrong key or session, or not an envelope)',
    );
    authError(() => open([c], 'noble', hex('00'.repeat(16))), 'envelope: header segment did not authenticate');
  });

  test('bytes after the final segment fail, in the same push or a later one', () => {
    const c = seal(p, { length: BigInt(p.length) });
    authError(() => open([Buffer.concat([c, Buffer.from([0])])]), 'envelope: bytes after the final segment');
    authError(() => open([c, Buffer.from([0])]), 'envelope: bytes after the final segment');
    authError(() => open([Buffer.concat([seal(p), Buffer.alloc(8)])]));
  });

  test('a failed opener stays failed', () => {
    const o = new EnvelopeOpener(KEY, SID);
    const c = seal(p);
    c[600]! ^= 1;
    authError(() => o.push(c));
    authError(() => o.push(new Uint8Array(0)), 'envelope: the stream already failed');
    authError(() => o.finish(), 'envelope: the stream already failed');
  });

  test('a segment size above the opener limit is refused before buffering', () => {
    const c = seal(payload(10), { segmentSize: 4096 });
    const o = new EnvelopeOpener(KEY, SID, { maxSegmentSize: 1024 });
    expect(() => o.push(c)).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_BUFFER_LIMIT',
        message: 'envelope: segment size 4096 exceeds the limit of 1024 bytes',
      }),
    );
  });
});

describe('tryOpenHeader', () => {
  test('accepts the right key, returns undefined for a wrong one, needs the whole prefix', () => {
    const c = seal(payload(10), { length: 10n });
    expect(tryOpenHeader(KEY, SID, c.subarray(0, PREFIX_BYTES))).toEqual(header({ length: 10n }));
    expect(tryOpenHeader(KEY, SID, c, 'noble')).toEqual(header({ length: 10n }));
    expect(tryOpenHeader(randomBytes(32), SID, c)).toBeUndefined();
    expect(tryOpenHeader(KEY, hex('11'.repeat(16)), c)).toBeUndefined();
    expect(() => tryOpenHeader(KEY, SID, c.subarray(0, PREFIX_BYTES - 1))).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_INTERNAL' }),
    );
  });
});

describe('sealer: re-encryption and misuse', () => {
  test('resealSegment reproduces every payload segment; the trailer segment is kept', () => {
    for (const n of [3 * S, 3 * S + 5]) {
      const p = payload(n);
      const s = new EnvelopeSealer(KEY, header(), { noncePrefix: PREFIX7 });
      const first = [...s.push(p), ...s.finish()];
      const stream = Buffer.concat([s.prefix(), ...first]);
      expect(s.segmentCount).toBe(first.length + 1);
      for (let i = 1; i < s.segmentCount - 1; i++) {
        const again = s.resealSegment(i, p.subarray((i - 1) * S, i * S));
        expect(Buffer.from(again)).toEqual(Buffer.from(first[i - 1]!));
        const at = s.segmentCiphertextOffset(i);
        expect(stream.subarray(at, at + again.length)).toEqual(Buffer.from(again));
        expect(s.segmentIndexAt(at)).toBe(i);
        expect(s.segmentIndexAt(at + again.length - 1)).toBe(i);
      }
      const fin = s.segmentCount - 1;
      expect(Buffer.from(s.trailerSegment())).toEqual(Buffer.from(first.at(-1)!));
      expect(s.segmentCiphertextOffset(fin)).toBe(stream.length - TRAILER_BYTES);
      expect(s.segmentIndexAt(stream.length - 1)).toBe(fin);
      expect(s.segmentIndexAt(PREFIX_BYTES - 1)).toBe(0);
    }
  });

  test('resealing different plaintext is refused (it would reuse a nonce)', () => {
    const p = payload(2 * S + 7);
    const s = new EnvelopeSealer(KEY, header());
    s.push(p);
    const changed = p.slice(0, S);
    changed[5]! ^= 1;
    expect(() => s.resealSegment(1, changed)).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_SOURCE_CHANGED',
        message:
          'envelope: payload segment 1 re-read differs from what was sent (the source changed during the migration)',
      }),
    );
    s.finish();
    expect(() => s.resealSegment(3, p.subarray(2 * S, 2 * S + 6))).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_SOURCE_CHANGED',
        message: 'envelope: payload segment 3 re-read as 6 bytes, 7 were sent',
      }),
    );
    expect(() => s.resealSegment(4, p.subarray(0, S))).toThrow(expect.objectContaining({ code: 'SMIG_ERR_INTERNAL' }));
    s.forget(2);
    expect(() => s.resealSegment(1, p.subarray(0, S))).toThrow('envelope: payload segment 1 was released by forget()');
    expect(s.resealSegment(2, p.subarray(S, 2 * S)).length).toBe(S + 16);
  });

  test('the declared length is enforced; push after finish and use after destroy are refused', () => {
    const s = new EnvelopeSealer(KEY, header({ length: 10n }));
    expect(() => s.push(payload(11))).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_BAD_SIZE',
        message: 'envelope: payload exceeds the 10 bytes its header declared',
      }),
    );
    s.push(payload(4));
    expect(() => s.finish()).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_BAD_SIZE',
        message: 'envelope: payload ended after 4 bytes, its header declared 10',
      }),
    );
    s.push(payload(6));
    s.finish();
    expect(() => s.push(payload(1))).toThrow('envelope: push() after finish()');
    s.destroy();
    expect(() => s.trailerSegment()).toThrow('envelope: sealer used after destroy()');
  });

  test('bad key or nonce prefix', () => {
    expect(() => new EnvelopeSealer(new Uint8Array(31), header())).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_INTERNAL', message: 'envelope: key must be 32 bytes' }),
    );
    expect(() => new EnvelopeSealer(KEY, header(), { noncePrefix: new Uint8Array(8) })).toThrow(
      'envelope: nonce prefix must be 7 bytes',
    );
    expect(() => new EnvelopeOpener(KEY, new Uint8Array(8))).toThrow('envelope: session id must be 16 bytes');
  });

  test('the sealer keeps no reference to its header or input', () => {
    const sid = Uint8Array.from(SID);
    const s = new EnvelopeSealer(KEY, header({ sessionId: sid }), { noncePrefix: PREFIX7 });
    sid.fill(0);
    const p = payload(S + 3);
    const out = [...s.push(p)];
    p.fill(0); // the pending 3 bytes were copied
    out.push(...s.finish());
    expect(Buffer.concat([s.prefix(), ...out]).equals(oracle(payload(S + 3), header()))).toBe(true);
  });
});

describe('EnvelopeOpener verifyDigest', () => {
  const p = payload(5 * S + 3, 9);
  const lie = createHash('sha256').update('another payload').digest();

  test("by default a trailer whose SHA-256 is not the payload's fails, although every segment authenticates", () => {
    authError(() => open([oracle(p, header(), lie)]), /trailer SHA-256 differs/);
  });

  test('verifyDigest false opens it and reports the sealed digest (for a party downstream that hashes what it writes)', () => {
    const o = new EnvelopeOpener(KEY, SID, { verifyDigest: false });
    const got = [...o.push(oracle(p, header(), lie)).plaintext];
    const f = o.finish();
    got.push(...f.plaintext);
    expect(Buffer.concat(got)).toEqual(Buffer.from(p));
    expect(Buffer.from(f.sha256)).toEqual(lie);
    expect(f.length).toBe(BigInt(p.length));
  });

  test('verifyDigest false still refuses a tampered segment and a wrong length', () => {
    const env = oracle(p, header());
    env[PREFIX_BYTES + 5] ^= 1;
    const o = new EnvelopeOpener(KEY, SID, { verifyDigest: false });
    authError(() => {
      o.push(env);
      o.finish();
    });
    const short = oracle(p, header({ length: BigInt(p.length + 1) }));
    const o2 = new EnvelopeOpener(KEY, SID, { verifyDigest: false });
    authError(() => {
      o2.push(short);
      o2.finish();
    });
  });
});
