/**
 * The reverse direction a profile learns (`shape.reverse`), the echo sizes a plan carries from it, and the echo
 * PADs a shaped link's receiver sends at those sizes. Oracles: tshark on the netflix capture (counts below), and
 * hand-built packets.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDecoded, decodePacket } from '../../src/capture/decode.js';
import { FakeClock } from '../../src/pacing/clock.js';
import { PLAN_MAX_ECHO_SIZES, planEchoSizes } from '../../src/pacing/echo-sizes.js';
import { createPlan, parsePlan, stringifyPlan } from '../../src/pacing/plan.js';
import { wireLimits } from '../../src/pacing/shape.js';
import { learnProfile } from '../../src/profile/learn.js';
import { parseProfile, stringifyProfile } from '../../src/profile/model.js';
import { MAX_PENDING_SIZES, ReverseSizes } from '../../src/profile/reverse.js';
import { FrameType } from '../../src/protocol/index.js';
import { ECHO_TAG, echoBodySizes, startAckEcho } from '../../src/roles/echo.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const NETFLIX = join(FIXTURE_DIR, 'ndpi__netflix.pcap');

/**
 * An Ethernet/IPv4/TCP packet from a.b.c.d:sport to e.f.g.h:dport, `size` bytes on the wire; a TCP header of
 * `header` bytes (options), the rest payload.
 */
function tcpPacket(src: number[], sport: number, dst: number[], dport: number, size = 66, header = 20): Uint8Array {
  const b = new Uint8Array(Math.max(size, 54));
  b[12] = 0x08;
  b[14] = 0x45;
  b[16] = (size - 14) >> 8;
  b[17] = (size - 14) & 0xff;
  b[23] = 6;
  b.set(src, 26);
  b.set(dst, 30);
  b[34] = sport >> 8;
  b[35] = sport & 0xff;
  b[36] = dport >> 8;
  b[37] = dport & 0xff;
  b[46] = (header / 4) << 4;
  b[47] = 0x10;
  return b;
}

