/**
 * The inner end-to-end layer and the destination's receipt.
 *
 * The outer envelope (envelope.ts) is opened by the leader, which must learn the destination's address. What
 * it carries is an *inner stream* that only the destination can open, so the leader forwards ciphertext and
 * never sees the payload; and the destination answers with a *receipt* that no relay and no leader can forge.
 *
 * Inner stream (the outer envelope's payload; all integers big-endian):
 * ```
 *   offset 0   u8 inner format version (1)
 *   offset 1   u8 mode: 1 = sealed to a destination identity, 2 = unbound (the source had no destination key),
 *              3 = sealed and signed by the source's identity
 *   offset 2   32 bytes: modes 1, 3 the source's ephemeral X25519 public key; mode 2 the inner key itself
 *   offset 34  32 bytes: modes 1, 3 the destination's key id (SHA-256 over its Ed25519 ‖ X25519 public keys); mode 2 zeros
 *   mode 3:    32 bytes the source's key id ‖ 64 bytes its Ed25519 signature over
 *              "smig-inner-source-v1\0" ‖ session id ‖ bytes 0..65 ‖ the source's key id
 *   then       an envelope (STREAM over ChaCha20-Poly1305, envelope.ts) under the inner key, AAD = the session id
 * ```
 * The signature covers the ephemeral public key, and the inner key needs its private half (or the
 * destination's): so it vouches for the whole stream. A destination given trusted source keys accepts only
 * mode 3 streams signed by one of them — a cluster-key holder acting as leader cannot have a file installed.
 * Mode 1 inner key = HKDF-SHA256(ikm = X25519(ephemeral, destination), salt = session id,
 * info = "smig inner key v1" ‖ ephemeral public ‖ destination X25519 public ‖ key id). Only the holder of the
 * destination's X25519 private key can derive it; the ephemeral key is wiped once the key is derived.
 * Mode 2 gives end-to-end integrity only (the leader reads the key): it keeps smig usable without identities.
 *
 * Receipt: the destination's statement about one session, over the domain-separated message
 * ```
 *   "smig-receipt-v1\0" ‖ session id (16) ‖ SHA-256(inner prefix, 66 bytes) ‖ plaintext SHA-256 (32)
 *   ‖ u64 plaintext length ‖ u8 installed-ok ‖ u8 exit status present ‖ i32 exit status
 * ```
 * Mode 1: an Ed25519 signature by the destination's identity (kind 1); the source verifies it against the
 * public key it sealed to. Mode 2: HMAC-SHA256 under HKDF(inner key, session id, "smig receipt mac v1")
 * (kind 2): relays cannot forge it (they never see the inner key), the leader can — the source says so.
 * On the wire a receipt is `u8 kind ‖ tag` (65 or 33 bytes), carried by DONE.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { smigError } from '../errors.js';
import { SESSION_ID_LENGTH } from '../protocol/messages.js';
import type { EnvelopeHeader, OpenFinal } from './envelope.js';
import { ciphertextLength, EnvelopeOpener, EnvelopeSealer } from './envelope.js';
import type { Identity, PublicIdentity } from './identity.js';
import { ephemeralX25519, signMessage, verifyMessage, x25519 } from './identity.js';
import { generateKey } from './keyfile.js';
import { wipe } from './wipe.js';

/** Version byte of the inner stream. */
export const INNER_VERSION = 1;
/** Inner stream mode: sealed to a destination identity. */
export const INNER_SEALED = 1;
/** Inner stream mode: no destination key (end-to-end integrity, no confidentiality against the leader). */
export const INNER_UNBOUND = 2;
/** Inner stream mode: sealed to a destination identity and signed by the source's. */
export const INNER_SIGNED = 3;
/** Clear bytes before the inner envelope (modes 1 and 2). */
export const INNER_PREFIX_BYTES = 66;
/** Clear bytes before the inner envelope in mode 3 (the source's key id and signature added). */
export const INNER_SIGNED_PREFIX_BYTES: number = INNER_PREFIX_BYTES + 32 + 64;
/** Receipt kinds (first byte on the wire). */
export const RECEIPT_SIGNED = 1;
export const RECEIPT_MAC = 2;
/** Longest receipt on the wire. */
export const MAX_RECEIPT_BYTES = 65;

