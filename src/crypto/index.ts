/** src/crypto: the session envelope (STREAM over ChaCha20-Poly1305), Shamir key shares, wiping, key files. */
export * from './envelope.js';
export * from './identity.js';
export * from './inner.js';
export * from './keyfile.js';
export * from './shares.js';
export * from './wipe.js';
