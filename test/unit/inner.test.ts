import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { generateIdentity } from '../../src/crypto/identity.js';
import type { ReceiptFacts } from '../../src/crypto/inner.js';
import {
  INNER_PREFIX_BYTES,
  InnerOpener,
  InnerSealer,
  innerStreamLength,
  keyId,
  RECEIPT_MAC,
  RECEIPT_SIGNED,
  receiptMessage,
} from '../../src/crypto/inner.js';

const SID = new Uint8Array(randomBytes(16));
const dest = generateIdentity('dest');
const other = generateIdentity('other');

function seal(payload: Uint8Array, to?: typeof dest.public, pieces = 3): { sealer: InnerSealer; stream: Buffer } {
  const sealer = new InnerSealer({
    sessionId: SID,
    destination: 'd:1',
    name: 'vm.img',
    length: payload.length,
    segmentSize: 1024,
    ...(to ? { dest: to } : {}),
  });
  const out: Uint8Array[] = [sealer.prefix()];
  const step = Math.ceil(payload.length / pieces) || 1;
  for (let at = 0; at < payload.length; at += step) out.push(...sealer.push(payload.slice(at, at + step)));
  out.push(...sealer.finish());
  return { sealer, stream: Buffer.concat(out) };
}

function open(
  stream: Uint8Array,
  o: ConstructorParameters<typeof InnerOpener>[1],
  chunk = 777,
): { opener: InnerOpener; plain: Buffer; sha256: Uint8Array; length: bigint } {
  const opener = new InnerOpener(SID, o);
  const plain: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += chunk) plain.push(...opener.push(stream.subarray(at, at + chunk)));
  const fin = opener.finish();
  plain.push(...fin.plaintext);
  return { opener, plain: Buffer.concat(plain), sha256: fin.sha256, length: fin.length };
}

const facts = (payload: Uint8Array, over: Partial<ReceiptFacts> = {}): ReceiptFacts => ({
  ok: true,
  sha256: new Uint8Array(createHash('sha256').update(payload).digest()),
  length: payload.length,
  exitStatus: null,
  ...over,
});

describe('inner stream sealed to the destination', () => {
  const payload = new Uint8Array(randomBytes(5000));

  test('only the destination opens it; name and length come from its authenticated header', () => {
    const { stream } = seal(payload, dest.public);
    expect(stream.length).toBe(innerStreamLength(payload.length, 1024));
    expect(stream.subarray(0, 2)).toEqual(Buffer.from([1, 1]));
    expect(Buffer.from(stream.subarray(34, 66)).equals(Buffer.from(keyId(dest.public)))).toBe(true);
    expect(stream.indexOf(Buffer.from(payload.subarray(100, 132)))).toBe(-1); // what the leader forwards is ciphertext
    const r = open(stream, { identity: dest }, 1); // byte by byte through the prefix
    expect(r.plain.equals(Buffer.from(payload))).toBe(true);
    expect(r.length).toBe(5000n);
    expect(r.opener.header).toMatchObject({ name: 'vm.img', length: 5000n });
    expect(r.opener.mode).toBe('sealed');
  });

  test('each session has its own ephemeral key', () => {
    const a = seal(payload, dest.public).stream.subarray(2, 34);
    const b = seal(payload, dest.public).stream.subarray(2, 34);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  test('another destination, or one without an identity, refuses it before any plaintext', () => {
    const { stream } = seal(payload, dest.public);
    expect(() => new InnerOpener(SID, { identity: other }).push(stream)).toThrow(
      /inner stream: sealed to another destination/,
    );
    expect(() => new InnerOpener(SID, {}).push(stream)).toThrow(
      /inner stream: sealed to a destination identity, and this destination has none/,
    );
  });

  test("a forged key id (another destination's stream relabelled) does not open", () => {
    const { stream } = seal(payload, other.public);
    const forged = Buffer.from(stream);
    forged.set(keyId(dest.public), 34);
    expect(() => open(forged, { identity: dest })).toThrow(/SMIG_ERR_AUTH|did not authenticate/);
  });

  test('truncation, a flipped bit and another session fail', () => {
    const { stream } = seal(payload, dest.public);
    expect(() => open(stream.subarray(0, stream.length - 10), { identity: dest })).toThrow(
      /truncated|did not authenticate/,
    );
    const flipped = Buffer.from(stream);
    flipped[INNER_PREFIX_BYTES + 700]! ^= 1;
    expect(() => open(flipped, { identity: dest })).toThrow(/did not authenticate/);
    const o = new InnerOpener(new Uint8Array(16), { identity: dest });
    expect(() => o.push(stream)).toThrow(/header segment did not authenticate/);
  });

  test('the receipt: signed by the destination, verified against what the source sealed', () => {
    const { sealer, stream } = seal(payload, dest.public);
    const { opener } = open(stream, { identity: dest });
    const f = facts(payload);
    const receipt = opener.receipt(f);
    expect(receipt[0]).toBe(RECEIPT_SIGNED);
    expect(receipt.length).toBe(65);
    expect(sealer.verifyReceipt(f, receipt)).toEqual({ valid: true, kind: 'signed' });
    // DONE's facts must be the ones signed, and equal to the source's own digest and length
    expect(sealer.verifyReceipt({ ...f, ok: false }, receipt)).toMatchObject({
      valid: false,
      reason: 'its receipt is not signed by the destination key',
    });
    expect(sealer.verifyReceipt({ ...f, exitStatus: 0 }, receipt).valid).toBe(false);
    const zero = facts(payload, { sha256: new Uint8Array(32) });
    expect(sealer.verifyReceipt(zero, opener.receipt(zero))).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/another SHA-256/),
    });
    const short = facts(payload, { length: 4999 });
    expect(sealer.verifyReceipt(short, opener.receipt(short)).valid).toBe(false);
    // a leader without the destination key: no receipt, a random one, a MAC, one signed by another key
    expect(sealer.verifyReceipt(f, null)).toEqual({ valid: false, reason: 'it carries no receipt' });
    expect(sealer.verifyReceipt(f, Uint8Array.from([1, ...randomBytes(64)])).valid).toBe(false);
    expect(sealer.verifyReceipt(f, Uint8Array.from([2, ...randomBytes(32)])).valid).toBe(false);
    const otherSession = seal(payload, other.public);
    const theirs = open(otherSession.stream, { identity: other }).opener.receipt(f);
    expect(sealer.verifyReceipt(f, theirs).valid).toBe(false);
  });

  test('the receipt message is domain-separated and binds the session', () => {
    const prefix = new Uint8Array(INNER_PREFIX_BYTES);
    const f = facts(payload);
    const m = receiptMessage(SID, prefix, f);
    expect(Buffer.from(m.subarray(0, 16)).toString('latin1')).toBe('smig-receipt-v1\0');
    expect(Buffer.from(m).equals(Buffer.from(receiptMessage(new Uint8Array(16), prefix, f)))).toBe(false);
  });
});

