/**
 * The shipped real normal capture (the demo's and the bench's default) and the hold-out split of a capture into
 * two halves of blocks that both learn a profile on and test against: shared by `smig demo` and `smig bench`.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { deriveSeed } from '../util/rng.js';
import { PACKAGE_ROOT } from './proc.js';

/** The shipped normal capture the profile is learned from. */
export const DEMO_CAPTURE: string = join(PACKAGE_ROOT, 'captures', 'ndpi__netflix.pcap');
/** The data direction of the normal capture (the client's downloads). */
export const DEMO_DATA_FILTER = 'dst host 192.168.1.7';
/** Its reverse direction (the client's requests and ACKs). */
export const DEMO_REVERSE_FILTER = 'src host 192.168.1.7';

/**
 * Seed of the learn/hold-out split of `smig bench` and `smig demo` (`--split-seed`): which block of each pair of
 * consecutive blocks is learned is drawn from it. 0 learns the even blocks (the split until 2026-12-07).
 */
export const DEFAULT_SPLIT_SEED = 1;

/**
 * Which half block `k` of a split goes to (0: the first path): blocks come in pairs (2j, 2j + 1), one to each half;
 * with seed 0 the even block goes to the first half, else a coin drawn from the seed and the pair decides.
 * Alternate blocks alias with any rhythm of the traffic whose period is a multiple of two blocks (a heartbeat every
 * 10 s lands in the even 5 s blocks every time, and the halves then differ by it); a coin per pair puts such a rhythm
 * in both halves alike, and still gives each half one block of every pair.
 */
export function splitHalf(block: bigint, seed: number): 0 | 1 {
  const inPair = Number(block % 2n);
  if (seed === 0) return inPair as 0 | 1;
  const coin = deriveSeed(seed, Number(block / 2n)) >>> 31;
  return (inPair ^ coin) as 0 | 1;
}

/**
 * A warning when a split leaves one side thin: under 100 packets, or under a quarter of the other side's. The tests
 * against a hold-out that thin say little (a capture whose traffic sits in one or two blocks puts it all on one
 * side); undefined when the split is even enough.
 * @example splitWarning(499, 12, 5) // 'the split put 499 packets in the learned half and 12 in the hold-out: …'
 */
export function splitWarning(learned: number, heldOut: number, blockSeconds: number): string | undefined {
  if (Math.min(learned, heldOut) >= Math.max(100, Math.max(learned, heldOut) / 4)) return undefined;
  return (
    `the split put ${learned} packets in the learned half and ${heldOut} in the hold-out: the capture's traffic is in ` +
    `too few of its ${blockSeconds} s blocks for the tests to say much; learn from a longer capture, or split by ` +
    'shorter blocks (--split)'
  );
}

/**
 * Cuts a capture into blocks of `blockNs` and writes one block of each pair of consecutive blocks to `evenPath`, the
 * other to `oddPath` ({@link splitHalf}: with seed 0 the even and the odd blocks), each with the other part's time
 * removed (`smig bench`, `smig demo` and the pacing benchmarks use it). Both are untagged Ethernet captures, as the
 * lab's links are: packets of another link type (`tcpdump -i any`, raw IP) or with VLAN tags are re-framed, and those
 * without an IP header left out (capture/ethernet.ts). Without `oddPath`, every packet goes to `evenPath` at its own
 * time: the capture as Ethernet. Returns packet counts.
 */
export async function splitBlocks(
  capture: string,
  blockNs: bigint,
  evenPath: string,
  oddPath?: string,
  seed = 0,
): Promise<{ even: number; odd: number }> {
  const { readCapture, PcapWriter, createDecoded, decodePacket } = await import('../capture/index.js');
  const { asEthernetFrame, LINKTYPE_ETHERNET } = await import('../capture/ethernet.js');
  const d = createDecoded();
  const outs = (oddPath === undefined ? [evenPath] : [evenPath, oddPath]).map((p) => createWriteStream(p));
  let writers: InstanceType<typeof PcapWriter>[] | undefined;
  let t0: bigint | undefined;
  const counts = [0, 0];
  await readCapture(capture, (p) => {
    const frame = asEthernetFrame(p.linktype, p.data, p.origLen, decodePacket(p.linktype, p.data, d, p.origLen));
    if (frame === undefined) return;
    writers ??= outs.map((o) => new PcapWriter(o, { linktype: LINKTYPE_ETHERNET, nanosecond: true }));
    t0 ??= p.ts;
    const rel = p.ts > t0 ? p.ts - t0 : 0n; // a packet stamped before the first is put at the first's time
    const k = rel / blockNs;
    const part = oddPath === undefined ? 0 : splitHalf(k, seed);
    // in its half, the block of pair k / 2 starts at t0 + (k / 2) × blockNs
    const ts = oddPath === undefined ? p.ts : t0 + (k / 2n) * blockNs + (rel - k * blockNs);
    writers[part]!.writePacket(ts, frame.data, frame.origLen);
    counts[part]!++;
  });
  await Promise.all(outs.map((o) => new Promise<void>((resolve) => o.end(resolve))));
  return { even: counts[0]!, odd: counts[1]! };
}
