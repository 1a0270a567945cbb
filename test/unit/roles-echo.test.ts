/**
 * AckEcho.carry (src/roles/echo.ts): a receiver's PROGRESS rides on its next echo, in the echo's record, so that the
 * sender's kernel ACKs the two once, where the sender's plan has an ACK anyway, not alone in a lull of the data
 * direction. Fake clock.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import type { Message } from '../../src/protocol/index.js';
import { encodeMessage, FrameType } from '../../src/protocol/index.js';
import { AckEcho, carryWithPad, ECHO_LEAD_MS, ECHO_TAG, MAX_CARRY_MS } from '../../src/roles/echo.js';

/**
 * An echo on a fake clock that records what it sends and when: 'PAD' for its pokes ('PAD+offset' for one that
 * carries a PROGRESS), the offset for a PROGRESS sent alone.
 */
function recorder(signal: AbortSignal = new AbortController().signal): {
  clock: FakeClock;
  echo: AckEcho;
  sent: { at: number; what: string | number }[];
} {
  const clock = new FakeClock({ start: 0 });
  const sent: { at: number; what: string | number }[] = [];
  const echo = new AckEcho(
    clock,
    (carried?: Message) =>
      sent.push({ at: clock.now(), what: carried?.type === FrameType.PROGRESS ? `PAD+${carried.offset}` : 'PAD' }),
    signal,
    (m: Message) => sent.push({ at: clock.now(), what: m.type === FrameType.PROGRESS ? m.offset : -1 }),
  );
  return { clock, echo, sent };
}

const progress = (offset: number): Message => ({ type: FrameType.PROGRESS, offset });

describe('AckEcho.carry', () => {
  it('sends the latest PROGRESS with the next echo, not when it is handed over', async () => {
    const { clock, echo, sent } = recorder();
    echo.carry(progress(1000));
    echo.carry(progress(5000)); // cumulative: the later one replaces the earlier
    await clock.advance(3000);
    expect(sent).toEqual([]); // a lull: nothing goes out
    echo.onHint([2000]); // the sender's plan has an ACK 2 ms after its write
    await clock.advance(10);
    expect(sent.map((s) => s.what)).toEqual(['PAD+5000', 'PAD']); // with the first PAD of the echo
    expect(sent[0]!.at).toBeCloseTo(3002 - ECHO_LEAD_MS, 9);
    await clock.advance(MAX_CARRY_MS);
    expect(sent).toHaveLength(2); // sent once, not again at the deadline
  });

  it('goes alone after MAX_CARRY_MS when no echo comes', async () => {
    const { clock, echo, sent } = recorder();
    echo.carry(progress(42));
    await clock.advance(MAX_CARRY_MS - 1);
    expect(sent).toEqual([]);
    await clock.advance(1);
    expect(sent).toEqual([{ at: MAX_CARRY_MS, what: 42 }]);
    echo.onHint([1000]); // the next echo carries nothing
    await clock.advance(10);
    expect(sent.slice(1).map((s) => s.what)).toEqual(['PAD', 'PAD']);
  });

  it('sendNow sends at once and drops an older frame still waiting, which would otherwise follow the newer one', async () => {
    const { clock, echo, sent } = recorder();
    echo.carry(progress(100));
    await clock.advance(5);
    echo.sendNow(progress(900)); // the leader's last PROGRESS
    expect(sent).toEqual([{ at: 5, what: 900 }]);
    echo.onHint([1000]);
    await clock.advance(2 * MAX_CARRY_MS);
    expect(sent.map((s) => s.what)).toEqual([900, 'PAD', 'PAD']); // 100 never goes after 900
  });

  it('sends nothing once the link is over', async () => {
    const ctl = new AbortController();
    const { clock, echo, sent } = recorder(ctl.signal);
    echo.carry(progress(7));
    ctl.abort();
    await clock.advance(2 * MAX_CARRY_MS);
    echo.carry(progress(8));
    await clock.advance(2 * MAX_CARRY_MS);
    expect(sent).toEqual([]);
  });
});

/** Bytes of a frame on the wire inside its record (header and body). */
const frameBytes = (m: Message): number => encodeMessage(m).reduce((n, p) => n + p.length, 0);

describe('carryWithPad', () => {
  /** What `carryWithPad` posts, and in how many batches. */
  function carried(length: number, withBatch = true): { batches: Message[][]; loose: Message[] } {
    const batches: Message[][] = [];
    const loose: Message[] = [];
    let open: Message[] | undefined;
    carryWithPad(
      progress(123_456),
      length,
      (m) => (open ?? loose).push(m),
      withBatch
        ? (fn) => {
            open = [];
            fn();
            batches.push(open);
            open = undefined;
          }
        : undefined,
    );
    return { batches, loose };
  }
  const echoAlone = (length: number): number => frameBytes({ type: FrameType.PAD, length });

  it('puts the frame and a shorter PAD in one batch, as many bytes as the echo alone would have', () => {
    for (const length of [13, 14, 40, 597, 1400]) {
      const { batches, loose } = carried(length);
      expect(loose).toEqual([]);
      expect(batches).toHaveLength(1);
      const [frame, pad] = batches[0]!;
      expect(frame).toEqual(progress(123_456));
      expect(pad?.type).toBe(FrameType.PAD);
      expect(batches[0]!.reduce((n, m) => n + frameBytes(m), 0)).toBe(echoAlone(length));
      // a PAD with a body is tagged as an echo; an empty one is the smallest record
      const p = pad as Extract<Message, { type: typeof FrameType.PAD }>;
      expect(p.length).toBe(length - 13);
      expect(p.length === 0 ? p.head : p.head?.[0]).toBe(p.length === 0 ? undefined : ECHO_TAG);
    }
  });

  it('sends the frame alone when the echo drawn is smaller than the frame (it is a record, ACKed alike)', () => {
    for (const length of [0, 1, 12]) {
      const { batches } = carried(length);
      expect(batches).toEqual([[progress(123_456)]]);
    }
  });

  it('without a batch, posts the same frames one after the other', () => {
    expect(carried(100, false).loose).toEqual(carried(100).batches[0]);
  });
});
