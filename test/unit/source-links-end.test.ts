/**
 * A shaped source link past its END (source-links.ts `pumpShaped`): END goes out once every byte is acknowledged,
 * and a link may still hold data then — chunks it took again after another link was lost, which the leader had
 * received before that link went. On the lab's 5-relay WhatsApp layout it sent them after its END, its relay
 * answered "DATA after END" and the session failed. Now such data is dropped: the write that held it goes as a PAD of
 * the same size, and later writes are cover.
 * Oracle: the frames the link hands its connection, in order, with END posted by the test as postEnds does.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import { createPlan } from '../../src/pacing/plan.js';
import type { ShapedPacer } from '../../src/pacing/shape.js';
import { createPacer } from '../../src/pacing/strategies.js';
import { learnProfile } from '../../src/profile/learn.js';
import { FRAME_HEADER_LENGTH, FrameType } from '../../src/protocol/index.js';
import type { Link } from '../../src/roles/link.js';
import { DATA_FRAME_OVERHEAD } from '../../src/roles/pace.js';
import type { DataLink } from '../../src/roles/source-links.js';
import { pumpShaped } from '../../src/roles/source-links.js';
import { Signal } from '../../src/roles/util.js';
import { SendWindow } from '../../src/roles/window.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });

type Sent = { kind: 'data' | 'pad' | 'end'; bytes: number; write: number };

/** A link whose connection records its frames (frame bytes, and which write they went in). */
function recordingLink(sent: Sent[]): { link: Link; writes: () => number } {
  let write = 0;
  const conn = {
    batch: (fn: () => Promise<void>): Promise<void> => {
      write++;
      return fn();
    },
    send: (type: FrameType, parts: Uint8Array[]): Promise<void> => {
      expect(type).toBe(FrameType.DATA);
      // parts: the 8-byte offset, then the data
      sent.push({ kind: 'data', bytes: FRAME_HEADER_LENGTH + parts.reduce((a, p) => a + p.length, 0), write });
      return Promise.resolve();
    },
    sendMessage: (m: { type: FrameType; length: number }): Promise<void> => {
      expect(m.type).toBe(FrameType.PAD);
      sent.push({ kind: 'pad', bytes: FRAME_HEADER_LENGTH + m.length, write });
      return Promise.resolve();
    },
  };
  const link = { conn, post: () => sent.push({ kind: 'end', bytes: 0, write }), isClosed: false };
  return { link: link as unknown as Link, writes: () => write };
}

describe('a shaped source link whose END goes out while it still holds data', () => {
  it.each([
    ['while a write with data waits for its time', 'in-write'],
    ['between writes', 'between'],
  ])('%s: no DATA after END, the write keeps its size, cover after', async (_name, when) => {
    const clock = new FakeClock({ start: 0 });
    const plan = createPlan({ strategy: 'profile', profile, seed: 3 });
    const pacer = createPacer(plan, clock, 1) as ShapedPacer;
    const sent: Sent[] = [];
    const { link, writes } = recordingLink(sent);
    const d: DataLink = { index: 0, addr: 'relay', link, lost: false, pacer, opened: 0, bytes: 0, written: 0 };
    const window = new SendWindow(1 << 24);
    for (let i = 0; i < 16; i++) window.add([randomBytes(4096)]);
    // END as postEnds posts it: every byte acknowledged (what the link holds is data the leader has), then END
    const end = (): void => {
      window.ack(window.next);
      d.ending = true;
      d.link.post({ type: FrameType.END, length: window.next, sha256: null });
    };
    let over = false;
    let planned = 0; // frame bytes of the write that waits for its time when END goes out
    const take = pacer.take.bind(pacer);
    pacer.take = (n: number, signal?: AbortSignal): Promise<void> => {
      if (when === 'in-write' && !d.ending && d.bytes > 0 && writes() >= 3) {
        planned = n;
        end();
      }
      return take(n, signal);
    };
    const pump = pumpShaped(d, pacer, plan, {
      window,
      work: new Signal(),
      signal: new AbortController().signal,
      over: () => over,
      clock,
    });
    for (let i = 0; i < 20_000 && !d.ending; i++) {
      await clock.next();
      if (when === 'between' && d.bytes > 0 && writes() >= 3) end();
    }
    expect(d.ending).toBe(true);
    const atEnd = sent.findIndex((s) => s.kind === 'end');
    const endWrite = sent[atEnd]!.write;
    for (let i = 0; i < 20_000 && writes() < endWrite + 5; i++) await clock.next();
    over = true;
    for (let i = 0; i < 100 && clock.pending > 0; i++) await clock.next();
    await pump;
    const after = sent.slice(atEnd + 1);
    expect(sent.slice(0, atEnd).some((s) => s.kind === 'data')).toBe(true); // it carried data before
    expect(after.length).toBeGreaterThanOrEqual(5);
    expect(after.filter((s) => s.kind === 'data')).toEqual([]);
    if (when === 'in-write') {
      // the write that had taken its data before END went out is one PAD of the planned size
      const first = after.filter((s) => s.write === after[0]!.write);
      expect(first).toHaveLength(1);
      expect(first[0]!.bytes).toBe(planned);
    }
    // the link counts as carried only the data frames that went (each DATA_FRAME_OVERHEAD bytes of header)
    const data = sent.filter((s) => s.kind === 'data');
    expect(d.bytes).toBe(data.reduce((a, s) => a + s.bytes - DATA_FRAME_OVERHEAD, 0));
  });
});
