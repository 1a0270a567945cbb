/**
 * Which relay links the leader closes before the session's end (docs/ARCHITECTURE.md "Links that end when their
 * part is done"). A key relay's link once its share and END are in (and a data relay's link is in, which carries
 * the replies). A data relay's link, on a shaped plan with cover, once its END is in: the source sends END only when
 * every byte is acknowledged, so the link has nothing left to carry but cover; one data link stays for PROGRESS, DONE
 * and ERROR: the one from the leader's own host if there is one (a data relay that is also the leader, as the
 * controller and `smig send` pick it by default: its link to the leader never crosses the network, so only its
 * source's link covers until DONE), else one drawn at random. Pure.
 */
import { parseHostPort } from '../net/address.js';

/** What the choice reads of a relay link. */
export interface ReleasableLink {
  readonly via: 'data-relay' | 'key-relay';
  readonly index: number;
  readonly link: { readonly isClosed: boolean };
  released?: boolean;
  /** The relay runs on the leader's host ({@link sameHost}). */
  readonly local?: boolean;
}

/** True when a connection's two ends have one address: the peer runs on this host (false for an unknown end). */
export function sameHost(conn: { readonly remote: string; readonly local: string }): boolean {
  try {
    return parseHostPort(conn.remote, 'remote').host === parseHostPort(conn.local, 'local').host;
  } catch {
    return false; // '?:0' for a socket already gone
  }
}

/** A link the leader has neither closed nor released. */
function open(l: ReleasableLink): boolean {
  return !l.link.isClosed && l.released !== true;
}

/**
 * The data link that stays for the replies, once a data relay's END is in: `previous` while it is open, else the
 * one from the leader's own host, else one drawn with `pick` (0 ≤ pick(n) < n). Not the last whose END came: a
 * hostile relay could send its END last to be the one that carries DONE, and withhold it.
 */
export function keptDataLink<T extends ReleasableLink>(
  links: readonly T[],
  previous: T | undefined,
  pick: (n: number) => number,
): T | undefined {
  const data = links.filter((l) => l.via === 'data-relay' && open(l));
  if (previous !== undefined && data.includes(previous)) return previous;
  return data.find((l) => l.local === true) ?? (data.length === 0 ? undefined : data[pick(data.length)]);
}

/**
 * The links to release now, of `links` (the session's open relay links): key links in `keyFinished` (while a data
 * link is in), and, when a data link `kept` stays ({@link keptDataLink}), the other data links in `dataEnded`.
 */
export function linksToRelease<T extends ReleasableLink>(
  links: readonly T[],
  keyFinished: ReadonlySet<number>,
  dataEnded: ReadonlySet<number>,
  kept: T | undefined,
): T[] {
  if (links.every((l) => l.via !== 'data-relay')) return []; // no link left for the replies
  const keys = links.filter((l) => l.via === 'key-relay' && keyFinished.has(l.index) && open(l));
  if (kept === undefined) return keys;
  const data = links.filter((l) => l.via === 'data-relay' && open(l) && dataEnded.has(l.index) && l !== kept);
  return [...keys, ...data];
}
