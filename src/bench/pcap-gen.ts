/**
 * Synthetic classic pcap files for the analyzer benchmark: Ethernet/IPv4, 64 TCP/UDP flows, Poisson arrivals at
 * 2000 packets/s, mixed sizes, from a seeded generator (the same file for the same options). Streams in 4 MiB
 * batches: memory stays flat whatever the size.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/** Options of {@link writeSyntheticPcap}. */
export interface SyntheticPcapOptions {
  packets: number;
  /** Mean size of the larger packets (a third of the packets are 60–560 bytes or 66). Default 1000. */
  meanBytes?: number;
  seed?: number;
  /** Cut every record to this many bytes (a header-only capture, as `tcpdump -s 64` makes). Default 262144. */
  snaplen?: number;
  /** Every flow UDP (default: one flow in eight). */
  udpOnly?: boolean;
}

/** Writes the capture to `path`. */
export async function writeSyntheticPcap(path: string, o: SyntheticPcapOptions): Promise<void> {
  const meanBytes = o.meanBytes ?? 1000;
  const snaplen = o.snaplen ?? 262_144;
  let s = (o.seed ?? 1) >>> 0 || 1;
  const rand = (): number => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
  const ws = createWriteStream(path, { highWaterMark: 4 << 20 });
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(snaplen, 16);
  hdr.writeUInt32LE(1, 20);
  ws.write(hdr);
  const payload = Buffer.alloc(9000, 0xab);
  let tUs = 1_700_000_000_000_000; // µs
  const rate = 2000; // packets per second on average
  const batch: Buffer[] = [];
  const seq = new Array<number>(64).fill(1);
  let batchBytes = 0;
  for (let i = 0; i < o.packets; i++) {
    tUs += Math.max(1, Math.round(-Math.log(1 - rand()) * (1e6 / rate)));
    const flow = (rand() * 64) | 0;
    const udp = o.udpOnly === true || flow % 8 === 0;
    const r = rand();
    const len =
      r < 0.4
        ? 66
        : r < 0.5
          ? 60 + ((rand() * 500) | 0)
          : Math.min(1514, Math.max(60, Math.round(meanBytes * 1.5 * rand() + 200)));
    const cap = Math.min(len, snaplen);
    const rec = Buffer.allocUnsafe(16 + len);
    rec.writeUInt32LE(Math.floor(tUs / 1e6), 0);
    rec.writeUInt32LE(tUs % 1e6, 4);
    rec.writeUInt32LE(cap, 8);
    rec.writeUInt32LE(len, 12);
    const p = rec.subarray(16);
    payload.copy(p, 0, 0, len);
    p.fill(0x02, 0, 6);
    p.fill(0x04, 6, 12);
    p.writeUInt16BE(0x0800, 12);
    p[14] = 0x45;
    p[15] = 0;
    p.writeUInt16BE(len - 14, 16);
    p.writeUInt32BE(0, 18);
    p[22] = 64;
    p[23] = udp ? 17 : 6;
    p.writeUInt16BE(0, 24);
    p.writeUInt32BE(0x0a000001 + (flow & 7), 26);
    p.writeUInt32BE(0x0a000100 + (flow >> 3), 30);
    p.writeUInt16BE(40000 + flow, 34);
    p.writeUInt16BE(udp ? 53 : 443, 36);
    if (udp) {
      p.writeUInt16BE(len - 34, 38);
      p.writeUInt16BE(0, 40);
    } else {
      // a well-formed TCP stream per flow (seq advancing by the payload) so tshark's analysis stays linear
      p.writeUInt32BE(seq[flow]! >>> 0, 38);
      p.writeUInt32BE(1, 42);
      p[46] = 0x50;
      p[47] = 0x18;
      p.writeUInt16BE(65535, 48);
      p.writeUInt32BE(0, 50);
      seq[flow]! += len - 54;
    }
    batch.push(rec.subarray(0, 16 + cap));
    batchBytes += 16 + cap;
    if (batchBytes > 4 << 20) {
      if (!ws.write(Buffer.concat(batch))) await once(ws, 'drain');
      batch.length = 0;
      batchBytes = 0;
    }
  }
  ws.end(Buffer.concat(batch));
  await once(ws, 'finish');
}