describe('the reverse direction of a profile', () => {
  it('netflix: the client packets of the connections the server sends on, as tshark counts them', async () => {
    const { profile } = await learnProfile(NETFLIX, { filter: 'dst host 192.168.1.7' });
    const r = profile.shape!.reverse!;
    // tshark -Y 'tcp && ip.src==192.168.1.7 && tcp.stream != 0': 915 packets, 178482 bytes, 486 of 66 B, 271 above
    // 78 B (stream 0 has no packet towards the client, so no connection of the profiled direction)
    expect(r.counts.reduce((a, b) => a + b, 0)).toBe(915);
    expect(r.values.reduce((a, v, i) => a + v * r.counts[i]!, 0)).toBe(178_482);
    expect(r.counts[r.values.indexOf(66)]).toBe(486);
    expect(r.values.reduce((a, v, i) => a + (v > 78 ? r.counts[i]! : 0), 0)).toBe(271);
    expect(parseProfile(stringifyProfile(profile)).shape!.reverse).toEqual(r);
    // those with data: tshark's filter and 'tcp.len > 0': 191 packets, 127232 bytes; 94 ACKs of 86 and 94 B carry
    // SACK blocks and no data, so they are not among them
    const data = profile.shape!.reverseData!;
    expect(data.counts.reduce((a, b) => a + b, 0)).toBe(191);
    expect(data.values.reduce((a, v, i) => a + v * data.counts[i]!, 0)).toBe(127_232);
    expect(data.values).not.toContain(86);
    expect(r.counts[r.values.indexOf(86)]! + r.counts[r.values.indexOf(94)]!).toBeGreaterThanOrEqual(94);
    expect(parseProfile(stringifyProfile(profile)).shape!.reverseData).toEqual(data);
    // without a filter there is no other direction
    expect((await learnProfile(NETFLIX)).profile.shape!.reverse).toBeUndefined();
  });

  it('keeps the sizes of the packets with data apart: not a SYN, not an ACK with options, even before the connection was seen', () => {
    const d = createDecoded();
    const r = new ReverseSizes();
    const see = (p: Uint8Array): void => void decodePacket(1, p, d, p.length);
    const client = [10, 0, 0, 1];
    const server = [10, 0, 0, 2];
    see(tcpPacket(client, 4000, server, 443, 74, 40)); // a SYN with 20 bytes of options
    r.other(d, 74);
    see(tcpPacket(client, 4000, server, 443, 300, 32)); // a request
    r.other(d, 300);
    see(tcpPacket(server, 443, client, 4000, 1514, 32));
    r.forward(d);
    see(tcpPacket(client, 4000, server, 443, 94, 60)); // an ACK with three SACK blocks
    r.other(d, 94);
    see(tcpPacket(client, 4000, server, 443, 117, 32));
    r.other(d, 117);
    expect(r.histogram()).toEqual({ values: [74, 94, 117, 300], counts: [1, 1, 1, 1] });
    expect(r.dataHistogram()).toEqual({ values: [117, 300], counts: [1, 1] });
    expect(new ReverseSizes().dataHistogram()).toBeUndefined();
  });

  it('counts replies that came before the connection was seen (a SYN, a request), within bounds', () => {
    const d = createDecoded();
    const r = new ReverseSizes(2);
    const see = (p: Uint8Array): void => decodePacket(1, p, d, p.length);
    const client = [10, 0, 0, 1];
    const server = [10, 0, 0, 2];
    see(tcpPacket(client, 4000, server, 443, 74)); // SYN before any server packet
    r.other(d, 74);
    see(tcpPacket(client, 4000, server, 443, 300));
    r.other(d, 300);
    expect(r.packets).toBe(0);
    see(tcpPacket(server, 443, client, 4000, 1514));
    r.forward(d);
    expect(r.histogram()).toEqual({ values: [74, 300], counts: [1, 1] });
    see(tcpPacket(client, 4000, server, 443, 66));
    r.other(d, 66);
    // a packet of another connection the same way (other port) is not a reply
    see(tcpPacket(client, 4001, server, 443, 80));
    r.other(d, 80);
    see(tcpPacket(server, 443, client, 4002, 1514));
    r.forward(d);
    see(tcpPacket(server, 443, client, 4003, 1514));
    r.forward(d); // beyond the two connections remembered
    see(tcpPacket(client, 4003, server, 443, 90));
    r.other(d, 90);
    expect(r.histogram()).toEqual({ values: [66, 74, 300], counts: [1, 1, 1] });
    // a connection seen only one way keeps at most MAX_PENDING_SIZES of its sizes
    const s = new ReverseSizes();
    for (let i = 0; i < MAX_PENDING_SIZES + 10; i++) {
      see(tcpPacket(client, 5000, server, 443, 100));
      s.other(d, 100);
    }
    see(tcpPacket(server, 443, client, 5000, 1514));
    s.forward(d);
    expect(s.packets).toBe(MAX_PENDING_SIZES);
  });
});

