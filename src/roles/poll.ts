/**
 * The outcome by poll (docs/ARCHITECTURE.md "The outcome by poll"). On a shaped plan with cover the leader releases
 * every data link once its END is in (release.ts), so nothing covers until DONE: the source, once its data links
 * have ended, asks for the outcome over short flows of their own. Each poll is a new connection to a data relay
 * drawn at random (SESSION{role:'poll', leader}), which passes it on to the leader (SESSION{role:'outcome'}) and
 * its one answer back: DONE or ERROR once the session is over, else PROGRESS after the leader held the poll for up
 * to 15 s (outcomes.ts). A relay that cannot reach the leader, or does not answer, just closes: the next poll
 * draws again, so no one relay can withhold the outcome, and the source gives up only when no relay has answered
 * for {@link DEFAULT_OUTCOME_WAIT_MS}.
 */
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { FramedConnection, HostPort, Transport } from '../net/index.js';
import { formatHostPort, parseHostPort, tlsTransport } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { DoneMessage, Message, PollSession } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { Link } from './link.js';
import { after, nowMs } from './util.js';

/** How long the source goes on polling while no relay answers, ms. */
export const DEFAULT_OUTCOME_WAIT_MS = 120_000;
/** How long one poll may take, answer included (the leader holds it up to 15 s), ms. */
export const POLL_TIMEOUT_MS = 40_000;

/** What a relay or a source needs to open a poll's connection. */
export interface PollChannel {
  clusterKey: Uint8Array;
  transport?: Transport;
  channel?: ChannelTimeouts;
  clock?: Clock;
}

function connect(o: PollChannel, addr: HostPort): Promise<FramedConnection> {
  return (o.transport ?? tlsTransport).connect(addr, { key: o.clusterKey, retries: 1, ...o.channel });
}

/**
 * A relay's part: passes the poll on `conn` (its SESSION{role:'poll'} already decoded) to the leader and the
 * leader's answer back, then closes both. Resolves once both are closed.
 */
export async function passPoll(o: PollChannel, log: Logger, conn: FramedConnection, first: PollSession): Promise<void> {
  const up = new Link(conn, 'poll', `source ${conn.remote}`);
  up.state.accept(FrameType.SESSION);
  up.start(() => {});
  let leader: FramedConnection;
  try {
    leader = await connect(o, parseHostPort(first.leader, 'SESSION.leader'));
  } catch (err) {
    log.event('poll-failed', { leader: first.leader, reason: (err as Error).message });
    await up.close(); // no answer: the source draws another relay
    return;
  }
  const down = new Link(leader, 'poll-reply', `leader ${first.leader}`);
  down.start((msg) => {
    if (msg.type === FrameType.ERROR) void up.conn.sendError(msg.code, msg.message);
    else if (msg.type === FrameType.PROGRESS || msg.type === FrameType.DONE)
      void up.send(msg).then(
        () => up.close(),
        () => {},
      );
  });
  down.post({ type: FrameType.SESSION, sessionId: first.sessionId, role: 'outcome' });
  void up.ended.then(() => leader.destroy()); // the source gave up: so does the leader's side
  const end = await down.ended;
  if (!end.complete && end.error !== undefined && down.peerError === undefined)
    log.event('poll-failed', { leader: first.leader, reason: end.error.message });
  if (!up.isClosed) await up.close();
  await up.ended;
}

/** One poll's result at the source. */
type PollAnswer =
  | { kind: 'done'; msg: DoneMessage }
  | { kind: 'pending' }
  | { kind: 'error'; err: Error }
  | { kind: 'failed'; reason: string };

/** What the source's polls need. */
export interface PollOptions extends PollChannel {
  /** The data relays to draw from. */
  relays: readonly HostPort[];
  /** The leader's `host:port`, as the session's SESSIONs named it. */
  leader: string;
  sessionId: Uint8Array;
  log: Logger;
  /** Stops polling (the session is over). */
  signal: AbortSignal;
  /** Gives up when no relay has answered for this long (default {@link DEFAULT_OUTCOME_WAIT_MS}). */
  waitMs?: number;
  /** Random integer in [0, n) (tests fix it). */
  pick: (n: number) => number;
  /** Whether the leader had acknowledged every byte (default true): what a timeout's message says of the payload. */
  acked?: boolean;
}

