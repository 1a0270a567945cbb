/**
 * `smig analyze` end to end against the tshark-made oracles of every shared capture fixture:
 * packet counts, byte sums, timestamps and the per-second series (bins anchored at the earliest packet).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readFileSync as rf, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runBin, runCli } from '../helpers/cli.js';

const CAP = join(FIXTURES, 'captures');
interface Oracle {
  file: string;
  packets: number;
  expect: string;
  bytes: { orig_len_sum: number; cap_len_sum: number };
  first_ts: string;
  last_ts: string;
  ts_min: string;
  ts_max: string;
  per_second_rel: { t: number; packets: number; bytes: number }[];
}
const oracles: Oracle[] = readdirSync(join(CAP, 'oracle'))
  .filter((f) => f.endsWith('.json') && f !== 'INDEX.json')
  .map((f) => JSON.parse(readFileSync(join(CAP, 'oracle', f), 'utf8')) as Oracle);

/** Oracle timestamps are decimal strings; ours too, always with 9 decimals. */
function norm(ts: string): string {
  const [s, f = ''] = ts.split('.');
  return `${s}.${f.padEnd(9, '0')}`;
}

describe('smig analyze on every shared capture (tshark oracle)', () => {
  it('has the 14 fixtures', () => {
    expect(oracles.length).toBe(14);
  });
  for (const o of oracles) {
    it(`${o.file}: counts, bytes, timestamps, per-second series`, async () => {
      const r = await runCli(['analyze', '--json', '--no-progress', join(CAP, o.file)]);
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      const c = j.captures[0];
      expect(c.packets).toBe(o.packets);
      expect(c.bytes).toBe(o.bytes.orig_len_sum);
      expect(c.capturedBytes).toBe(o.bytes.cap_len_sum);
      if (o.packets > 0) {
        expect(c.firstTs).toBe(norm(o.first_ts));
        expect(c.lastTs).toBe(norm(o.last_ts));
        expect(c.earliestTs).toBe(norm(o.ts_min));
        expect(c.latestTs).toBe(norm(o.ts_max));
        expect(c.series.t0).toBe(norm(o.ts_min));
      }
      expect(c.series.rows).toEqual(o.per_second_rel.map((b) => [b.t, b.packets, b.bytes]));
      if (o.expect === 'error_or_prefix') {
        expect(c.warnings.length).toBeGreaterThan(0);
        expect(r.stderr).toMatch(/warning: .*byte \d+/);
        expect(c.warnings[0].offset).toBeGreaterThan(0);
      }
    });
  }
});

