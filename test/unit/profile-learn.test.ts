/**
 * `learnProfile` on the two realistic captures, checked against independent computations: tshark's per-second
 * oracle (series, totals, timestamps), pcap-parser's packets (sizes, gaps, bursts, worked out here), the
 * MANIFEST's SHA-256, and `smig analyze --json` for filtered series.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pcapp from 'pcap-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureLink, shapeLink } from '../../src/pacing/link.js';
import { autoLevels, buildChain, filterDirection, learnProfile } from '../../src/profile/learn.js';
import type { Profile } from '../../src/profile/model.js';
import { levelOf, parseProfile, stringifyProfile, validateProfile } from '../../src/profile/model.js';
import { FIXTURE_DIR, payload, pcapFile } from '../helpers/captures.js';
import { ROOT, runCli } from '../helpers/cli.js';

const TLS = 'suricata__tls-subjectaltname.pcap';
const NETFLIX = 'ndpi__netflix.pcap';

interface Oracle {
  sha256: string;
  size: number;
  packets: number;
  bytes: { orig_len_sum: number };
  ts_min: string;
  duration_s: number;
  per_second_rel: { t: number; packets: number; bytes: number }[];
  size_stats: { min: number; max: number; mean: number };
  iat_stats: { n: number; min: number; max: number };
}
const oracle = (f: string): Oracle =>
  JSON.parse(readFileSync(join(FIXTURE_DIR, 'oracle', `${f}.json`), 'utf8')) as Oracle;

/** Packets as pcap-parser reads them: [timestamp ns, original length]. */
function independentPackets(file: string): Promise<[bigint, number][]> {
  return new Promise((resolve, reject) => {
    const out: [bigint, number][] = [];
    const p = pcapp.parse(FIXTURE_DIR + file);
    p.on(
      'packet',
      (pk: { header: { originalLength: number; timestampSeconds: number; timestampMicroseconds: number } }) =>
        out.push([
          BigInt(pk.header.timestampSeconds) * 1_000_000_000n + BigInt(pk.header.timestampMicroseconds) * 1000n,
          pk.header.originalLength,
        ]),
    );
    p.on('end', () => resolve(out));
    p.on('error', reject);
  });
}

/** numpy.quantile(v, q) with the default 'linear' method, written out. */
function npQuantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (h - lo);
}

/** Dense series from the oracle's sparse rows t ∈ [from, to), shifted to start at 0, up to the last non-empty. */
function oracleSeries(o: Oracle, from = 0, to = Infinity): { packets: number[]; bytes: number[] } {
  const rows = o.per_second_rel.filter((r) => r.t >= from && r.t < to);
  const n = rows[rows.length - 1]!.t - from + 1;
  const packets = new Array<number>(n).fill(0);
  const bytes = new Array<number>(n).fill(0);
  for (const r of rows) {
    packets[r.t - from] = r.packets;
    bytes[r.t - from] = r.bytes;
  }
  return { packets, bytes };
}

/** Solves π P = π, Σ π = 1 by Gaussian elimination (independent of the library). */
function stationary(P: number[][]): number[] {
  const k = P.length;
  // rows: (Pᵀ − I) with the last equation replaced by Σ π = 1
  const A = Array.from({ length: k }, (_, i) => [
    ...Array.from({ length: k }, (_, j) => P[j]![i]! - (i === j ? 1 : 0)),
    0,
  ]);
  A[k - 1] = [...new Array<number>(k).fill(1), 1];
  for (let c = 0; c < k; c++) {
    let piv = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[piv]![c]!)) piv = r;
    [A[c], A[piv]] = [A[piv]!, A[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / A[c]![c]!;
      for (let j = c; j <= k; j++) A[r]![j]! -= f * A[c]![j]!;
    }
  }
  return A.map((row, i) => row[k]! / row[i]!);
}

const learned = new Map<string, Profile>();
beforeAll(async () => {
  for (const f of [TLS, NETFLIX]) learned.set(f, (await learnProfile(join(FIXTURE_DIR, f))).profile);
});

