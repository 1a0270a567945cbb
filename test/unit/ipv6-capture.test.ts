/**
 * A capture rewritten over IPv6 (src/bench/ipv6-capture.ts), and a profile learned from it: frames checked byte by
 * byte by hand, the rewritten netflix capture checked against tshark's decoding and against the profile learned
 * from the original.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipv4FrameToIpv6, ipv6Of, writeIpv6Capture } from '../../src/bench/ipv6-capture.js';
import { captureLink } from '../../src/pacing/link.js';
import { learnProfile } from '../../src/profile/learn.js';
import { ROOT } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'smig-ipv6-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An Ethernet/IPv4/TCP frame with `payload` bytes of data (TCP header of `tcpHeader` bytes), plus `pad` bytes. */
function frame(payload: number, tcpHeader = 32, pad = 0): Uint8Array {
  const total = 20 + tcpHeader + payload;
  const f = new Uint8Array(14 + total + pad);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  f.set([0x45, 0, total >> 8, total & 255, 0, 0, 0x40, 0, 57, 6, 0, 0, 192, 168, 1, 7, 10, 0, 0, 1], 14);
  f[34] = 0x01; // source port 443 (0x01bb)
  f[35] = 0xbb;
  f[46] = (tcpHeader / 4) << 4;
  for (let i = 0; i < payload; i++) f[14 + 20 + tcpHeader + i] = i & 255;
  return f;
}

describe('ipv4FrameToIpv6', () => {
  it('rewrites the header by hand: version, payload length, next header, hop limit, mapped addresses, the segment', () => {
    const small = frame(100);
    const v6 = ipv4FrameToIpv6(1, small, small.length)!;
    expect(v6.origLen).toBe(small.length + 20);
    expect(v6.data.length).toBe(v6.origLen);
    const d = v6.data;
    expect([d[12], d[13], d[14] >> 4]).toEqual([0x86, 0xdd, 6]);
    expect((d[18]! << 8) | d[19]!).toBe(32 + 100); // payload length: TCP header + data
    expect([d[20], d[21]]).toEqual([6, 57]); // next header TCP, hop limit = TTL
    expect([...d.subarray(22, 38)]).toEqual([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 192, 168, 1, 7]);
    expect([...d.subarray(50, 54)]).toEqual([10, 0, 0, 1]);
    expect([...d.subarray(54)]).toEqual([...small.subarray(34)]); // the TCP segment unchanged
    expect(ipv6Of('192.168.1.7')).toBe('2001:db8::c0a8:107');
  });

  it('keeps a full 1514 B frame full (20 B less data), drops Ethernet padding, passes anything else through', () => {
    const full = frame(1448);
    expect(full.length).toBe(1514);
    const v6 = ipv4FrameToIpv6(1, full, 1514)!;
    expect(v6.origLen).toBe(1514);
    expect((v6.data[18]! << 8) | v6.data[19]!).toBe(1500 - 40);
    // a pure ACK without options (54 B) padded to 60 B on the wire: 74 B over IPv6, no padding
    const ack = frame(0, 20, 6);
    expect(ipv4FrameToIpv6(1, ack, 60)!.origLen).toBe(74);
    // a frame the capture cut at 64 bytes keeps its wire length and the captured part
    const cut = ipv4FrameToIpv6(1, small64(), 600)!;
    expect(cut.origLen).toBe(620);
    expect(cut.data.length).toBe(64 - 34 + 54);
    // beyond Ethernet (receive offload): 20 B more like any other
    expect(ipv4FrameToIpv6(1, frame(3000), 3066)!.origLen).toBe(3086);
    const arp = frame(0);
    arp[13] = 0x06;
    expect(ipv4FrameToIpv6(1, arp, arp.length)).toBeUndefined();
    expect(ipv4FrameToIpv6(113, full, 1514)).toBeUndefined(); // Linux cooked capture: not rewritten
  });
});

function small64(): Uint8Array {
  const f = frame(600 - 66);
  return f.subarray(0, 64);
}

describe('netflix over IPv6', () => {
  const v4 = join(ROOT, 'captures', 'ndpi__netflix.pcap');
  const v6 = join(tmp, 'netflix-ipv6.pcap');

  it('tshark decodes every rewritten packet as IPv6, with the TCP it had over IPv4', async () => {
    const n = await writeIpv6Capture(v4, v6);
    expect(n.packets).toBe(n.rewritten);
    const fields = (file: string, filter: string): string[] => {
      const r = spawnSync(
        'tshark',
        ['-r', file, '-Y', filter, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.seq_raw'],
        {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        },
      );
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split('\n');
    };
    const tcp4 = fields(v4, 'ip && tcp');
    expect(tcp4.length).toBeGreaterThan(1500);
    expect(fields(v6, 'ipv6 && tcp')).toEqual(tcp4);
    expect(fields(v6, 'ip')).toEqual(['']);
  });

  it('a profile learned from it says IPv6, has the same gaps and packets 20 B larger, full ones as they were', async () => {
    const a = (await learnProfile(v4, { filter: 'tcp and dst host 192.168.1.7' })).profile.shape!;
    const b = (await learnProfile(v6, { filter: `tcp and dst host ${ipv6Of('192.168.1.7')}` })).profile.shape!;
    expect(a.ipVersion).toBeUndefined();
    expect(b.ipVersion).toBe(6);
    expect(b.trace.gapsUs).toEqual(a.trace.gapsUs);
    expect(b.trace.sizes).toEqual(a.trace.sizes.map((s) => (s + 20 > 1514 && s <= 1514 ? 1514 : s + 20)));
    // the link: IPv6 with timestamps (86 B ACKs), full 1514 B frames
    expect(captureLink(b.trace.sizes, b.ipVersion ?? 4)).toEqual({
      segment: 1514,
      mtu: 1500,
      tcpip: 72,
      tcpTimestamps: true,
      ipVersion: 6,
    });
    // the reverse direction's packets are found over IPv6 too
    expect(b.reverse!.counts.reduce((x, y) => x + y, 0)).toBe(a.reverse!.counts.reduce((x, y) => x + y, 0));
  });
});
