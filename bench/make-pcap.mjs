#!/usr/bin/env node
// Writes a synthetic classic pcap (Ethernet/IPv4/TCP+UDP, 64 flows, Poisson arrivals, mixed sizes) for benchmarks:
// a thin caller of writeSyntheticPcap (src/bench/pcap-gen.ts, exported as smig/bench).
// Usage: node bench/make-pcap.mjs OUT.pcap PACKETS [MEAN_BYTES] [SEED] [SNAPLEN] [udp]
// SNAPLEN cuts every record to that many bytes (a header-only capture); `udp` makes every flow UDP.
import { writeSyntheticPcap } from 'smig/bench';

const [out, packets, meanBytes = '1000', seed = '1', snaplen = '262144', proto = 'mixed'] = process.argv.slice(2);
if (!out || !packets) {
  console.error('usage: node bench/make-pcap.mjs OUT.pcap PACKETS [MEAN_BYTES] [SEED] [SNAPLEN] [udp]');
  process.exit(2);
}
await writeSyntheticPcap(out, {
  packets: Number(packets),
  meanBytes: Number(meanBytes),
  seed: Number(seed),
  snaplen: Number(snaplen),
  udpOnly: proto === 'udp',
});