describe('smig analyze comparisons and output forms', () => {
  const tls = join(CAP, 'suricata__tls-subjectaltname.pcap');
  const netflix = join(CAP, 'ndpi__netflix.pcap');

  it('compares classes with KS on the four features and χ² on sizes, with n, m, critical and verdicts', async () => {
    const r = await runCli(['analyze', '--json', tls, netflix]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const rows = j.comparisons as {
      feature: string;
      test: string;
      reference: string;
      subject: string;
      statistic: number;
      pvalue: number;
      n: number;
      m: number;
      critical: number;
      distinguishable: boolean;
    }[];
    expect(rows.map((x) => `${x.test}:${x.feature}`)).toEqual([
      'ks:packets_per_bin',
      'ks:bytes_per_bin',
      'ks:size',
      'ks:iat',
      'chi2:size_histogram',
    ]);
    for (const x of rows) {
      expect(x.reference).toBe('suricata__tls-subjectaltname.pcap');
      expect(x.subject).toBe('ndpi__netflix.pcap');
      expect(x.distinguishable).toBe(x.pvalue < 0.05);
    }
    // per-second samples: one per bin from the earliest to the latest packet, empty bins included
    const pps = rows[0]!;
    expect(pps.n).toBe(j.captures[0].series.bins);
    expect(pps.m).toBe(j.captures[1].series.bins);
    expect(pps.n).toBe(96);
    expect(pps.m).toBe(90);
    // the scipy oracle for exactly these two per-second packet series
    const ks = JSON.parse(readFileSync(join(FIXTURES, 'ks-oracle', 'real_pkts_per_s_tls_vs_netflix.json'), 'utf8'));
    const scipy = ks.scipy['two-sided/auto'];
    expect(pps.statistic).toBeCloseTo(scipy.statistic, 12);
    expect(pps.pvalue).toBeCloseTo(scipy.pvalue, 6);
    expect(pps.critical).toBeCloseTo(1.358 * Math.sqrt((96 + 90) / (96 * 90)), 3);
    expect(rows.find((x) => x.feature === 'size')!.n).toBe(3138);
  });

  it('a class compared with itself is not distinguishable', async () => {
    const r = await runCli(['analyze', '--json', '--class', `a=${tls}`, '--class', `b=${tls}`]);
    const j = JSON.parse(r.stdout);
    for (const x of j.comparisons) {
      expect(x.statistic).toBe(0);
      expect(x.distinguishable).toBe(false);
    }
    expect(j.verdicts[0].distinguishable).toBe(false);
  });

  it('per-class filters and --bin change what is counted (tcpdump-checked count)', async () => {
    const r = await runCli([
      'analyze',
      '--json',
      '--bin',
      '100ms',
      '--class',
      `web=${tls}@tcp port 443`,
      '--class',
      `dns=${tls}@udp and port 53`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.binNs).toBe('100000000');
    const [web, dns] = j.captures;
    expect(web.packetsRead).toBe(3138);
    expect(web.packets + dns.packets).toBeLessThan(3138);
    expect(web.filter).toBe('tcp port 443');
    for (const c of [web, dns]) {
      const sum = c.series.rows.reduce((a: number, row: number[]) => a + row[1]!, 0);
      expect(sum).toBe(c.packets);
    }
  });

  it('reads gzip-compressed captures and stdin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smig-an-'));
    try {
      const gz = join(dir, 'netflix.pcap.gz');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(gz, gzipSync(rf(netflix)));
      const r = await runCli(['analyze', '--json', gz]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).captures[0].packets).toBe(1793);
      expect(JSON.parse(r.stdout).captures[0].gzip).toBe(true);
      const s = await runBin(['analyze', '--json', '-'], { input: rf(netflix) });
      expect(s.status, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).captures[0].name).toBe('stdin');
      expect(JSON.parse(s.stdout).captures[0].packets).toBe(1793);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes CSV files and a plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smig-an-'));
    try {
      const r = await runCli(['analyze', '--csv', join(dir, 'csv'), '--plot', join(dir, 'p.svg'), tls, netflix]);
      expect(r.status, r.stderr).toBe(0);
      const cmp = rf(join(dir, 'csv', 'comparisons.csv'), 'utf8')
        .trim()
        .split('\n');
      expect(cmp[0]).toBe(
        'reference,subject,feature,test,statistic,pvalue,n,m,critical,alpha,distinguishable,block_s,block_pvalue',
      );
      expect(cmp).toHaveLength(6);
      const series = rf(join(dir, 'csv', 'ndpi__netflix.pcap.series.csv'), 'utf8')
        .trim()
        .split('\n');
      expect(series.length - 1).toBe(
        JSON.parse(readFileSync(join(CAP, 'oracle', 'ndpi__netflix.pcap.json'), 'utf8')).per_second_rel.length,
      );
      expect(existsSync(join(dir, 'csv', 'suricata__tls-subjectaltname.pcap.flows.csv'))).toBe(true);
      const svg = rf(join(dir, 'p.svg'), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('ndpi__netflix.pcap');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints readable tables with flows and verdicts', async () => {
    const r = await runCli(['analyze', tls, netflix]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Traffic classes \(bin 1s/);
    expect(r.stdout).toMatch(/suricata__tls-subjectaltname\.pcap\s+pcap\s+1\s+3138\s/);
    expect(r.stdout).toContain('Flows of ndpi__netflix.pcap');
    expect(r.stdout).toMatch(/ndpi__netflix\.pcap\s+packets_per_bin\s+ks exact/);
    expect(r.stdout).toMatch(/Verdict/);
  });

  it('--blocks: rates per bin, sizes and gaps also tested by blocks, in the tables, the JSON and the CSV', async () => {
    // the first and second halves of netflix, by time: 6 and 8 blocks of 5 s with packets in the data direction
    const halves = ['--class', `a=${netflix}@dst host 192.168.1.7`, '--class', `b=${netflix}@dst host 192.168.1.7`];
    const windows = ['--time-window', 'a=..45s', '--time-window', 'b=45s..'];
    const j = await runCli(['analyze', '--json', '--blocks', '5s', '--bin', '500ms', ...halves, ...windows]);
    expect(j.status, j.stderr).toBe(0);
    const rows = JSON.parse(j.stdout).comparisons as {
      feature: string;
      statistic: number;
      blocks?: { blockSeconds: number; statistic: number; pvalue: number; permutations: number; blocks: number[] };
    }[];
    for (const f of ['packets_per_bin', 'bytes_per_bin', 'size', 'iat']) {
      const b = rows.find((x) => x.feature === f)!.blocks!;
      expect(b.blockSeconds).toBe(5);
      expect(b.permutations).toBe(499);
      expect(b.statistic).toBeCloseTo(rows.find((x) => x.feature === f)!.statistic, 12);
      expect(b.pvalue).toBeGreaterThan(0);
      expect(b.pvalue).toBeLessThanOrEqual(1);
    }
    // per bin, the blocks are the bins' (empty ones included): 45 s of 500 ms bins are 9 blocks of 5 s
    expect(rows.find((x) => x.feature === 'packets_per_bin')!.blocks!.blocks[0]).toBe(9);
    expect(rows.find((x) => x.feature === 'size_histogram')!.blocks).toBeUndefined();
    const t = await runCli(['analyze', '--blocks', '5s', '--block-permutations', '99', ...halves, ...windows]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/b\s+size\s+ks .*; by 5 s blocks \(\d+ and \d+\): p [0-9.]+/);
    expect(t.stdout).toMatch(/b\s+bytes_per_bin\s+ks .*; by 5 s blocks \(9 and \d+\): p [0-9.]+/);
    const bad = await runCli(['analyze', '--blocks', 'soon', netflix]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--blocks');
  });
});

describe('smig analyze bad input: one line, exit 2, no stack', () => {
  const cases: [string, string[], RegExp][] = [
    ['missing file', ['analyze', '/nonexistent/x.pcap'], /^smig analyze: .*\/nonexistent\/x\.pcap.*\n$/],
    [
      'not a capture',
      ['analyze', join(FIXTURES, 'captures', 'README.md')],
      /^smig analyze: .*README\.md: not a pcap or pcapng capture.*\n$/,
    ],
    ['bad bin', ['analyze', '--bin', '10xs', join(CAP, 'zeek__empty.pcap')], /bin.*10xs/],
    ['bin under 1us', ['analyze', '--bin', '10ns', join(CAP, 'zeek__empty.pcap')], /shorter than 1us/],
    [
      'bad filter',
      ['analyze', '-f', 'ether host 1', join(CAP, 'zeek__empty.pcap')],
      /^smig analyze: filter: .*ether.*\n$/,
    ],
    ['bad class', ['analyze', '--class', 'nofile'], /--class: 'nofile' is not NAME=CAPTURE/],
    ['no capture', ['analyze'], /no capture given/],
  ];
  for (const [what, argv, re] of cases) {
    it(what, async () => {
      const r = await runCli(argv);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe('smig analyze time windows', () => {
  const tls = join(CAP, 'suricata__tls-subjectaltname.pcap');
  const oracle = JSON.parse(
    readFileSync(join(CAP, 'oracle', 'suricata__tls-subjectaltname.pcap.json'), 'utf8'),
  ) as Oracle;

  it('--time-window splits a capture into a learning part and a hold-out, bins anchored at the window start', async () => {
    const r = await runCli([
      'analyze',
      '--json',
      '--class',
      `learn=${tls}`,
      '--class',
      `hold=${tls}`,
      '--time-window',
      'learn=..45s',
      '--time-window',
      'hold=45.0s..',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const [learn, hold] = JSON.parse(r.stdout).captures;
    const before = oracle.per_second_rel.filter((b) => b.t < 45);
    const after = oracle.per_second_rel.filter((b) => b.t >= 45);
    expect(learn.series.rows).toEqual(before.map((b) => [b.t, b.packets, b.bytes]));
    expect(hold.series.rows).toEqual(after.map((b) => [b.t - 45, b.packets, b.bytes]));
    expect(learn.packets + hold.packets).toBe(oracle.packets);
    // t0 of the hold-out = earliest packet + 45 s, exactly
    const [s, f] = oracle.ts_min.split('.');
    expect(hold.series.t0).toBe(`${BigInt(s!) + 45n}.${(f ?? '').padEnd(9, '0')}`);
  });

  it('--from/--to apply to every class; bad windows are refused', async () => {
    const r = await runCli(['analyze', '--json', '--from', '10s', '--to', '20s', tls]);
    const c = JSON.parse(r.stdout).captures[0];
    expect(c.series.rows).toEqual(
      oracle.per_second_rel.filter((b) => b.t >= 10 && b.t < 20).map((b) => [b.t - 10, b.packets, b.bytes]),
    );
    expect((await runCli(['analyze', '--from', '10s', '--to', '5s', tls])).stderr).toMatch(
      /window's end must be after its start/,
    );
    expect((await runCli(['analyze', '--time-window', 'nope=1s..2s', tls])).stderr).toMatch(
      /--time-window: no class named 'nope'/,
    );
    expect((await runCli(['analyze', '--time-window', 'x', tls])).status).toBe(2);
  });
});
