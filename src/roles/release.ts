/**
 * Which relay links the leader closes before the session's end (docs/ARCHITECTURE.md "Links that end when their
 * part is done"). A key relay's link once its share and END are in (and a data relay's link is in, which carries
 * the replies). A data relay's link, on a shaped plan with cover, once its END is in: the source sends END only when
 * every byte is acknowledged, so the link has nothing left to carry but cover; one data link, the last whose END
 * came, stays for PROGRESS, DONE and ERROR. Pure.
 */

/** What the choice reads of a relay link. */
export interface ReleasableLink {
  readonly via: 'data-relay' | 'key-relay';
  readonly index: number;
  readonly link: { readonly isClosed: boolean };
  released?: boolean;
}

/**
 * The links to release now, of `links` (the session's open relay links): key links in `keyFinished`, and, when
 * `dataToo`, data links in `dataEnded` while another data link stays.
 */
export function linksToRelease<T extends ReleasableLink>(
  links: readonly T[],
  keyFinished: ReadonlySet<number>,
  dataEnded: ReadonlySet<number>,
  dataToo: boolean,
): T[] {
  const data = links.filter((l) => l.via === 'data-relay' && !l.link.isClosed && l.released !== true);
  if (links.every((l) => l.via !== 'data-relay')) return []; // no link left for the replies
  const keys = links.filter(
    (l) => l.via === 'key-relay' && keyFinished.has(l.index) && !l.link.isClosed && l.released !== true,
  );
  if (!dataToo) return keys;
  const ended = data.filter((l) => dataEnded.has(l.index));
  return [...keys, ...ended.slice(0, ended.length === data.length ? ended.length - 1 : ended.length)];
}