describe('learnProfile on the realistic captures', () => {
  for (const f of [TLS, NETFLIX]) {
    it(`${f}: series, totals, timestamps and hash equal tshark's oracle and the MANIFEST`, () => {
      const p = learned.get(f)!;
      const o = oracle(f);
      expect(p.series).toEqual(oracleSeries(o));
      expect(p.bins).toBe(o.per_second_rel[o.per_second_rel.length - 1]!.t + 1);
      expect(p.packets).toBe(o.packets);
      expect(p.bytes).toBe(o.bytes.orig_len_sum);
      expect(p.provenance).toMatchObject({
        capture: f,
        sha256: o.sha256,
        captureBytes: o.size,
        filter: null,
        direction: 'both',
        from: '0',
        to: null,
        start: `${o.ts_min.split('.')[0]}.${o.ts_min.split('.')[1]!.padEnd(9, '0')}`,
      });
      expect(p.provenance.span).toBeCloseTo(o.duration_s, 9);
      expect(p.binNs).toBe('1000000000');
      expect(p.duration).toBe(p.bins);
      expect(p.rates.bytesPerSecond).toBe(o.bytes.orig_len_sum / p.bins);
      expect(p.rates.packetsPerSecond).toBe(o.packets / p.bins);
      expect(p.iat.n).toBe(o.iat_stats.n);
      expect(p.iat.quantiles[0]).toEqual([0, o.iat_stats.min]);
      expect(p.iat.quantiles[p.iat.quantiles.length - 1]).toEqual([1, o.iat_stats.max]);
      const sizeSum = p.sizes.values.reduce((s, v, i) => s + v * p.sizes.counts[i]!, 0);
      expect([p.sizes.values[0], p.sizes.values[p.sizes.values.length - 1], sizeSum / p.packets]).toEqual([
        o.size_stats.min,
        o.size_stats.max,
        o.size_stats.mean,
      ]);
    });

    it(`${f}: sizes, gap quantiles and bursts equal a computation from pcap-parser's packets`, async () => {
      const p = learned.get(f)!;
      const pk = await independentPackets(f);
      const sizes = new Map<number, number>();
      for (const [, len] of pk) sizes.set(len, (sizes.get(len) ?? 0) + 1);
      const sk = [...sizes.keys()].sort((a, b) => a - b);
      expect(p.sizes).toEqual({ values: sk, counts: sk.map((k) => sizes.get(k)) });
      const gaps = pk
        .slice(1)
        .map(([t], i) => Number(t - pk[i]![0]) / 1e9)
        .sort((a, b) => a - b);
      for (const [q, v] of p.iat.quantiles) expect(v, `q=${q}`).toBeCloseTo(npQuantile(gaps, q), 12);
      expect(p.iat.histogram.counts.reduce((a, b) => a + b, 0)).toBe(gaps.length);
      // bursts: runs of packets less than 1 ms apart
      const runs: number[] = [];
      let run = 0;
      pk.forEach(([t], i) => {
        if (i > 0 && t - pk[i - 1]![0] < 1_000_000n) run++;
        else {
          if (run > 0) runs.push(run);
          run = 1;
        }
      });
      runs.push(run);
      const hist = new Map<number, number>();
      for (const r of runs) hist.set(r, (hist.get(r) ?? 0) + 1);
      const hk = [...hist.keys()].sort((a, b) => a - b);
      expect(p.bursts.count).toBe(runs.length);
      expect(p.bursts.packets).toEqual({ values: hk, counts: hk.map((k) => hist.get(k)) });
    });

    it(`${f}: the chain's levels, transitions and stationary distribution`, () => {
      const p = learned.get(f)!;
      const { chain } = p;
      const k = chain.levels.length;
      expect(k).toBeGreaterThanOrEqual(2);
      expect(k).toBeLessThanOrEqual(autoLevels(p.bins));
      const seq = p.series.bytes.map((b) => levelOf(chain.edges, b));
      // transitions counted independently (circular: the last bin is followed by the first)
      const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      seq.forEach((l, i) => counts[l]![seq[(i + 1) % seq.length]!]!++);
      expect(chain.transitions).toEqual(counts);
      // the stationary distribution of the probabilities equals the level frequencies
      const pi = stationary(chain.probabilities);
      chain.levels.forEach((l, i) => {
        expect(l.bins).toBe(seq.filter((s) => s === i).length);
        expect(pi[i]).toBeCloseTo(l.bins / p.bins, 9);
      });
      // each level's pairs are exactly the (bytes, packets) of its bins
      chain.levels.forEach((l, i) => {
        const mine = p.series.bytes.map((b, j) => [b, p.series.packets[j]!] as const).filter((_, j) => seq[j] === i);
        const expanded = l.pairs.flatMap(([b, n, c]) => new Array(c).fill([b, n]));
        expect(expanded).toEqual(mine.map((x) => [...x]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!));
      });
    });
  }

  it('a window (--from 10s --to 60s) is the oracle rows 10 … 59, bin 0 ten seconds after the earliest packet', async () => {
    const o = oracle(TLS);
    const { profile: p } = await learnProfile(join(FIXTURE_DIR, TLS), {
      fromNs: 10_000_000_000n,
      toNs: 60_000_000_000n,
    });
    const want = oracleSeries(o, 10, 60);
    expect(p.series).toEqual(want);
    expect(p.packets).toBe(want.packets.reduce((a, b) => a + b, 0));
    expect(p.provenance).toMatchObject({ from: '10000000000', to: '60000000000' });
    const [s, frac] = o.ts_min.split('.');
    expect(p.provenance.start).toBe(`${BigInt(s!) + 10n}.${frac!.padEnd(9, '0')}`);
    validateProfile(JSON.parse(stringifyProfile(p)));
  });

  it('a filter: the series equals smig analyze --json with the same filter; 100 ms bins too', async () => {
    for (const [filter, bin] of [
      ['tcp', '1s'],
      ['udp or port 443', '100ms'],
    ] as const) {
      const { profile: p } = await learnProfile(join(FIXTURE_DIR, TLS), {
        filter,
        binNs: bin === '1s' ? 1_000_000_000n : 100_000_000n,
      });
      const r = await runCli([
        'analyze',
        '--json',
        '--no-progress',
        '--bin',
        bin,
        '--filter',
        filter,
        join(FIXTURE_DIR, TLS),
      ]);
      expect(r.status, r.stderr).toBe(0);
      const c = JSON.parse(r.stdout).captures[0];
      const rows: [number, number, number][] = [];
      p.series.packets.forEach((n, i) => n > 0 && rows.push([i, n, p.series.bytes[i]!]));
      expect(rows).toEqual(c.series.rows);
      expect(p.bins).toBe(c.series.bins);
      expect(p.provenance.start).toBe(c.series.t0);
      expect([p.packets, p.bytes, p.provenance.filter, p.provenance.direction]).toEqual([
        c.packets,
        c.bytes,
        filter,
        'both',
      ]);
    }
  });

  it('anchors at the earliest packet of a capture out of time order (read twice)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smig-learn-'));
    try {
      const file = join(dir, 'unordered.pcap');
      // file order: t = 105 s (100 B), 101 s (200 B), 103.5 s (300 B)
      writeFileSync(
        file,
        pcapFile({
          records: [
            { sec: 105, frac: 0, data: payload(100) },
            { sec: 101, frac: 0, data: payload(200) },
            { sec: 103, frac: 500_000, data: payload(300) },
          ],
        }),
      );
      const { profile: p } = await learnProfile(file);
      expect(p.series).toEqual({ bytes: [200, 0, 300, 0, 100], packets: [1, 0, 1, 0, 1] });
      expect(p.provenance).toMatchObject({ start: '101.000000000', span: 4, capture: 'unordered.pcap' });
      expect(p.iat.n).toBe(1); // the one non-negative gap in file order (101 → 103.5)
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is deterministic and round-trips through its JSON text', async () => {
    const again = (await learnProfile(join(FIXTURE_DIR, NETFLIX))).profile;
    expect(stringifyProfile(again)).toBe(stringifyProfile(learned.get(NETFLIX)!));
    expect(parseProfile(stringifyProfile(again))).toEqual(again);
  });

  it('refuses what it cannot learn from, with one coded line', async () => {
    const tls = join(FIXTURE_DIR, TLS);
    await expect(learnProfile(tls, { fromNs: 200_000_000_000n })).rejects.toMatchObject({
      code: 'SMIG_ERR_PROFILE',
      message: `${tls}: no packets in the window: nothing to learn from`,
    });
    await expect(learnProfile(tls, { filter: 'port 1' })).rejects.toMatchObject({
      code: 'SMIG_ERR_PROFILE',
      message: `${tls}: no packets passing the filter 'port 1': nothing to learn from`,
    });
    await expect(learnProfile(tls, { binNs: 10_000n })).rejects.toMatchObject({
      code: 'SMIG_ERR_PROFILE',
      message: `${TLS}: the window spans 9556304 bins of 10000 ns, more than 1000000: use a larger --bin or a --from/--to window`,
    });
    await expect(learnProfile(tls, { fromNs: 5n, toNs: 5n })).rejects.toMatchObject({
      code: 'SMIG_ERR_USAGE',
      message: '--to must be after --from (5 ns ≤ 5 ns)',
    });
    await expect(learnProfile(join(FIXTURE_DIR, 'nope.pcap'))).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `${join(FIXTURE_DIR, 'nope.pcap')}: cannot open (ENOENT)`,
    });
    await expect(learnProfile(tls, { filter: 'port' })).rejects.toMatchObject({ code: 'SMIG_ERR_FILTER' });
    await expect(learnProfile(join(FIXTURE_DIR, 'zeek__empty.pcap'))).rejects.toMatchObject({
      code: 'SMIG_ERR_PROFILE',
    });
  });
});