describe('unbound inner stream (no destination key)', () => {
  const payload = new Uint8Array(randomBytes(3000));

  test('opens without an identity; a MAC receipt verifies, a forged one does not', () => {
    const { sealer, stream } = seal(payload);
    expect(stream.subarray(0, 2)).toEqual(Buffer.from([1, 2]));
    const { opener, plain } = open(stream, {});
    expect(plain.equals(Buffer.from(payload))).toBe(true);
    expect(opener.mode).toBe('unbound');
    const f = facts(payload);
    const receipt = opener.receipt(f);
    expect(receipt[0]).toBe(RECEIPT_MAC);
    expect(sealer.verifyReceipt(f, receipt)).toEqual({ valid: true, kind: 'mac' });
    expect(sealer.verifyReceipt(f, Uint8Array.from([2, ...randomBytes(32)]))).toEqual({
      valid: false,
      reason: 'its receipt does not verify',
    });
  });

  test('a destination with an identity refuses it', () => {
    const { stream } = seal(payload);
    expect(() => new InnerOpener(SID, { identity: dest }).push(stream)).toThrow(
      /not sealed to this destination's identity/,
    );
  });

  test('a receipt before the payload was sealed never counts', () => {
    const sealer = new InnerSealer({ sessionId: SID, destination: 'd:1', name: 'x', length: null, segmentSize: 1024 });
    sealer.push(new Uint8Array(10));
    expect(sealer.verifyReceipt(facts(new Uint8Array(10)), Uint8Array.from([2, ...randomBytes(32)]))).toEqual({
      valid: false,
      reason: 'it came before the whole payload was sealed',
    });
  });
});

describe('inner stream signed by the source (a destination that trusts only known sources)', () => {
  const payload = new Uint8Array(randomBytes(4000));
  const source = generateIdentity('source');
  const signed = (): { sealer: InnerSealer; stream: Buffer } => {
    const sealer = new InnerSealer({
      sessionId: SID,
      destination: 'd:1',
      name: 'vm.img',
      length: payload.length,
      segmentSize: 1024,
      dest: dest.public,
      signer: source,
    });
    return { sealer, stream: Buffer.concat([sealer.prefix(), ...sealer.push(payload), ...sealer.finish()]) };
  };

  test('opens where its source is trusted (prefix fed byte by byte); the receipt still verifies', () => {
    const { sealer, stream } = signed();
    expect(stream.length).toBe(innerStreamLength(payload.length, 1024, true));
    expect(stream[1]).toBe(3);
    const r = open(stream, { identity: dest, trustedSources: [other.public, source.public] }, 1);
    expect(r.plain.equals(Buffer.from(payload))).toBe(true);
    expect(r.opener.signer).toBe(source.public);
    const f = facts(payload);
    expect(sealer.verifyReceipt(f, r.opener.receipt(f))).toEqual({ valid: true, kind: 'signed' });
    // a destination without a trust list opens it as a sealed stream
    expect(open(stream, { identity: dest }).plain.equals(Buffer.from(payload))).toBe(true);
  });

  test('a trusting destination refuses an unsigned stream, an untrusted signer and a forged signature', () => {
    const unsigned = seal(payload, dest.public).stream;
    expect(() => new InnerOpener(SID, { identity: dest, trustedSources: [source.public] }).push(unsigned)).toThrow(
      /not signed by a source this destination trusts/,
    );
    const { stream } = signed();
    expect(() => new InnerOpener(SID, { identity: dest, trustedSources: [other.public] }).push(stream)).toThrow(
      /signed by a source this destination does not trust/,
    );
    const forged = Buffer.from(stream);
    forged[INNER_PREFIX_BYTES + 40]! ^= 1; // the signature
    expect(() => new InnerOpener(SID, { identity: dest, trustedSources: [source.public] }).push(forged)).toThrow(
      /the source signature does not verify/,
    );
    // a leader swapping in its own ephemeral key breaks the signature
    const swapped = Buffer.from(stream);
    swapped[5]! ^= 1;
    expect(() => new InnerOpener(SID, { identity: dest, trustedSources: [source.public] }).push(swapped)).toThrow(
      /the source signature does not verify/,
    );
  });
});
