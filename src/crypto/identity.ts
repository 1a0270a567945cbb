/**
 * Per-host identity keys: authority by role on top of the cluster key.
 *
 * The cluster key (keyfile.ts) only admits a peer to a TLS channel; every host holds it, the flagged source
 * included. An identity names one host (or the operator): an Ed25519 key pair to sign with and an X25519 key
 * pair to agree on keys with, both from node:crypto. Public halves go into the inventory; the private file
 * stays on its host.
 *
 * Formats (one line of text each, newline-terminated):
 * - private: `smig-id-v1 <ed25519 seed, 64 hex> <x25519 private, 64 hex>` — mode 0600, atomically written,
 *   refused when group or others can read it (as ssh does);
 * - public:  `smig-pub-v1 <ed25519 public, 64 hex> <x25519 public, 64 hex>[ comment]`.
 * A public key's fingerprint is `SHA256:` and the base64 (no padding) of SHA-256 over both public keys, as
 * ssh-keygen -l prints them.
 * Error messages never quote a private file's content.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { smigError } from '../errors.js';
import { readSecretFile, writeSecretFile } from './keyfile.js';
import { wipe } from './wipe.js';

export const IDENTITY_FILE_TAG = 'smig-id-v1';
export const PUBLIC_KEY_TAG = 'smig-pub-v1';
/** Raw length of every key half (Ed25519 seed/public, X25519 private/public). */
export const IDENTITY_KEY_BYTES = 32;
/** Length of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** Longest identity or public-key file accepted (one short line). */
export const MAX_IDENTITY_FILE_BYTES = 1024;
/** Longest comment kept on a public key. */
export const MAX_PUBLIC_COMMENT = 200;

const ID_LINE = /^smig-id-v1 ([0-9a-fA-F]{64}) ([0-9a-fA-F]{64})\s*$/;
const PUB_LINE = /^smig-pub-v1 ([0-9a-fA-F]{64}) ([0-9a-fA-F]{64})(?: ([^\r\n]*))?\s*$/;

/** The public half of an identity: what the inventory holds and peers verify against. */
export interface PublicIdentity {
  /** Ed25519 public key, 32 bytes. */
  readonly sign: Uint8Array;
  /** X25519 public key, 32 bytes. */
  readonly agree: Uint8Array;
  /** Free text after the keys (e.g. the host name); never trusted for anything. */
  readonly comment?: string;
}

/** A host's identity with its private halves. Call `destroyIdentity` when done with it. */
export interface Identity {
  readonly public: PublicIdentity;
  /** Ed25519 seed, 32 bytes (secret). */
  readonly signSeed: Uint8Array;
  /** X25519 private key, 32 bytes (secret). */
  readonly agreePrivate: Uint8Array;
}

/**
 * 32 bytes from the CSPRNG: every such string is a valid Ed25519 seed and a valid X25519 private key (RFC 8032,
 * RFC 7748: the scalar is clamped when used). Not `generateKeyPairSync`: in Node 20 the key-generation job it leaves
 * behind, when a garbage collection frees it during the JWK export of the key it made, locks the mutex of that key
 * that the export holds, and the process hangs for good (seen once in a CI run; gdb showed
 * `KeyGenJob::~KeyGenJob` waiting inside `ExportJWKEdKey`).
 */
function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(IDENTITY_KEY_BYTES));
}

/** The raw public halves of an Ed25519 seed and an X25519 private key. */
function publicHalves(signSeed: Uint8Array, agreePrivate: Uint8Array): { sign: Uint8Array; agree: Uint8Array } {
  const edPub = createPublicKey(edPrivateKey(signSeed)).export({ format: 'jwk' });
  const xPub = createPublicKey(xPrivateKey(agreePrivate)).export({ format: 'jwk' });
  return { sign: b64u(edPub.x!), agree: b64u(xPub.x!) };
}

/** A fresh identity from the CSPRNG. */
export function generateIdentity(comment?: string): Identity {
  const signSeed = randomKey();
  const agreePrivate = randomKey();
  return {
    public: {
      ...publicHalves(signSeed, agreePrivate),
      ...(comment !== undefined ? { comment: cleanComment(comment) } : {}),
    },
    signSeed,
    agreePrivate,
  };
}

/** Zeroes the private halves. */
export function destroyIdentity(id: Identity): void {
  wipe(id.signSeed, id.agreePrivate);
}

/** The private identity file's text. */
export function encodeIdentityFile(id: Identity): string {
  return `${IDENTITY_FILE_TAG} ${hex(id.signSeed)} ${hex(id.agreePrivate)}\n`;
}

/** The public key line (what goes into the inventory or a `.pub` file). */
export function encodePublicKey(pub: PublicIdentity): string {
  const c = pub.comment ? ` ${cleanComment(pub.comment)}` : '';
  return `${PUBLIC_KEY_TAG} ${hex(pub.sign)} ${hex(pub.agree)}${c}\n`;
}