describe('buildChain, autoLevels, filterDirection', () => {
  it('cuts levels at quantiles, merges equal cuts, counts transitions around the circle', () => {
    // sorted: 0 0 0 10 10 100 100 1000; cuts at k·8/4 = 2, 4, 6 → 0 (not above the minimum: dropped), 10, 100
    const c = buildChain([0, 0, 10, 10, 100, 100, 0, 1000], [0, 0, 1, 1, 2, 2, 0, 9], 4);
    expect(c.edges).toEqual([10, 100]);
    // levels of the bins: 0 0 1 1 2 2 0 2, then back to the first
    expect(c.transitions).toEqual([
      [1, 1, 1],
      [0, 1, 1],
      [2, 0, 1],
    ]);
    expect(c.probabilities).toEqual([
      [1 / 3, 1 / 3, 1 / 3],
      [0, 0.5, 0.5],
      [2 / 3, 0, 1 / 3],
    ]);
    expect(c.levels).toEqual([
      { min: 0, max: 0, bins: 3, pairs: [[0, 0, 3]] },
      { min: 10, max: 10, bins: 2, pairs: [[10, 1, 2]] },
      {
        min: 100,
        max: 1000,
        bins: 3,
        pairs: [
          [100, 2, 2],
          [1000, 9, 1],
        ],
      },
    ]);
    expect(buildChain([5, 5, 5], [1, 1, 1]).levels).toHaveLength(1);
    expect(() => buildChain([], [])).toThrow('buildChain: the series is empty');
    expect(() => buildChain([1], [1], 9)).toThrow('levels: 9 is not an integer from 1 to 8');
  });

  it('picks about four transitions per matrix cell', () => {
    expect([1, 4, 60, 96, 256, 100_000].map(autoLevels)).toEqual([1, 1, 4, 5, 8, 8]);
  });

  it('reads the direction from src/dst qualifiers', () => {
    expect(
      [
        undefined,
        'tcp port 443',
        'src host 10.0.0.1',
        'dst port 80 and tcp',
        'src host a and dst host b',
        'host src.example',
      ].map((f) => filterDirection(f)),
    ).toEqual(['both', 'both', 'src', 'dst', 'src+dst', 'both']);
  });
});

