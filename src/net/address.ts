/**
 * `HOST:PORT` addresses as they appear on smig's command line (`--listen`, `--dest`, `--data-relays`):
 * `127.0.0.1:7000`, `[::1]:7000`, `relay-3.lab:7000`, and port 0 for "any free port" when listening.
 * An IPv6 address must be bracketed (as in URLs, RFC 3986 §3.2.2), otherwise its last group and the
 * port could not be told apart.
 */
import { isIP } from 'node:net';
import { smigError } from '../errors.js';

/** A host (IPv4, IPv6 without brackets, or DNS name) and a TCP port (0–65535). */
export interface HostPort {
  host: string;
  port: number;
}

const EXAMPLES = 'examples: 127.0.0.1:7000, [::1]:7000, relay-1.lab:7000';
// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and inner hyphens, each ≤ 63 chars
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses one `HOST:PORT`.
 * @param what names the flag or field in the error message, e.g. `--dest`.
 * @throws SmigError SMIG_ERR_BAD_ADDRESS, one line naming `what` and the text.
 * @example parseHostPort('[::1]:7000', '--listen') // { host: '::1', port: 7000 }
 */
export function parseHostPort(text: string, what: string): HostPort {
  const bad = (why: string) =>
    smigError('SMIG_ERR_BAD_ADDRESS', `${what}: '${text}' is not HOST:PORT (${why}; ${EXAMPLES})`);
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw bad("no ']' after the IPv6 address");
    host = s.slice(1, close);
    if (s[close + 1] !== ':') throw bad('port missing');
    portText = s.slice(close + 2);
    if (isIP(host) !== 6) throw bad(`'${host}' is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw bad('port missing');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host === '') throw bad('host missing');
    if (host.includes(':')) throw bad('an IPv6 address must be in brackets');
    // all-numeric dotted names are meant as IPv4 and must be one (catches 10.0.0.256)
    if (/^[\d.]+$/.test(host) ? isIP(host) !== 4 : !HOSTNAME.test(host)) throw bad(`'${host}' is not a valid host`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
    throw bad(`port '${portText}' is not a number from 0 to 65535`);
  return { host, port: Number(portText) };
}

/** Formats an address so that {@link parseHostPort} reads it back (IPv6 in brackets). */
export function formatHostPort(a: HostPort): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * Parses a comma-separated list of `HOST:PORT` (`--data-relays a:7000,b:7000`). Spaces around commas are
 * allowed; empty entries and the same address twice are errors (every relay must be a distinct peer).
 * @throws SmigError SMIG_ERR_BAD_ADDRESS
 */
export function parseHostList(text: string, what: string): HostPort[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '') {
    throw smigError('SMIG_ERR_BAD_ADDRESS', `${what}: expected a comma-separated list of HOST:PORT, got nothing`);
  }
  const seen = new Set<string>();
  return parts.map((p, i) => {
    if (p === '') throw smigError('SMIG_ERR_BAD_ADDRESS', `${what}: entry ${i + 1} of '${text}' is empty`);
    const a = parseHostPort(p, `${what} entry ${i + 1}`);
    const canon = formatHostPort({ host: a.host.toLowerCase(), port: a.port });
    if (seen.has(canon)) throw smigError('SMIG_ERR_BAD_ADDRESS', `${what}: '${p}' is listed twice`);
    seen.add(canon);
    return a;
  });
}

/**
 * True when `text` is exactly a `HOST:PORT` that {@link parseHostPort} reads, with a port from 1 to 65535 (a
 * peer's address on the wire: no spaces around it, no "any port").
 */
export function isHostPort(text: string): boolean {
  if (typeof text !== 'string' || text !== text.trim()) return false;
  try {
    return parseHostPort(text, 'address').port > 0;
  } catch {
    return false;
  }
}
