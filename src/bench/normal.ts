/**
 * The shipped real normal capture (the demo's and the bench's default) and the hold-out split of a capture into
 * even and odd blocks that both learn a profile on and test against: shared by `smig demo` and `smig bench`.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './proc.js';

/** The shipped normal capture the profile is learned from. */
export const DEMO_CAPTURE: string = join(PACKAGE_ROOT, 'captures', 'ndpi__netflix.pcap');
/** The data direction of the normal capture (the client's downloads). */
export const DEMO_DATA_FILTER = 'dst host 192.168.1.7';
/** Its reverse direction (the client's requests and ACKs). */
export const DEMO_REVERSE_FILTER = 'src host 192.168.1.7';

/**
 * Cuts a capture into blocks of `blockNs` and writes the even blocks to `evenPath`, the odd ones to `oddPath`,
 * each with the other part's time removed (`smig bench`, `smig demo` and the pacing benchmarks use it). Both are
 * untagged Ethernet captures, as the lab's links are: packets of another link type (`tcpdump -i any`, raw IP) or with
 * VLAN tags are re-framed, and those without an IP header left out (capture/ethernet.ts). Without `oddPath`, every
 * packet goes to `evenPath` at its own time: the capture as Ethernet. Returns packet counts.
 */
export async function splitBlocks(
  capture: string,
  blockNs: bigint,
  evenPath: string,
  oddPath?: string,
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
    const rel = p.ts - t0;
    const k = rel / blockNs;
    const part = oddPath === undefined ? 0 : Number(k % 2n);
    const ts = oddPath === undefined ? p.ts : t0 + (k / 2n) * blockNs + (rel - k * blockNs);
    writers[part]!.writePacket(ts, frame.data, frame.origLen);
    counts[part]!++;
  });
  await Promise.all(outs.map((o) => new Promise<void>((resolve) => o.end(resolve))));
  return { even: counts[0]!, odd: counts[1]! };
}