const KEY_INFO = 'smig inner key v1';
const MAC_INFO = 'smig receipt mac v1';
const RECEIPT_DOMAIN = Buffer.from('smig-receipt-v1\0', 'latin1');
const SOURCE_DOMAIN = Buffer.from('smig-inner-source-v1\0', 'latin1');

/** What the destination states in a receipt (and DONE carries in the clear). */
export interface ReceiptFacts {
  /** The payload was verified and installed, and `--exec` (if any) exited 0. */
  ok: boolean;
  /** SHA-256 of the installed payload. */
  sha256: Uint8Array;
  /** Bytes installed. */
  length: number;
  exitStatus: number | null;
}

/** The destination key id: SHA-256 over its Ed25519 and X25519 public keys (the fingerprint's digest). */
export function keyId(pub: PublicIdentity): Uint8Array {
  return new Uint8Array(createHash('sha256').update(pub.sign).update(pub.agree).digest());
}

/** Inner stream length for a payload of `length` bytes in segments of `segmentSize` (`signed`: mode 3). */
export function innerStreamLength(length: number, segmentSize: number, signed = false): number {
  return (signed ? INNER_SIGNED_PREFIX_BYTES : INNER_PREFIX_BYTES) + ciphertextLength(length, segmentSize);
}

function sourceMessage(sessionId: Uint8Array, head: Uint8Array, signerId: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([SOURCE_DOMAIN, sessionId, head, signerId]));
}

function deriveInnerKey(
  shared: Uint8Array,
  sessionId: Uint8Array,
  ephemeral: Uint8Array,
  dest: Uint8Array,
  id: Uint8Array,
): Uint8Array {
  const info = Buffer.concat([Buffer.from(KEY_INFO, 'latin1'), ephemeral, dest, id]);
  return new Uint8Array(hkdfSync('sha256', shared, sessionId, info, 32));
}

function macKey(innerKey: Uint8Array, sessionId: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', innerKey, sessionId, MAC_INFO, 32));
}

/** The exact bytes a receipt signs or MACs. */
export function receiptMessage(sessionId: Uint8Array, innerPrefix: Uint8Array, f: ReceiptFacts): Uint8Array {
  const out = Buffer.alloc(RECEIPT_DOMAIN.length + SESSION_ID_LENGTH + 32 + 32 + 8 + 1 + 1 + 4);
  let at = RECEIPT_DOMAIN.copy(out, 0);
  at += Buffer.from(sessionId).copy(out, at);
  at += createHash('sha256').update(innerPrefix).digest().copy(out, at);
  at += Buffer.from(f.sha256).copy(out, at);
  out.writeBigUInt64BE(BigInt(f.length), at);
  at += 8;
  out[at++] = f.ok ? 1 : 0;
  out[at++] = f.exitStatus === null ? 0 : 1;
  out.writeInt32BE(f.exitStatus ?? 0, at);
  return new Uint8Array(out);
}

/** Options of {@link InnerSealer}. */
export interface InnerSealerOptions {
  sessionId: Uint8Array;
  /** Inner envelope header fields (the destination reads its name and length from here, not from the leader). */
  destination: string;
  name: string;
  length: number | null;
  segmentSize: number;
  /** The destination's public identity; absent: an unbound stream (see the module comment). */
  dest?: PublicIdentity;
  /** The source's identity: with `dest`, the stream is signed (mode 3) so that the destination can tell who sent it. */
  signer?: Identity;
}

/** How a receipt checked out at the source. */
export type ReceiptVerdict = { valid: true; kind: 'signed' | 'mac' } | { valid: false; reason: string };

/**
 * The source's side: seals the payload into the inner stream and later verifies the destination's receipt.
 * Memory: one segment (the envelope sealer's), the inner prefix and the MAC key.
 */
