/**
 * Shaped source links that share the window (source-links.ts `pumpShaped`): a link takes whole chunks for its write
 * and holds the rest; when its next write is far off (a silence of its trace) it gives the rest back
 * (`SendWindow.giveBack`), and a link that writes sooner carries it. On the lab, a 30 kB WhatsApp session's first
 * chunk (the envelope's prefix, which the leader needs before anything else) waited 35 s on a silent link.
 * Oracle: the DATA frames each link hands its connection (offset and length), on the fake clock; link 0's pacer is
 * held silent for 30 s after its first write, which the test knows.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/pacing/clock.js';
import { GIVE_BACK_MS } from '../../src/pacing/cut-sizes.js';
import { createPlan } from '../../src/pacing/plan.js';
import type { ShapedPacer } from '../../src/pacing/shape.js';
import { createPacer } from '../../src/pacing/strategies.js';
import { learnProfile } from '../../src/profile/learn.js';
import { FrameType } from '../../src/protocol/index.js';
import type { Link } from '../../src/roles/link.js';
import type { DataLink } from '../../src/roles/source-links.js';
import { pumpShaped } from '../../src/roles/source-links.js';
import { Signal } from '../../src/roles/util.js';
import { SendWindow } from '../../src/roles/window.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });

type Frame = { link: number; offset: number; length: number; at: number };

/** A link whose connection records the DATA frames it is handed. */
function recordingLink(index: number, frames: Frame[], clock: FakeClock): Link {
  const conn = {
    batch: (fn: () => Promise<void>): Promise<void> => fn(),
    send: (type: FrameType, parts: Uint8Array[]): Promise<void> => {
      expect(type).toBe(FrameType.DATA);
      const v = new DataView(parts[0]!.buffer, parts[0]!.byteOffset, 8);
      const offset = v.getUint32(0) * 0x1_0000_0000 + v.getUint32(4);
      frames.push({ link: index, offset, length: parts.slice(1).reduce((a, p) => a + p.length, 0), at: clock.now() });
      return Promise.resolve();
    },
    sendMessage: (): Promise<void> => Promise.resolve(),
  };
  return { conn, post: () => {}, isClosed: false } as unknown as Link;
}

describe('shaped source links sharing the window', () => {
  it('a link silent for 30 s after its first write gives back the rest of its chunk; the other link carries it', async () => {
    const clock = new FakeClock({ start: 0 });
    const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
    const frames: Frame[] = [];
    const window = new SendWindow(1 << 24);
    const chunks = 6;
    for (let i = 0; i < chunks; i++) window.add([randomBytes(4096)]);
    const work = new Signal();
    const stop = new AbortController();
    let silentUntil: number | undefined;
    const links: DataLink[] = [0, 1].map((index) => {
      const pacer = createPacer(plan, clock, 10 + index) as ShapedPacer;
      if (index === 0) {
        // after its first write with data (it took chunk 0 for it), link 0's schedule has a 30 s silence
        const take = pacer.take.bind(pacer);
        pacer.take = async (n: number, signal?: AbortSignal): Promise<void> => {
          await take(n, signal);
          if (silentUntil === undefined && window.queued < chunks) silentUntil = clock.now() + 30_000;
        };
        const dueIn = pacer.dueIn.bind(pacer);
        pacer.dueIn = (): number => Math.max(dueIn(), (silentUntil ?? 0) - clock.now());
        const ready = pacer.ready.bind(pacer);
        pacer.ready = async (signal?: AbortSignal): Promise<void> => {
          const wait = (silentUntil ?? 0) - clock.now();
          if (wait > 0) await clock.sleep(wait, signal);
          return ready(signal);
        };
      }
      return {
        index,
        addr: `relay${index}`,
        link: recordingLink(index, frames, clock),
        lost: false,
        pacer,
        opened: 0,
        bytes: 0,
        written: 0,
      };
    });
    const source = { window, work, signal: stop.signal, over: () => stop.signal.aborted, clock };
    const pump = (d: DataLink): Promise<void> => pumpShaped(d, d.pacer as ShapedPacer, plan, source);
    // link 0 starts first, so it takes the first chunk
    const pumps = [pump(links[0]!)];
    // the next sleeper once every pump has gone to sleep (a pump just started has not yet)
    const step = async (): Promise<void> => {
      await new Promise((r) => setImmediate(r));
      await clock.next();
    };
    for (let i = 0; i < 100 && frames.length === 0; i++) await new Promise((r) => setImmediate(r)); // at time 0
    expect(frames).toHaveLength(1);
    pumps.push(pump(links[1]!));
    const total = chunks * 4096;
    const sent = (): number => frames.reduce((a, f) => a + f.length, 0);
    for (let i = 0; i < 200_000 && sent() < total; i++) await step();
    stop.abort();
    await Promise.allSettled(pumps);
    expect(silentUntil).toBeDefined();
    expect(silentUntil).toBeGreaterThan(GIVE_BACK_MS); // a silence the link gives back for
    const first = frames.filter((f) => f.link === 0);
    expect(first[0]!.offset).toBe(0); // link 0 took chunk 0 and sent its head
    expect(first[0]!.length).toBeLessThan(4096);
    // every byte went once, in frames that tile the envelope
    const sorted = [...frames].sort((a, b) => a.offset - b.offset);
    let at = 0;
    for (const f of sorted) {
      expect(f.offset).toBe(at);
      at += f.length;
    }
    expect(at).toBe(total);
    // the rest of chunk 0 went over link 1, long before link 0's silence ended
    const rest = frames.filter((f) => f.offset > 0 && f.offset < 4096);
    expect(rest.length).toBeGreaterThan(0);
    for (const f of rest) {
      expect(f.link).toBe(1);
      expect(f.at).toBeLessThan(silentUntil!);
    }
    // and link 0 wrote nothing during its silence, so all of it went before the silence ended
    expect(frames.filter((f) => f.link === 0 && f.at < silentUntil!)).toHaveLength(
      first.filter((f) => f.at < silentUntil!).length,
    );
  });
});
