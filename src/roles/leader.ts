/**
 * The leader (docs/DESIGN.md §3 "Session flow" step 5; paper §5.2 algorithm 4): the relay every data and key
 * relay of a session forwards to. It needs no instruction: the first SESSION{role:'leader'} of a session
 * id creates the session, later links join it if their layout agrees.
 *
 * 1. Collect: DATA_SEGMENTs go into the reorder buffer (bounded by the window), KEY_SEGMENT shares are
 *    kept. Nothing from a relay link is ever awaited, so one stalled relay cannot block the others.
 * 2. Key: with ≥ k shares and the first PREFIX_BYTES of ciphertext, `combineShares` tries k-subsets
 *    until a candidate opens segment 0 (`tryOpenHeader`); more shares → other subsets. The header then
 *    names the destination — the only place it appears. Shares and the key are wiped.
 * 3. Forward: in-order ciphertext → EnvelopeOpener → plaintext DATA to the destination, with
 *    backpressure; PROGRESS (consumed offset) to every data link each MiB or 50 ms.
 * 4. Finish: when END{L} has come and everything up to L is consumed, the opener checks the trailer;
 *    END{length, sha256} goes to the destination, its DONE to every relay link.
 *
 * Pacing (pace.ts): the plan comes in the relays' SESSIONs (every link of a session must carry the same text);
 * the destination hop has its own pacer (hop `leader`, index 0) and gets DATA frames of its write sizes, cut
 * from a queue of plaintext that keeps the remainder of a segment for the next write. A paced session sends
 * PROGRESS less often ({@link PACED_PROGRESS_DELAY_MS}): those frames travel on the paced relay links too; the
 * final segment's arrival is reported at once (the source's END waits for it).
 *
 * Failures (bad shares, a chunk that does not authenticate, the destination lost or refusing, every
 * relay link gone) end the session: ERROR on every relay link, ERROR to the destination (which deletes
 * its partial file). Nothing a relay reads names the destination: messages are scrubbed of its address.
 * A relay link that ends early is only a lost link (the source re-sends its chunks through others).
 */

import { DEFAULT_IDLE_TIMEOUT_MS } from '../net/connection-options.js';
import type { FramedConnection } from '../net/index.js';
import type { LeaderSession, OutcomeSession } from '../protocol/index.js';
import { sessionIdHex } from '../protocol/index.js';
import type { LeaderOptions } from './leader-options.js';
import { LeaderSessionState } from './leader-session.js';
import { OutcomeTable, POLL_HOLD_MS } from './outcomes.js';
import { sessionPlan } from './pace.js';
import { Signal } from './util.js';

export type { LeaderOptions } from './leader-options.js';
export {
  PACED_PROGRESS_DELAY_MS,
  PROGRESS_BYTES,
  PROGRESS_DELAY_MS,
  SHAPED_GRACE_MS,
  SHAPED_QUEUE_BYTES,
} from './leader-options.js';

/** The leader sessions of one relay daemon. */
export class LeaderRegistry {
  readonly #o: LeaderOptions;
  readonly #sessions = new Map<string, LeaderSessionState>();
  readonly #idle = new Signal();
  readonly #outcomes: OutcomeTable;

  constructor(o: LeaderOptions) {
    this.#o = o;
    // a held poll's two links are quiet: answer well within their idle timeout
    const idle = o.channel.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#outcomes = new OutcomeTable(o.clock, Math.min(POLL_HOLD_MS, idle / 2));
  }

  /** Sessions in progress. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Adds a link whose first frame was SESSION{role:'leader'} (already decoded) to its session.
   * `release` is called once when this link is closed.
   * @throws SmigError SMIG_ERR_PROTOCOL_STATE when the layout or plan disagrees or the relay index joined twice;
   *   SMIG_ERR_FRAME_MALFORMED for a plan that does not validate
   */
  join(conn: FramedConnection, first: LeaderSession, release: () => void): void {
    const id = sessionIdHex(first.sessionId);
    let s = this.#sessions.get(id);
    if (s === undefined) {
      const plan = sessionPlan(first.plan);
      const gone = (): void => {
        this.#sessions.delete(id);
        if (this.#sessions.size === 0) this.#idle.notify();
      };
      const plans = { text: first.plan, plan };
      s = new LeaderSessionState(this.#o, first.sessionId, first.layout, plans, gone, (outcome) =>
        this.#outcomes.record(id, outcome),
      );
      this.#sessions.set(id, s);
    }
    s.join(conn, first, release);
  }

  /**
   * Answers a poll a relay passed on (its first frame SESSION{role:'outcome'}, already decoded) and closes it:
   * the session's outcome, or PROGRESS while it is not over, or ERROR for a session not known here (outcomes.ts).
   */
  answer(conn: FramedConnection, first: OutcomeSession): void {
    this.#outcomes.answer(conn, first, this.#sessions.get(sessionIdHex(first.sessionId)));
  }

  /** Fails every session (shutdown). */
  abortAll(err: Error): void {
    for (const s of this.#sessions.values()) s.fail(err);
  }

  /** Resolves when no session is left. */
  async idle(): Promise<void> {
    while (this.#sessions.size > 0) await this.#idle.wait();
  }
}