export class InnerSealer {
  readonly mode: typeof INNER_SEALED | typeof INNER_UNBOUND | typeof INNER_SIGNED;
  readonly #sessionId: Uint8Array;
  readonly #prefix: Uint8Array;
  readonly #sealer: EnvelopeSealer;
  readonly #dest: PublicIdentity | undefined;
  #macKey: Uint8Array | undefined;

  /** @throws SmigError SMIG_ERR_AUTH for an unusable destination key; envelope header errors */
  constructor(o: InnerSealerOptions) {
    const signed = o.dest !== undefined && o.signer !== undefined;
    const prefix = new Uint8Array(signed ? INNER_SIGNED_PREFIX_BYTES : INNER_PREFIX_BYTES);
    prefix[0] = INNER_VERSION;
    let key: Uint8Array;
    if (o.dest !== undefined) {
      this.mode = signed ? INNER_SIGNED : INNER_SEALED;
      const id = keyId(o.dest);
      const eph = ephemeralX25519();
      let shared: Uint8Array | undefined;
      try {
        shared = x25519(eph.privateKey, o.dest.agree);
        key = deriveInnerKey(shared, o.sessionId, eph.publicKey, o.dest.agree, id);
      } finally {
        wipe(eph.privateKey, shared);
      }
      prefix[1] = this.mode;
      prefix.set(eph.publicKey, 2);
      prefix.set(id, 34);
      if (signed) {
        const signerId = keyId(o.signer!.public);
        prefix.set(signerId, INNER_PREFIX_BYTES);
        prefix.set(
          signMessage(o.signer!, sourceMessage(o.sessionId, prefix.subarray(0, INNER_PREFIX_BYTES), signerId)),
          INNER_PREFIX_BYTES + 32,
        );
      }
    } else {
      this.mode = INNER_UNBOUND;
      key = generateKey();
      prefix[1] = INNER_UNBOUND;
      prefix.set(key, 2);
      this.#macKey = macKey(key, o.sessionId);
    }
    try {
      const header: EnvelopeHeader = {
        version: 1,
        sessionId: o.sessionId,
        destination: o.destination,
        name: o.name,
        length: o.length === null ? null : BigInt(o.length),
        segmentSize: o.segmentSize,
      };
      this.#sealer = new EnvelopeSealer(key, header);
    } finally {
      wipe(key);
    }
    this.#sessionId = new Uint8Array(o.sessionId);
    this.#prefix = prefix;
    this.#dest = o.dest;
  }