/**
 * Parses private identity file text; the public halves are derived from the private ones.
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export function parseIdentityFile(text: string, where: string): Identity {
  const m = ID_LINE.exec(text);
  if (!m) throw idError(where, `malformed content (expected one line '${IDENTITY_FILE_TAG} <64 hex> <64 hex>')`);
  const signSeed = fromHex(m[1]!);
  const agreePrivate = fromHex(m[2]!);
  try {
    return { public: publicHalves(signSeed, agreePrivate), signSeed, agreePrivate };
  } catch (err) {
    wipe(signSeed, agreePrivate);
    throw idError(where, 'not a valid key pair', err);
  }
}

/**
 * Parses a public key line (`smig-pub-v1 …`).
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export function parsePublicKey(text: string, where: string): PublicIdentity {
  const m = PUB_LINE.exec(text.trim());
  if (!m) throw idError(where, `malformed public key (expected '${PUBLIC_KEY_TAG} <64 hex> <64 hex> [comment]')`);
  const comment = m[3] !== undefined && m[3].trim() !== '' ? cleanComment(m[3]) : undefined;
  return { sign: fromHex(m[1]!), agree: fromHex(m[2]!), ...(comment !== undefined ? { comment } : {}) };
}

/** `SHA256:<base64>` over both public keys, like ssh-keygen -l. */
export function fingerprint(pub: PublicIdentity): string {
  const h = createHash('sha256').update(pub.sign).update(pub.agree).digest('base64').replace(/=+$/, '');
  return `SHA256:${h}`;
}

/** True when two public identities are the same keys (comments ignored). */
export function samePublicIdentity(a: PublicIdentity, b: PublicIdentity): boolean {
  return Buffer.compare(a.sign, b.sign) === 0 && Buffer.compare(a.agree, b.agree) === 0;
}

/** Ed25519 signature of `message` (64 bytes). */
export function signMessage(id: Identity, message: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, message, edPrivateKey(id.signSeed)));
}

/** Verifies an Ed25519 signature; false for any malformed input, never throws. */
export function verifyMessage(pub: PublicIdentity, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || pub.sign.length !== IDENTITY_KEY_BYTES) return false;
  try {
    return edVerify(null, message, edPublicKey(pub.sign), signature);
  } catch {
    return false;
  }
}

/**
 * X25519 shared secret between `id` and a peer's public key (32 bytes; the caller runs it through a KDF and
 * wipes it). Refuses an all-zero result (a low-order peer key).
 * @throws SmigError SMIG_ERR_AUTH
 */
export function agreeSecret(id: Identity, peer: PublicIdentity): Uint8Array {
  return x25519(id.agreePrivate, peer.agree);
}

/**
 * X25519 between a raw private key and a raw public key (for ephemeral keys).
 * @throws SmigError SMIG_ERR_AUTH
 */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let out: Uint8Array;
  try {
    out = new Uint8Array(diffieHellman({ privateKey: xPrivateKey(privateKey), publicKey: xPublicKey(publicKey) }));
  } catch (err) {
    throw smigError('SMIG_ERR_AUTH', 'key agreement: invalid public key', err);
  }
  if (out.every((b) => b === 0)) throw smigError('SMIG_ERR_AUTH', 'key agreement: low-order public key refused');
  return out;
}

/** A fresh ephemeral X25519 key pair as raw bytes (wipe `privateKey` when done). */
export function ephemeralX25519(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = randomKey();
  const j = createPublicKey(xPrivateKey(privateKey)).export({ format: 'jwk' });
  return { privateKey, publicKey: b64u(j.x!) };
}

/**
 * Writes a new identity to `path` (mode 0600) and its public key to `path.pub` (mode 0644).
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export async function writeIdentityFiles(path: string, id: Identity, opts: { force?: boolean } = {}): Promise<void> {
  await writeSecretFile(path, encodeIdentityFile(id), opts);
  try {
    await writeFile(`${path}.pub`, encodePublicKey(id.public), { mode: 0o644, flag: opts.force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw idError(
      `${path}.pub`,
      code === 'EEXIST' ? 'already exists (use --force to replace it)' : `cannot write (${code})`,
      err,
    );
  }
}

/**
 * Loads a private identity file (refused when group or others can read it).
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export async function loadIdentityFile(path: string): Promise<Identity> {
  const buf = await readSecretFile(path, MAX_IDENTITY_FILE_BYTES);
  try {
    return parseIdentityFile(buf.toString('latin1'), path);
  } finally {
    wipe(buf);
  }
}

/**
 * Loads a public key file (`*.pub`).
 * @throws SmigError SMIG_ERR_KEY_FILE
 */
export async function loadPublicKeyFile(path: string): Promise<PublicIdentity> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw idError(path, 'not a regular file');
      if (st.size > MAX_IDENTITY_FILE_BYTES)
        throw idError(path, `too large (${st.size} bytes; a public key is one line)`);
      text = await readFile(fh, 'utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'SMIG_ERR_KEY_FILE') throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw idError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`, err);
  }
  return parsePublicKey(text, path);
}

function edPrivateKey(seed: Uint8Array): KeyObject {
  // Node needs the public half in a JWK; derive it from the PKCS#8 DER form instead (RFC 8410 prefix).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function edPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
    format: 'der',
    type: 'spki',
  });
}

function xPrivateKey(raw: Uint8Array): KeyObject {
  if (raw.length !== IDENTITY_KEY_BYTES)
    throw smigError('SMIG_ERR_AUTH', 'key agreement: private key must be 32 bytes');
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function xPublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== IDENTITY_KEY_BYTES) throw smigError('SMIG_ERR_AUTH', 'key agreement: public key must be 32 bytes');
  return createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]),
    format: 'der',
    type: 'spki',
  });
}

function b64u(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

function cleanComment(c: string): string {
  // one line of printable text; control and bidi characters dropped
  return c
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .slice(0, MAX_PUBLIC_COMMENT)
    .trim();
}

function idError(path: string, why: string, cause?: unknown): Error {
  return smigError('SMIG_ERR_KEY_FILE', `identity ${path}: ${why}`, cause);
}
