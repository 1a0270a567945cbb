/**
 * The leader's side of the polls (docs/ARCHITECTURE.md "The outcome by poll"): on a shaped plan with cover the
 * leader releases every data link once its END is in, so the session's outcome (the destination's DONE, or the
 * failure) cannot go back along them. It is kept here, by session id, for a while, and a poll that a relay passes
 * on (SESSION{role:'outcome'}) gets it: DONE or ERROR when the session is over, else, after holding the poll for up
 * to {@link POLL_HOLD_MS} in case the outcome comes meanwhile, PROGRESS (not over yet). A poll for a session this
 * leader does not know gets ERROR.
 *
 * Bounded: at most {@link MAX_OUTCOMES} outcomes, each for {@link OUTCOME_TTL_MS}; at most {@link MAX_HELD_POLLS}
 * polls held at once (more are answered at once).
 */
import { smigError } from '../errors.js';
import type { FramedConnection } from '../net/index.js';
import type { Clock } from '../pacing/clock.js';
import type { DoneMessage, ErrorMessage, OutcomeSession, ProgressMessage } from '../protocol/index.js';
import { FrameType, sessionIdHex } from '../protocol/index.js';
import { Link } from './link.js';
import type { Timer } from './util.js';
import { after, nowMs } from './util.js';

/** Outcomes a leader keeps at once (the oldest goes first). */
export const MAX_OUTCOMES = 1024;
/** How long a leader keeps an outcome, ms. */
export const OUTCOME_TTL_MS: number = 10 * 60_000;
/** How long a leader holds a poll whose session is not over yet before it answers PROGRESS, ms. */
export const POLL_HOLD_MS = 15_000;
/** Polls a leader holds at once. */
export const MAX_HELD_POLLS = 64;

/** A session's outcome as a poll gets it: the destination's DONE (scrubbed), or the failure's ERROR. */
export type Outcome = DoneMessage | ErrorMessage;
/** A poll's answer: the outcome, or PROGRESS while the session is not over. */
type Answer = Outcome | ProgressMessage;

interface Held {
  answer: (a: Answer) => void;
}

/** What the table asks of a session in progress. */
export interface LiveSession {
  /** Ciphertext bytes consumed so far: the PROGRESS a pending poll gets. */
  readonly consumed: number;
}

/** The outcomes of a leader's sessions and the polls waiting for them. */
export class OutcomeTable {
  readonly #clock: Clock | undefined;
  readonly #holdMs: number;
  readonly #outcomes = new Map<string, { outcome: Outcome; at: number }>();
  readonly #held = new Map<string, Set<Held>>();
  #heldCount = 0;

  constructor(clock: Clock | undefined, holdMs: number) {
    this.#clock = clock;
    this.#holdMs = holdMs;
  }

  /** Records session `id`'s outcome (the first one stays) and answers the polls that wait for it. */
  record(id: string, outcome: Outcome): void {
    this.#prune();
    if (this.#outcomes.has(id)) return;
    if (this.#outcomes.size >= MAX_OUTCOMES) this.#outcomes.delete(this.#outcomes.keys().next().value!);
    this.#outcomes.set(id, { outcome, at: nowMs(this.#clock) });
    for (const h of this.#held.get(id) ?? []) h.answer(outcome);
  }

  /** Session `id`'s outcome, while it is kept. */
  get(id: string): Outcome | undefined {
    this.#prune();
    return this.#outcomes.get(id)?.outcome;
  }

  /**
   * Answers a poll link (its SESSION{role:'outcome'} already decoded) and closes it: the outcome if there is one,
   * else, for a session in progress (`live`), the outcome if it comes within the hold, or PROGRESS; else ERROR.
   */
  answer(conn: FramedConnection, first: OutcomeSession, live: LiveSession | undefined): void {
    const id = sessionIdHex(first.sessionId);
    const link = new Link(conn, 'outcome', `poll (${conn.remote})`);
    link.state.accept(FrameType.SESSION);
    link.start(() => {}); // nothing may follow the SESSION: a frame other than PING is refused by the state
    const known = this.get(id);
    if (known !== undefined) return void reply(link, known);
    if (live === undefined) {
      const err = smigError(
        'SMIG_ERR_PROTOCOL_STATE',
        `leader: no session ${id.slice(0, 16)} here, or its outcome expired`,
      );
      return void link.fail(err);
    }
    const pending = (): ProgressMessage => ({ type: FrameType.PROGRESS, offset: live.consumed });
    if (this.#heldCount >= MAX_HELD_POLLS) return void reply(link, pending());
    let timer: Timer | undefined;
    const held: Held = {
      answer: (o) => {
        if (!this.#drop(id, held)) return;
        timer?.cancel();
        void reply(link, o);
      },
    };
    this.#hold(id, held);
    timer = after(this.#clock, this.#holdMs, () => held.answer(pending()));
    void link.ended.then(() => {
      timer?.cancel();
      this.#drop(id, held);
    });
  }

  #hold(id: string, h: Held): void {
    let set = this.#held.get(id);
    if (set === undefined) this.#held.set(id, (set = new Set()));
    set.add(h);
    this.#heldCount++;
  }

  #drop(id: string, h: Held): boolean {
    const set = this.#held.get(id);
    if (set === undefined || !set.delete(h)) return false;
    this.#heldCount--;
    if (set.size === 0) this.#held.delete(id);
    return true;
  }

  #prune(): void {
    const oldest = nowMs(this.#clock) - OUTCOME_TTL_MS;
    for (const [id, e] of this.#outcomes) {
      if (e.at > oldest) break; // insertion order is time order
      this.#outcomes.delete(id);
    }
  }
}

/** Sends one answer and closes (ERROR: the connection's error send, which closes). */
async function reply(link: Link, o: Answer): Promise<void> {
  if (o.type === FrameType.ERROR) return void (await link.conn.sendError(o.code, o.message));
  await link.send(o).then(
    () => link.close(),
    () => {},
  );
}
