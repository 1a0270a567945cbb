/**
 * Which relay links the leader closes before the session's end (docs/ARCHITECTURE.md "Links that end when their
 * part is done"). A key relay's link once its share and END are in (and a data relay's link is in, which carries
 * the replies). A data relay's link, on a plan whose outcome goes by poll (a shaped plan with cover), once its END
 * is in: the source sends END only once the link has nothing left to carry but cover (every byte acknowledged, or
 * no chunk left for it while another link stays for re-sends: source-drain.ts), and asks for the outcome over short
 * flows of their own (outcomes.ts, poll.ts). The leader answers the END with END{bytes received on the link}. Pure.
 */

/** What the choice reads of a relay link. */
export interface ReleasableLink {
  readonly via: 'data-relay' | 'key-relay';
  readonly index: number;
  readonly link: { readonly isClosed: boolean };
  released?: boolean;
}

/** A link the leader has neither closed nor released. */
function open(l: ReleasableLink): boolean {
  return !l.link.isClosed && l.released !== true;
}

/**
 * The links to release now, of `links` (the session's open relay links): key links in `keyFinished` (while a data
 * link is in, or once a data END is in), and, when the outcome goes by poll (`polled`), the data links in
 * `dataEnded`.
 */
export function linksToRelease<T extends ReleasableLink>(
  links: readonly T[],
  keyFinished: ReadonlySet<number>,
  dataEnded: ReadonlySet<number>,
  polled: boolean,
): T[] {
  const ended = polled && dataEnded.size > 0;
  if (!ended && links.every((l) => l.via !== 'data-relay')) return []; // no link left for the replies
  const keys = links.filter((l) => l.via === 'key-relay' && keyFinished.has(l.index) && open(l));
  if (!ended) return keys;
  const data = links.filter((l) => l.via === 'data-relay' && open(l) && dataEnded.has(l.index));
  return [...keys, ...data];
}
