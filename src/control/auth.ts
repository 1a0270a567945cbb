/**
 * Authority by role on the control channel: who may register as which host, and who may give the
 * controller orders. The cluster key only admits a peer to the TLS channel (every host holds it, the host
 * the IDS flagged included); these signatures say who the peer is.
 *
 * - On every connection the controller first sends `challenge` (32 random bytes, never reused).
 * - An agent's `register` carries `sig`: Ed25519, with its identity (`smig relay --identity FILE`), over
 *   {@link registerMessage}. The controller checks it against the inventory key of the host the agent
 *   registers as; so a host can register only as itself.
 * - An operator's request (`migrate`, `status`, `reinstate`) carries `sig` over {@link operatorMessage},
 *   made with the operator's identity (`smig control status --identity FILE`); the controller checks it
 *   against its `--operator-key` files.
 *
 * What is signed (domain-separated, so a signature for one purpose is never valid for another):
 * ```
 * "smig control v1 " ‖ purpose ("register" | "operator") ‖ 0x00 ‖ challenge (32) ‖ channel binding (32)
 *   ‖ SHA-256(canonical JSON of the message without `sig`)
 * ```
 * The channel binding is TLS keying material exported from the connection (label `EXPORTER-smig-control`):
 * both ends of one TLS session compute the same bytes, a peer in the middle holding the cluster key has two
 * sessions with different ones, so a signature it relays from a genuine agent does not verify. A fresh
 * challenge per connection makes every signature good for one connection only (no replay). Canonical JSON:
 * object keys sorted by UTF-16 code units, no spaces, JSON.stringify's escapes; so the signed bytes do not
 * depend on how either side orders or spaces its JSON.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Identity, PublicIdentity } from '../crypto/identity.js';
import { fingerprint, signMessage, verifyMessage } from '../crypto/identity.js';
import type { FramedConnection } from '../net/index.js';

/** Bytes of a challenge. */
export const CHALLENGE_BYTES = 32;
/** TLS exporter label of the channel binding. */
export const BINDING_LABEL = 'EXPORTER-smig-control';
const DOMAIN = 'smig control v1 ';

/** What a signature is for. */
export type SignPurpose = 'register' | 'operator';

/** A fresh challenge, as hex. */
export function newChallenge(): string {
  return randomBytes(CHALLENGE_BYTES).toString('hex');
}

/** The channel binding of a connection (32 zero bytes over a plain socket, which smig never uses). */
export function channelBinding(conn: FramedConnection): Uint8Array {
  return conn.keyingMaterial(BINDING_LABEL, 32) ?? new Uint8Array(32);
}

/** JSON with sorted keys and no spaces (see the module comment). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** The bytes signed for `purpose` (see the module comment); `body` without its `sig`. */
export function signedBytes(
  purpose: SignPurpose,
  challenge: string,
  binding: Uint8Array,
  body: Record<string, unknown>,
): Uint8Array {
  const { sig: _sig, ...rest } = body;
  const digest = createHash('sha256').update(canonicalJson(rest), 'utf8').digest();
  return Buffer.concat([Buffer.from(`${DOMAIN}${purpose}\0`, 'utf8'), Buffer.from(challenge, 'hex'), binding, digest]);
}

/** The register message's signed bytes. */
export function registerMessage(challenge: string, binding: Uint8Array, body: Record<string, unknown>): Uint8Array {
  return signedBytes('register', challenge, binding, body);
}

/** An operator request's signed bytes. */
export function operatorMessage(challenge: string, binding: Uint8Array, body: Record<string, unknown>): Uint8Array {
  return signedBytes('operator', challenge, binding, body);
}

/** Signs `body` for `purpose`; returns the signature as hex (the `sig` field). */
export function signBody(
  id: Identity,
  purpose: SignPurpose,
  challenge: string,
  binding: Uint8Array,
  body: Record<string, unknown>,
): string {
  return Buffer.from(signMessage(id, signedBytes(purpose, challenge, binding, body))).toString('hex');
}

/**
 * Checks `body.sig` against `keys`; returns the key that verifies, or a one-line reason.
 * `who` names the expected signer in the reason (e.g. `h3's inventory key`).
 */
export function checkSignature(
  purpose: SignPurpose,
  challenge: string,
  binding: Uint8Array,
  body: Record<string, unknown>,
  keys: readonly PublicIdentity[],
  who: string,
): { ok: true; key: PublicIdentity } | { ok: false; reason: string } {
  const sig = body.sig;
  if (sig === undefined || sig === null)
    return { ok: false, reason: `not signed (${who} is required: start it with --identity FILE)` };
  if (typeof sig !== 'string' || !/^[0-9a-f]{128}$/.test(sig))
    return { ok: false, reason: 'the signature is not 128 hex digits' };
  const bytes = signedBytes(purpose, challenge, binding, body);
  const raw = Buffer.from(sig, 'hex');
  for (const k of keys) if (verifyMessage(k, bytes, raw)) return { ok: true, key: k };
  return {
    ok: false,
    reason: `the signature does not verify against ${who}${keys.length === 1 ? ` (${fingerprint(keys[0]!)})` : ''}`,
  };
}
