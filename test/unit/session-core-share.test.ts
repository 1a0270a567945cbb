/**
 * How a shaped source hands its chunks to its data links (source-links.ts `pumpShaped`): a link takes the next
 * chunk only when what it holds cannot fill its next write, so a session of a few chunks goes over every link. Until
 * 2026-12-07 a link took another chunk as soon as it held less than a TLS record (16 KiB), that is right after its
 * first write from a 16 KiB chunk: on the lab a 30 kB WhatsApp session went whole over one of its two links while
 * the other carried only cover, and took 4.84 × its bound.
 * Oracle: each source hop's own report (frame bytes that were not PAD) on the fake-clock cluster.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPlan, type PacingPlan } from '../../src/pacing/plan.js';
import { learnProfile } from '../../src/profile/learn.js';
import { FIXTURE_DIR } from '../helpers/captures.js';
import { Cluster } from '../helpers/session-core.js';

const { profile } = await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'), { filter: 'dst host 192.168.1.7' });
const CHUNK = 16 * 1024;

/** A plan of 1000 B/s on average (writes of a few hundred bytes, seconds apart). */
const slowPlan = (): PacingPlan => {
  const plan = createPlan({ strategy: 'profile', profile, seed: 5 });
  return { ...plan, profile: { ...plan.profile!, bytesPerSecond: 1000 } };
};

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

describe('a shaped session of two chunks over two data links', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'session %i: each link carries one of the chunks',
    async (id) => {
      c = await Cluster.start({ record: true });
      const data = randomBytes(2 * CHUNK - 2048); // the envelope's two chunks
      const r = await c.migrate(data, 'two.bin', {
        plan: slowPlan(),
        chunkSize: CHUNK,
        sessionId: new Uint8Array(16).fill(id),
      });
      expect(readFileSync(join(c.out, 'two.bin')).equals(data)).toBe(true);
      const carried = r.pacing.hops.map((h) => h.payloadBytes - (h.padBytes ?? 0));
      expect(carried).toHaveLength(2);
      for (const bytes of carried) expect(bytes).toBeGreaterThan(CHUNK / 2);
    },
    60_000,
  );
});
