/**
 * AckEcho.carry (src/roles/echo.ts): a receiver's PROGRESS rides on its next echo, so that the sender's kernel
 * ACKs it where the sender's plan has an ACK anyway, not alone in a lull of the data direction. Fake clock.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import type { Message } from '../../src/protocol/index.js';
import { FrameType } from '../../src/protocol/index.js';
import { AckEcho, ECHO_LEAD_MS, MAX_CARRY_MS } from '../../src/roles/echo.js';

/** An echo on a fake clock that records what it sends and when: 'PAD' for its pokes, the offset for PROGRESS. */
function recorder(signal: AbortSignal = new AbortController().signal): {
  clock: FakeClock;
  echo: AckEcho;
  sent: { at: number; what: string | number }[];
} {
  const clock = new FakeClock({ start: 0 });
  const sent: { at: number; what: string | number }[] = [];
  const echo = new AckEcho(
    clock,
    () => sent.push({ at: clock.now(), what: 'PAD' }),
    signal,
    (m: Message) => sent.push({ at: clock.now(), what: m.type === FrameType.PROGRESS ? m.offset : -1 }),
  );
  return { clock, echo, sent };
}

const progress = (offset: number): Message => ({ type: FrameType.PROGRESS, offset });

describe('AckEcho.carry', () => {
  it('sends the latest PROGRESS just before the next echo, not when it is handed over', async () => {
    const { clock, echo, sent } = recorder();
    echo.carry(progress(1000));
    echo.carry(progress(5000)); // cumulative: the later one replaces the earlier
    await clock.advance(3000);
    expect(sent).toEqual([]); // a lull: nothing goes out
    echo.onHint([2000]); // the sender's plan has an ACK 2 ms after its write
    await clock.advance(10);
    expect(sent.map((s) => s.what)).toEqual([5000, 'PAD', 'PAD']);
    expect(sent[0]!.at).toBeCloseTo(3002 - ECHO_LEAD_MS, 9); // with the first PAD of the echo
    expect(sent[1]!.at).toBe(sent[0]!.at);
    await clock.advance(MAX_CARRY_MS);
    expect(sent).toHaveLength(3); // sent once, not again at the deadline
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