/**
 * The source's part: polls data relays drawn at random until one answers DONE (returned, with the link it came
 * by, for the source to judge) or ERROR (thrown as the peer's error). A short wait before each poll: 0.2–1 s at
 * first and after PROGRESS, 1–5 s after a relay that did not answer, which is not drawn again before the others.
 * @throws SmigError SMIG_ERR_PEER for an ERROR answer; SMIG_ERR_MIGRATION when no relay answered for `waitMs`
 *   or the signal stopped the polls
 */
export async function pollOutcome(o: PollOptions): Promise<{ msg: DoneMessage; via: string }> {
  const waitMs = o.waitMs ?? DEFAULT_OUTCOME_WAIT_MS;
  // each relay once, however often it is listed; one that did not answer is not drawn again until every other has
  // had its turn (a relay that holds a poll unanswered costs a poll timeout each time it is drawn)
  const relays = [...new Map(o.relays.map((r) => [formatHostPort(r), r])).values()];
  const failed = new Set<HostPort>();
  let answered = nowMs(o.clock);
  let pause = 200;
  let polls = 0;
  for (;;) {
    await sleep(o, pause + o.pick(pause * 4 + 1));
    if (o.signal.aborted) throw smigError('SMIG_ERR_MIGRATION', 'stopped');
    if (failed.size >= relays.length) failed.clear();
    const left = relays.filter((r) => !failed.has(r));
    const relay = left[o.pick(left.length)]!;
    const via = `data relay ${formatHostPort(relay)} (poll)`;
    polls++;
    const a = await pollOnce(o, relay, via);
    if (a.kind === 'done') return { msg: a.msg, via };
    if (a.kind === 'error') throw a.err;
    if (a.kind === 'pending') {
      answered = nowMs(o.clock);
      pause = 200;
      failed.clear();
    } else {
      o.log.event('poll-failed', { via, reason: a.reason });
      pause = 1000;
      failed.add(relay);
    }
    const quiet = nowMs(o.clock) - answered;
    if (quiet >= waitMs)
      throw smigError(
        'SMIG_ERR_MIGRATION',
        `no relay answered a poll for the outcome in ${Math.round(quiet / 1000)} s (${polls} polls); ` +
          (o.acked === false
            ? 'the destination may have installed the payload if the leader had every byte'
            : 'the leader had acknowledged every byte, so the destination may have installed the payload') +
          ': check it before migrating again',
      );
  }
}

/** Waits `ms` (a timer that keeps the process alive: between polls no socket may be open), or until stopped. */
async function sleep(o: PollOptions, ms: number): Promise<void> {
  await (o.clock ?? new RealClock({ spinMs: 0 })).sleep(ms, o.signal).catch(() => {});
}

/** One poll: connect, SESSION{role:'poll'}, the one answer (or none within {@link POLL_TIMEOUT_MS}). */
async function pollOnce(o: PollOptions, relay: HostPort, via: string): Promise<PollAnswer> {
  let conn: FramedConnection;
  try {
    conn = await connect(o, relay);
  } catch (err) {
    return { kind: 'failed', reason: (err as Error).message };
  }
  const link = new Link(conn, 'poll-reply', via);
  let answer: Message | undefined;
  link.start((msg) => {
    if (msg.type !== FrameType.PROGRESS && msg.type !== FrameType.DONE) return;
    answer ??= msg;
    void link.close(); // the one answer is in: do not wait for the relay's close
  });
  link.post({ type: FrameType.SESSION, sessionId: o.sessionId, role: 'poll', leader: o.leader });
  const timer = after(o.clock, POLL_TIMEOUT_MS, () => conn.destroy());
  const stop = (): void => conn.destroy();
  o.signal.addEventListener('abort', stop, { once: true });
  const end = await link.ended;
  timer.cancel();
  o.signal.removeEventListener('abort', stop);
  if (link.peerError !== undefined) return { kind: 'error', err: link.peerError };
  if (answer?.type === FrameType.DONE) return { kind: 'done', msg: answer };
  if (answer?.type === FrameType.PROGRESS) return { kind: 'pending' };
  return { kind: 'failed', reason: end.error?.message ?? 'closed without an answer' };
}