  /** The first bytes of the inner stream: the clear inner prefix and the envelope's prefix. */
  prefix(): Uint8Array {
    const p = this.#sealer.prefix();
    const out = new Uint8Array(this.#prefix.length + p.length);
    out.set(this.#prefix);
    out.set(p, this.#prefix.length);
    return out;
  }

  /** Seals payload bytes; returns the inner-stream bytes they completed. */
  push(plain: Uint8Array): Uint8Array[] {
    return this.#sealer.push(plain);
  }

  /** Ends the payload; returns the remaining inner-stream bytes. */
  finish(): Uint8Array[] {
    return this.#sealer.finish();
  }

  /** Payload bytes sealed so far. */
  get payloadLength(): number {
    return this.#sealer.payloadLength;
  }

  /** SHA-256 of the payload, once finished. */
  get payloadSha256(): Uint8Array | undefined {
    return this.#sealer.payloadSha256;
  }

  /**
   * Checks a DONE's receipt: it must be of the kind this stream asks for, valid over the facts DONE states,
   * and those facts must equal what was sealed (digest and length). Never throws.
   */
  verifyReceipt(facts: ReceiptFacts, receipt: Uint8Array | null): ReceiptVerdict {
    const digest = this.payloadSha256;
    if (digest === undefined) return { valid: false, reason: 'it came before the whole payload was sealed' };
    if (receipt === null || receipt.length === 0) return { valid: false, reason: 'it carries no receipt' };
    const message = receiptMessage(this.#sessionId, this.#prefix, facts);
    const tag = receipt.subarray(1);
    let verdict: ReceiptVerdict;
    if (this.mode !== INNER_UNBOUND) {
      verdict =
        receipt[0] === RECEIPT_SIGNED && verifyMessage(this.#dest!, message, tag)
          ? { valid: true, kind: 'signed' }
          : { valid: false, reason: 'its receipt is not signed by the destination key' };
    } else {
      const want = createHmac('sha256', this.#macKey!).update(message).digest();
      verdict =
        receipt[0] === RECEIPT_MAC && tag.length === want.length && timingSafeEqual(want, tag)
          ? { valid: true, kind: 'mac' }
          : { valid: false, reason: 'its receipt does not verify' };
    }
    if (!verdict.valid) return verdict;
    if (facts.length !== this.payloadLength || !Buffer.from(facts.sha256).equals(Buffer.from(digest))) {
      return {
        valid: false,
        reason: `it confirms ${facts.length} bytes with another SHA-256 than the ${this.payloadLength} bytes sent`,
      };
    }
    return verdict;
  }

  destroy(): void {
    this.#sealer.destroy();
    wipe(this.#macKey);
    this.#macKey = undefined;
    if (this.mode === INNER_UNBOUND) wipe(this.#prefix.subarray(2, 34)); // the key in clear
  }
}

/** Options of {@link InnerOpener}. */
export interface InnerOpenerOptions {
  /** This destination's identity: streams must be sealed to it. Absent: only unbound streams are accepted. */
  identity?: Identity;
  /** Sources allowed to send here: when given (non-empty), only streams signed by one of them (mode 3) open. */
  trustedSources?: readonly PublicIdentity[];
}

/**
 * The destination's side: opens the inner stream (fed in chunks of any size) and writes the receipt.
 * Any failure throws SmigError: SMIG_ERR_AUTH for a stream not sealed to this destination (or an unbound one
 * when it has an identity) or one that does not authenticate.
 */
export class InnerOpener {
  readonly #sessionId: Uint8Array;
  readonly #identity: Identity | undefined;
  readonly #trusted: readonly PublicIdentity[];
  #prefix = new Uint8Array(INNER_PREFIX_BYTES);
  #have = 0;
  #signer: PublicIdentity | undefined;
  #opener: EnvelopeOpener | undefined;
  #macKey: Uint8Array | undefined;
  #mode = 0;

  constructor(sessionId: Uint8Array, o: InnerOpenerOptions = {}) {
    this.#sessionId = new Uint8Array(sessionId);
    this.#identity = o.identity;
    this.#trusted = o.trustedSources ?? [];
  }

  /** The trusted source that signed the stream (mode 3 with a trust list), once the prefix has been read. */
  get signer(): PublicIdentity | undefined {
    return this.#signer;
  }

  /** The authenticated inner header (name, length), once its segment has been opened. */
  get header(): EnvelopeHeader | undefined {
    return this.#opener?.header;
  }

  /** `sealed` or `unbound`, once the inner prefix has been read. */
  get mode(): 'sealed' | 'unbound' | undefined {
    return this.#mode === INNER_SEALED || this.#mode === INNER_SIGNED
      ? 'sealed'
      : this.#mode === INNER_UNBOUND
        ? 'unbound'
        : undefined;
  }

  /** Feeds inner-stream bytes; returns the plaintext that authenticated. */
  push(bytes: Uint8Array): Uint8Array[] {
    let rest = bytes;
    while (this.#opener === undefined) {
      const take = Math.min(this.#prefix.length - this.#have, rest.length);
      this.#prefix.set(rest.subarray(0, take), this.#have);
      this.#have += take;
      rest = rest.subarray(take);
      if (this.#have < this.#prefix.length) return [];
      if (this.#have === INNER_PREFIX_BYTES && this.#prefix[1] === INNER_SIGNED) {
        const longer = new Uint8Array(INNER_SIGNED_PREFIX_BYTES); // the source's key id and signature follow
        longer.set(this.#prefix);
        this.#prefix = longer;
        continue;
      }
      this.#start();
    }
    return rest.length === 0 ? [] : this.#opener!.push(rest).plaintext;
  }

  /**
   * Ends the stream: the held-back plaintext and the payload's SHA-256 and length.
   * @throws SmigError SMIG_ERR_AUTH when the stream was cut short or did not authenticate
   */
  finish(): OpenFinal {
    if (this.#opener === undefined)
      throw smigError('SMIG_ERR_AUTH', `inner stream: ended after ${this.#have} bytes, before its prefix (truncated)`);
    return this.#opener.finish();
  }

  /** The receipt for `facts` (`u8 kind ‖ tag`). */
  receipt(facts: ReceiptFacts): Uint8Array {
    if (this.#mode === 0) throw smigError('SMIG_ERR_INTERNAL', 'inner stream: receipt before the stream was opened');
    const message = receiptMessage(this.#sessionId, this.#prefix, facts);
    const tag =
      this.#mode !== INNER_UNBOUND
        ? signMessage(this.#identity!, message)
        : new Uint8Array(createHmac('sha256', this.#macKey!).update(message).digest());
    const out = new Uint8Array(1 + tag.length);
    out[0] = this.#mode !== INNER_UNBOUND ? RECEIPT_SIGNED : RECEIPT_MAC;
    out.set(tag, 1);
    return out;
  }

  destroy(): void {
    this.#opener?.destroy();
    wipe(this.#macKey);
    this.#macKey = undefined;
    wipe(this.#prefix.subarray(2, 34)); // an unbound stream's key
  }

  #start(): void {
    const p = this.#prefix;
    const bad = (why: string): never => {
      throw smigError('SMIG_ERR_AUTH', `inner stream: ${why}`);
    };
    if (p[0] !== INNER_VERSION) bad(`unsupported inner format version ${p[0]!}`);
    const mode = p[1]!;
    let key: Uint8Array;
    if (this.#trusted.length > 0) {
      if (mode !== INNER_SIGNED) bad('not signed by a source this destination trusts (smig send --identity): refused');
      const signerId = p.subarray(INNER_PREFIX_BYTES, INNER_PREFIX_BYTES + 32);
      const signer = this.#trusted.find((t) => Buffer.from(keyId(t)).equals(Buffer.from(signerId)));
      if (signer === undefined) bad('signed by a source this destination does not trust: refused');
      const message = sourceMessage(this.#sessionId, p.subarray(0, INNER_PREFIX_BYTES), signerId);
      if (!verifyMessage(signer!, message, p.subarray(INNER_PREFIX_BYTES + 32, INNER_SIGNED_PREFIX_BYTES))) {
        bad('the source signature does not verify: refused');
      }
      this.#signer = signer;
    }
    if (mode === INNER_SEALED || mode === INNER_SIGNED) {
      if (this.#identity === undefined) {
        bad('sealed to a destination identity, and this destination has none (smig recv --identity FILE)');
      }
      const mine = keyId(this.#identity!.public);
      if (!Buffer.from(mine).equals(Buffer.from(p.subarray(34, 66)))) {
        bad("sealed to another destination (its key id is not this destination's): refused");
      }
      const ephemeral = p.slice(2, 34);
      const shared = x25519(this.#identity!.agreePrivate, ephemeral);
      try {
        key = deriveInnerKey(shared, this.#sessionId, ephemeral, this.#identity!.public.agree, mine);
      } finally {
        wipe(shared);
      }
    } else if (mode === INNER_UNBOUND) {
      if (this.#identity !== undefined) {
        bad("not sealed to this destination's identity (the source ran without --dest-key): refused");
      }
      if (p.subarray(34, 66).some((b) => b !== 0)) bad('unbound prefix with a non-zero key id');
      key = p.slice(2, 34);
      this.#macKey = macKey(key, this.#sessionId);
    } else {
      return bad(`unknown mode ${mode}`);
    }
    this.#mode = mode;
    try {
      this.#opener = new EnvelopeOpener(key, this.#sessionId);
    } finally {
      wipe(key);
    }
  }
}