describe('the transport of the profiled packets', () => {
  const count = (file: string, filter: string): number => {
    const r = spawnSync('tshark', ['-r', file, '-Y', filter], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length;
  };

  it('counts the packets that were not TCP (tshark counts them too); none: no field', async () => {
    const netflix = join(ROOT, 'captures', 'ndpi__netflix.pcap');
    const all = (await learnProfile(netflix, { filter: 'dst host 192.168.1.7' })).profile.shape!;
    expect(all.nonTcpShare).toBeCloseTo(
      count(netflix, 'ip.dst == 192.168.1.7 && !tcp') / count(netflix, 'ip.dst == 192.168.1.7'),
      12,
    );
    expect(all.nonTcpShare).toBeGreaterThan(0);
    const tcp = (await learnProfile(netflix, { filter: 'tcp and dst host 192.168.1.7' })).profile.shape!;
    expect(tcp).not.toHaveProperty('nonTcpShare');
    // an OpenVPN tunnel over UDP: nothing of it is TCP, and `profile show` says what that means for the links
    const vpn = join(ROOT, 'captures', 'ndpi__openvpn_nohmac.pcapng');
    const learned = await learnProfile(vpn, { filter: 'dst host 85.134.13.165' });
    expect(learned.profile.shape!.nonTcpShare).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), 'smig-learn-'));
    const file = join(dir, 'vpn.json');
    writeFileSync(file, stringifyProfile(learned.profile));
    const r = await runCli(['profile', 'show', file]);
    rmSync(dir, { recursive: true, force: true });
    expect(r.stdout).toContain(
      "Transport: 100 % of the profiled packets were not TCP (UDP, a tunnel, a call): smig's links are TCP, and take such traffic's sizes and times, not its protocol",
    );
  });

  it("reads TCP timestamps from the TCP pure ACKs alone: a call's 66 B datagrams are no stamped ACKs", async () => {
    const call = join(ROOT, 'captures', 'ndpi__whatsapp_login_call.pcap');
    const dst = 'ip.dst == 192.168.2.4';
    // tshark's oracle: pure ACKs of the direction with and without the timestamps option, and the datagrams as large
    const ack = `${dst} && tcp && tcp.len == 0 && !(tcp.flags.syn == 1)`;
    const plain = count(call, `${ack} && !tcp.options.timestamp.tsval && (frame.len == 54 || frame.len == 60)`);
    const stamped = count(call, `${ack} && tcp.options.timestamp.tsval && frame.len == 66`);
    const udp66 = count(call, `${dst} && udp && frame.len == 66`);
    expect(plain).toBeGreaterThan(stamped);
    // by sizes alone, the datagrams tip the count to "timestamps on"
    expect(stamped + udp66).toBeGreaterThan(plain);
    const learned = (await learnProfile(call, { filter: 'dst host 192.168.2.4' })).profile;
    const shape = learned.shape!;
    expect(shape.tcpTimestamps).toBe(false);
    expect(parseProfile(stringifyProfile(learned)).shape!.tcpTimestamps).toBe(false);
    const bad = JSON.parse(stringifyProfile(learned)) as { shape: Record<string, unknown> };
    bad.shape.tcpTimestamps = 'no';
    expect(() => validateProfile(bad, 'p.json')).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_PROFILE',
        message: 'p.json: shape.tcpTimestamps: expected true, false or absent, got "no"',
      }),
    );
    expect(captureLink(shape.trace.sizes, 4).tcpTimestamps).toBe(true);
    expect(shapeLink(shape)).toMatchObject({ tcpTimestamps: false, tcpip: 40 });
    // netflix's TCP ACKs carry timestamps; an OpenVPN tunnel over UDP has no TCP ACK to read: no field, the sizes decide
    const netflix = join(ROOT, 'captures', 'ndpi__netflix.pcap');
    const nf = (await learnProfile(netflix, { filter: 'tcp and dst host 192.168.1.7' })).profile.shape!;
    expect(nf.tcpTimestamps).toBe(true);
    const vpn = join(ROOT, 'captures', 'ndpi__openvpn_nohmac.pcapng');
    const v = (await learnProfile(vpn, { filter: 'dst host 85.134.13.165' })).profile.shape!;
    expect(v).not.toHaveProperty('tcpTimestamps');
    expect(shapeLink(v)).toEqual(captureLink(v.trace.sizes, 4));
  });
});
