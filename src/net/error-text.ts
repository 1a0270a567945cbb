/**
 * Socket and TLS failures as one short line each, naming the likely cause: what the channel's connect and
 * listen paths and the framed connection report instead of OpenSSL's and the OS's raw messages.
 */
import { isSmigError, smigError } from '../errors.js';

/** The error's OS or OpenSSL code, or `no code`. */
export function errCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? 'no code';
}

export function describeErrno(err: NodeJS.ErrnoException): string {
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'timed out',
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'address not available on this host',
    EACCES: 'permission denied',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed (temporary)',
    EMFILE: 'too many open files',
  };
  const code = errCode(err);
  return known[code] === undefined ? tlsErrorText(err) : `${known[code]} (${code})`;
}

/** The client's view of a refused handshake, for one line that points at the likely cause. */
export function handshakeFailure(err: Error): string {
  const code = errCode(err);
  switch (code) {
    case 'ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER':
    case 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR':
      return `the peer rejected our key; check that both hosts use the same cluster key (${code})`;
    case 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE':
      return `the peer accepts no key we offer: not a smig peer, or another version (${code})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING':
      return `the peer does not speak TLS 1.3 (${code})`;
    case 'ECONNRESET':
      return `the peer closed the connection (${code})`;
    default:
      return tlsErrorText(err);
  }
}

/** The server's view of a refused handshake. */
export function rejectReason(err: Error, handshakeMs: number): string {
  const code = errCode(err);
  switch (code) {
    case 'ERR_SSL_BINDER_DOES_NOT_VERIFY':
      return `wrong key: the PSK binder does not verify (${code})`;
    case 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM':
    case 'ERR_SSL_NO_SHARED_CIPHER':
    case 'ERR_SSL_NO_SHARED_SIGNATURE_ALGORITHMS':
      return `no smig PSK offered: unknown identity or not a smig client (${code})`;
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return `no handshake within ${handshakeMs} ms (${code})`;
    case 'ECONNRESET':
      return `closed during the handshake (${code})`;
    default:
      return code.startsWith('ERR_SSL_') ? `not a smig TLS 1.3 client (${code})` : tlsErrorText(err);
  }
}

/** An error as one short line: OpenSSL's `error:0A00009C:SSL routines:fn:reason:file:line` cut to the reason. */
export function tlsErrorText(err: Error): string {
  const line = (err.message.split('\n')[0] ?? '').trim();
  const ssl = /:SSL routines:[^:]*:([^:]+):/.exec(line);
  return `${ssl?.[1] ?? line} (${errCode(err)})`;
}

/** A socket error as a one-line SMIG_ERR_CONNECTION (SmigErrors pass through). */
export function socketError(err: Error, remote: string): Error {
  if (isSmigError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const text =
    code === 'ECONNRESET'
      ? 'reset by the peer'
      : code === 'EPIPE'
        ? 'broken pipe'
        : (err.message.split('\n')[0] ?? 'error').trim();
  return smigError(
    'SMIG_ERR_CONNECTION',
    `connection to ${remote}: ${text}${code === undefined ? '' : ` (${code})`}`,
    err,
  );
}