describe('echo sizes', () => {
  it('a plan carries the reverse sizes above a pure ACK, at most PLAN_MAX_ECHO_SIZES of them', async () => {
    const { profile } = await learnProfile(NETFLIX, { filter: 'dst host 192.168.1.7' });
    const plan = createPlan({ strategy: 'profile', profile, seed: 1 });
    const e = plan.profile!.echoSizes!;
    expect(e.values.length).toBeLessThanOrEqual(PLAN_MAX_ECHO_SIZES);
    expect(Math.min(...e.values)).toBeGreaterThan(78); // 14 + 52 + 12: the headers with timestamps and slack
    expect(parsePlan(stringifyPlan(plan)).profile!.echoSizes).toEqual(e);
    // drawn from the packets with data: none of the SACK ACKs' 86 and 94 B, which an older profile (without
    // reverseData) still draws from
    expect(e.values.filter((v) => v === 86 || v === 94)).toEqual([]);
    const { reverseData: _, ...older } = profile.shape!;
    const old = createPlan({ strategy: 'profile', profile: { ...profile, shape: older }, seed: 1 }).profile!.echoSizes!;
    expect(old.values).toEqual(expect.arrayContaining([86, 94]));
    // without timestamps a pure ACK is at most 14 + 40 + 12 = 66 B
    expect(planEchoSizes({ values: [54, 60, 66, 67, 500], counts: [5, 5, 5, 1, 2] }, { link: 14, tcpip: 40 })).toEqual({
      values: [67, 500],
      counts: [1, 2],
    });
    expect(planEchoSizes({ values: [54, 66], counts: [1, 1] }, { link: 14, tcpip: 52 })).toBeUndefined();
    expect(planEchoSizes(undefined, { link: 14, tcpip: 52 })).toBeUndefined();
    // a bad plan is refused with the field named
    const bad = JSON.parse(stringifyPlan(plan)) as { profile: { echoSizes: { values: number[] } } };
    bad.profile.echoSizes.values[0] = 70_000;
    expect(() => parsePlan(JSON.stringify(bad))).toThrow(/profile\.echoSizes/);
  });

  it("a receiver draws its echoes' sizes by their counts, the same for the same seed", async () => {
    const { profile } = await learnProfile(NETFLIX, { filter: 'dst host 192.168.1.7' });
    const plan = createPlan({ strategy: 'profile', profile, seed: 1 });
    plan.profile!.echoSizes = { values: [100, 500, 1400], counts: [1, 2, 7] };
    const min = wireLimits(plan.overheads, plan.segment!).minRecord;
    const a = echoBodySizes(plan, 7);
    const draws = Array.from({ length: 20_000 }, () => a() + min);
    const share = (v: number): number => draws.filter((x) => x === v).length / draws.length;
    expect(share(100)).toBeCloseTo(0.1, 1);
    expect(share(500)).toBeCloseTo(0.2, 1);
    expect(share(1400)).toBeCloseTo(0.7, 1);
    const b = echoBodySizes(plan, 7);
    expect(Array.from({ length: 50 }, () => b() + min)).toEqual(draws.slice(0, 50));
  });

  it("a receiver's echo PADs have the drawn wire sizes, and the sender counts them", async () => {
    const { profile } = await learnProfile(NETFLIX, { filter: 'dst host 192.168.1.7' });
    const plan = createPlan({ strategy: 'profile', profile, seed: 1 });
    const lim = wireLimits(plan.overheads, plan.segment!);
    // the body lengths are the drawn sizes less the smallest record, within a full segment
    const body = echoBodySizes(plan, 3);
    const sizes = new Set(
      plan.profile!.echoSizes!.values.map((v) => Math.max(0, Math.min(v, lim.segment) - lim.minRecord)),
    );
    for (let i = 0; i < 200; i++) expect(sizes.has(body())).toBe(true);
    // without echo sizes (an older profile), the smallest record
    const { echoSizes: _e, ...rest } = plan.profile!;
    expect(echoBodySizes({ ...plan, profile: rest }, 3)()).toBe(0);

    const clock = new FakeClock({ start: 0 });
    const posted: { length: number; head?: Uint8Array }[] = [];
    const link = {
      post: (m: { type: number; length?: number; head?: Uint8Array }) =>
        posted.push({ length: m.length ?? -1, ...(m.head ? { head: m.head } : {}) }),
      isClosed: false,
      onInbound: undefined as ((t: number, b: Uint8Array) => void) | undefined,
    };
    startAckEcho(plan, link, 3, clock, new AbortController().signal);
    const hint = new Uint8Array(40);
    hint.set([0x61, 2, 0, 50, 0, 100]); // two ACKs, 0.5 and 1 ms after the write: two PADs each
    link.onInbound!(FrameType.PAD, hint);
    await clock.advance(5);
    const want = echoBodySizes(plan, 3);
    expect(posted.map((p) => p.length)).toEqual([want(), want(), want(), want()]);
    for (const p of posted) expect(p.length === 0 ? p.head : p.head?.[0]).toBe(p.length === 0 ? undefined : ECHO_TAG);
  });
});
