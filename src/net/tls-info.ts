/**
 * What a framed connection reads from its TLS socket: the negotiated version and cipher suite, and
 * exported keying material. A plain socket has neither.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsInfo } from './connection-options.js';

/** TLS version and suite of `socket`; null over a plain socket. */
export function tlsInfoOf(socket: Socket): TlsInfo | null {
  const t = socket as Partial<TLSSocket>;
  const protocol = typeof t.getProtocol === 'function' ? t.getProtocol() : null;
  return protocol ? { protocol, cipher: t.getCipher!().standardName } : null;
}

/** `length` bytes of TLS keying material exported for `label` (RFC 5705, no context); null over a plain socket. */
export function keyingMaterialOf(socket: Socket, label: string, length: number): Uint8Array | null {
  const t = socket as Partial<TLSSocket>;
  if (typeof t.exportKeyingMaterial !== 'function') return null;
  return new Uint8Array(t.exportKeyingMaterial(length, label, Buffer.alloc(0)));
}
