/**
 * The key relay flows of the bench (src/bench/key-flows.ts): percentiles by hand, and a flow read from a real lab
 * capture (test/fixtures/key-flow) against tshark's conversation table (`tshark -q -z conv,tcp`) of the same file.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keyFlows, normalFlows, percentileOf } from '../../src/bench/key-flows.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cap = (f: string): string => join(ROOT, 'captures', f);

describe('percentileOf', () => {
  it('counts the values below, ties as half', () => {
    expect(percentileOf([1, 2, 3, 4], 0)).toBe(0);
    expect(percentileOf([1, 2, 3, 4], 2.5)).toBe(50);
    expect(percentileOf([1, 2, 3, 4], 3)).toBe(62.5); // 2 below, 1 tie: (2 + 0.5) / 4
    expect(percentileOf([1, 2, 3, 4], 9)).toBe(100);
    expect(percentileOf([], 1)).toBeNull();
  });
});

/** A key link of a lab run (its capture predates the key links' release). */
const KEY_LINK = {
  link: 'source → key relay 1',
  capture: join(ROOT, 'test', 'fixtures', 'key-flow', 'before-release.pcap'),
  filter: 'tcp and src host 10.77.0.9 and dst host 10.77.0.13',
  reverseFilter: 'tcp and src host 10.77.0.13 and dst host 10.77.0.9',
};

describe('keyFlows on real captures', () => {
  it('reads a key link of a lab run as tshark does, and places it among the netflix capture TCP flows', async () => {
    const normal = await normalFlows(cap('ndpi__netflix.pcap'));
    // tshark -r captures/ndpi__netflix.pcap -q -z conv,tcp: 47 conversations
    expect(normal.count).toBe(47);
    expect(normal.seconds).toEqual([...normal.seconds].sort((a, b) => a - b));
    const [k] = await keyFlows([KEY_LINK], normal);
    // tshark: 10.77.0.9:50868 <-> 10.77.0.13:7000, 15 + 20 frames, 1794 + 7103 bytes, 95.1965 s
    expect(k).toMatchObject({ link: 'source → key relay 1', connections: 1, packets: 35, bytes: 8897 });
    expect(k!.seconds).toBeCloseTo(95.1965, 3);
    // (this capture predates the key links' release: 95 s is longer than every flow of the netflix capture)
    expect(k!.durationPercentile).toBe(100);
    expect(k!.bytesPercentile).toBe(percentileOf(normal.bytes, 8897));
    expect(k!.bytesPercentile).toBeGreaterThan(0);
    expect(k!.bytesPercentile).toBeLessThan(50);
  });

  it('has no percentile against a capture without TCP flows (the OpenVPN capture is UDP)', async () => {
    const normal = await normalFlows(cap('ndpi__openvpn_nohmac.pcapng'));
    expect(normal.count).toBe(0);
    const [k] = await keyFlows([KEY_LINK], normal);
    expect(k).toMatchObject({ packets: 35, durationPercentile: null, bytesPercentile: null });
  });
});
