/**
 * `smig bench`, run as real processes (`node bin/smig bench`; needs the build, root for the captures).
 *
 * Oracles: the SHA-256 of each run's payload computed here must be what every run delivered; every observed link
 * stage (source → data relays, data relays → leader, leader → destination) must carry at least the payload;
 * a paced run cannot beat its hop's rate (time ≥ 0.8 × size ÷ the profile's mean rate, read from the profile file,
 * not from the result); bulk must be faster than the paced run; the source's wire bytes must exceed the payload
 * (envelope, TLS, headers); the figures must be SVG documents naming the classes; the lab run must leave no
 * namespace behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../src/bench/bench.js';
import type { SplitsSummary } from '../../src/bench/criteria.js';
import { ipv6Of, writeIpv6Capture } from '../../src/bench/ipv6-capture.js';
import { createDecoded, decodePacket, readCapture } from '../../src/capture/index.js';
import { labDown, listNamespaces } from '../../src/lab/lab.js';
import { runBin } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'smig-bench-test-'));
const lab = `b${(process.pid % 100_000).toString(36)}`;
afterAll(async () => {
  await labDown(lab).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('smig bench', () => {
  it('rejects unknown strategies, bad sizes and sites with a usage error naming the option, exit 2, no stack trace', async () => {
    for (const [args, re] of [
      [
        ['--strategies', 'bulk,fast'],
        /^smig bench: option '--strategies <list>' argument 'bulk,fast' is invalid\. --strategies: unknown strategy 'fast' \(bulk, constant, profile, replay\) \(see smig bench --help\)$/,
      ],
      [
        ['--sizes', '0'],
        /^smig bench: option '--sizes <list>' argument '0' is invalid\. --sizes: 0 is not between 1 and \d+ bytes \(see smig bench --help\)$/,
      ],
      [
        ['--sizes', '12parsecs'],
        /^smig bench: option '--sizes <list>' argument '12parsecs' is invalid\. --sizes: '12parsecs' is not a size/,
      ],
      [
        ['--split', '10ms'],
        /^smig bench: option '--split <dur>' argument '10ms' is invalid\. --split: 10ms is not between 100ms and 1h \(see smig bench --help\)$/,
      ],
      [
        ['--split-seed', 'two'],
        /^smig bench: option '--split-seed <n\[,n…\]>' argument 'two' is invalid\. 'two' is not a whole number ≥ 0/,
      ],
      [['--split-seed', '1,2,x'], /argument '1,2,x' is invalid\. 'x' is not a whole number ≥ 0/],
      [['--split-seed', '0,1,2,3,4,5,6,7,8,9,10'], /--split-seed: at most 10 seeds, got 11/],
      [
        ['--split-seed', '1,2', '--profile', 'p.json'],
        /^smig bench: --split-seed: several seeds need a split to draw \(not --profile\)$/,
      ],
      [
        ['--adversary-stretches', '9'],
        /^smig bench: --adversary-stretches: needs --adversary, and a learned half to cut them from \(not --profile\)$/,
      ],
      [['--adversary', '--adversary-stretches', '201'], /^smig bench: --adversary-stretches: at most 200, got 201$/],
      [
        ['--hosts', 'moon'],
        /^smig bench: option '--hosts <site>' argument 'moon' is invalid\. Allowed choices are lab, loopback\. \(see smig bench --help\)$/,
      ],
    ] as const) {
      const r = await runBin(['bench', ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('loopback: a plain copy, bulk and constant runs, every link captured and tested, figures and report written', async () => {
    const out = join(dir, 'lo');
    const r = await runBin(
      ['bench', '--hosts', 'loopback', '--sizes', '40kB', '--strategies', 'bulk,constant', '-o', out, '--json'],
      { timeoutMs: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as BenchResult;
    expect(j.runs.map((x) => x.strategy)).toEqual(['plain', 'bulk', 'constant']);
    const payload = sha(join(out, 'runs', 'payload-40000.bin'));
    const rate = (JSON.parse(readFileSync(join(out, 'profile.json'), 'utf8')) as { rates: { bytesPerSecond: number } })
      .rates.bytesPerSecond;
    for (const run of j.runs) {
      expect(run.sha256).toBe(payload);
      expect(run.overhead).toBeGreaterThan(0);
      // each stage of the path carries the whole payload (how the chunks split over the relays is the source's call)
      const stage = (re: RegExp): number => run.links.filter((l) => re.test(l.link)).reduce((a, l) => a + l.bytes, 0);
      for (const re of run.kind === 'plain'
        ? [/^source → destination$/]
        : [/^source → data/, /→ leader$/, /→ destination$/])
        expect(stage(re), `${run.strategy} ${re}`).toBeGreaterThan(40_000);
      for (const l of run.links) {
        expect(l.packets, `${run.strategy} ${l.link}`).toBeGreaterThan(0);
        expect(l.tests.map((t) => t.feature).sort()).toEqual([
          'bytes_per_bin',
          'iat',
          'packets_per_bin',
          'size',
          'size_histogram',
        ]);
        for (const t of l.tests) expect(t.pvalue).toBeGreaterThanOrEqual(0);
      }
      expect(Object.keys(run.resources)).toContain('source');
    }
    expect(j.runs[0]!.links.map((l) => l.link)).toEqual(['source → destination']);
    expect(j.runs[1]!.links.map((l) => l.link)).toEqual([
      'source → data relay 1',
      'source → data relay 2',
      'data relay 1 → leader',
      'data relay 2 → leader',
      'leader → destination',
    ]);
    const [, bulk, constant] = j.runs;
    expect(constant!.seconds).toBeGreaterThan((0.8 * 40_000) / rate);
    // every paced hop's pacer, from the source's summary and the relays' and leader's logs, named as the links are
    expect(constant!.hops!.map((h) => h.hop)).toEqual(constant!.links.map((l) => l.link));
    for (const h of constant!.hops!) {
      expect(h.writes, h.hop).toBeGreaterThan(1);
      expect(h.seconds, h.hop).toBeGreaterThan(0);
      expect(h.seconds, h.hop).toBeLessThanOrEqual(constant!.seconds);
      expect(h.padBytes, h.hop).toBeUndefined(); // constant is not shaped: no cover, no pauses
    }
    expect(constant!.hops!.at(-1)!.frameBytes).toBeGreaterThan(40_000); // the leader carries it all
    expect(bulk!.hops).toBeUndefined(); // not paced
    expect(bulk!.seconds).toBeLessThan(constant!.seconds);
    expect(Object.keys(bulk!.resources).sort()).toEqual([
      'data relay 1',
      'data relay 2',
      'destination',
      'key relay 1',
      'key relay 2',
      'key relay 3',
      'leader',
      'source',
    ]);
    for (const f of [j.files.timeFigure, j.files.rateFigure, j.files.detailFigure])
      expect(readFileSync(f, 'utf8')).toMatch(/^<svg /);
    for (const name of ['normal traffic (hold-out)', 'traditional (bulk)', 'stealth (constant)'])
      expect(readFileSync(j.files.rateFigure, 'utf8')).toContain(name);
    expect(readFileSync(j.files.timeFigure, 'utf8')).toContain('stealth (constant)');
    const html = readFileSync(j.files.report, 'utf8');
    for (const s of ['normal (plain TCP copy)', 'traditional (bulk)', 'stealth (constant)', 'CPU and memory per role'])
      expect(html).toContain(s);
    expect(html).toContain('the seconds its schedule paused for data');
    expect(JSON.parse(readFileSync(j.files.json, 'utf8'))).toEqual(j);
    // the reverse directions (ACKs, progress) against the capture's reverse direction, by default for the shipped one
    expect(j.normal.reverseFilter).toBe('src host 192.168.1.7');
    for (const run of j.runs.filter((x) => x.kind === 'migration'))
      for (const l of run.links) {
        expect(l.reverse!.packets, `${run.strategy} ${l.link}`).toBeGreaterThan(0);
        expect(l.reverse!.filter).not.toBe(l.filter);
        expect(l.reverse!.tests.map((t) => t.feature)).toContain('size');
      }
    expect(html).toContain('reverse directions');
    // and each migration link against the learned half itself (the pacer's fidelity), beside the hold-out
    for (const run of j.runs.filter((x) => x.kind === 'migration'))
      for (const l of run.links) {
        expect(l.fidelity!.packets).toBe(l.packets);
        expect(l.fidelity!.tests.map((t) => t.feature)).toContain('iat');
        expect(l.fidelity!.tests.find((t) => t.feature === 'size')!.m).toBe(
          l.tests.find((t) => t.feature === 'size')!.m,
        );
        // the reverse direction against the learned half's reverse direction: the same packets as against the hold-out's
        expect(l.reverseFidelity!.packets).toBe(l.reverse!.packets);
        expect(l.reverseFidelity!.tests.find((t) => t.feature === 'size')!.n).not.toBe(
          l.reverse!.tests.find((t) => t.feature === 'size')!.n,
        );
      }
    // per bin, each link (all shorter than the learned half here) is set beside the learned half's stretches as long
    for (const run of j.runs)
      for (const l of run.links)
        for (const t of l.tests.filter((x) => x.feature.endsWith('_per_bin'))) {
          expect(t.stretches!.bins, `${run.strategy} ${l.link}`).toBe(t.m);
          expect(t.stretches!.rejected).toBeLessThanOrEqual(t.stretches!.count);
        }
    // per bin, sizes and gaps also by blocks of the split's length (5 s), the same D as bin by bin and packet by packet
    for (const run of j.runs)
      for (const l of run.links)
        for (const t of l.tests.filter((x) => x.feature !== 'size_histogram')) {
          expect(t.blocks!.blockSeconds, `${run.strategy} ${l.link}`).toBe(5);
          expect(t.blocks!.statistic).toBeCloseTo(t.statistic, 12);
          expect(t.blocks!.pvalue).toBeGreaterThan(0);
        }
    expect(j.normal.learned!.tests.find((t) => t.feature === 'size')!.blocks).toBeDefined();
    // the criteria, counted over each migration run's links and over the learned half, in bench.json and the report
    expect(j.criteria!.runs.map((x) => [x.strategy, x.links, x.observerRule])).toEqual([
      ['bulk', 5, 'detected'],
      ['constant', 5, 'detected'],
    ]);
    for (const c of j.criteria!.runs) {
      const run = j.runs.find((x) => x.strategy === c.strategy)!;
      expect(c.perBin).toBe(run.links.filter((l) => !l.distinguishable).length);
      expect(c.packets).toBeLessThanOrEqual(c.links);
    }
    expect(j.criteria!.learned!.links).toBe(1);
    expect(html).toContain('criteria, per link against the hold-out');
    expect(html).toMatch(/<li>constant 40000 bytes: per bin \d of 5, sizes and gaps at p ≥ 0\.01 \d of 5/);
    expect(html).toContain('its p-value from dealing whole 5 s blocks');
    // a bulk copy of a fraction of a second is one block: its test by blocks cannot reject, and says so
    expect(html).toContain('n/a (1 block)');
    expect(html).toMatch(/learned-half stretches as long: \d+ of \d+ rejected per bin/);
    expect(j.runs[0]!.links[0]!.fidelity).toBeUndefined(); // the plain copy is not paced
    expect(html).toContain('against the learned half instead of the hold-out');
    expect(html).toMatch(/source → data relay 1 \(reverse\)/);
    // every key relay link is a short flow (closed once the leader has the key), set among the capture's TCP flows
    expect(j.normal.tcpFlows!.count).toBe(47);
    for (const run of j.runs.filter((x) => x.kind === 'migration')) {
      expect(run.keyFlows!.map((k) => k.link)).toEqual([
        'source → key relay 1',
        'source → key relay 2',
        'source → key relay 3',
      ]);
      for (const k of run.keyFlows!) {
        expect(k.connections).toBe(1);
        expect(k.bytes).toBeGreaterThan(1000);
        expect(k.seconds, `${run.strategy} ${k.link}`).toBeLessThan(run.seconds);
        expect(k.durationPercentile).toBeGreaterThanOrEqual(0);
        expect(k.durationPercentile).toBeLessThanOrEqual(100);
      }
    }
    expect(html).toMatch(/key relay flows, set among the normal capture(&#39;|&#x27;|')s 47 TCP flows/);
    // loopback links are what they are; the learned half is tested against the hold-out as a link is
    expect(j.link).toBeNull();
    expect(j.normal.learned!.reverse!.packets).toBeGreaterThan(100);
    expect(j.normal.learned!.tests.map((t) => t.feature).sort()).toEqual([
      'bytes_per_bin',
      'iat',
      'packets_per_bin',
      'size',
      'size_histogram',
    ]);
  }, 150_000);

  it('several split seeds: the whole bench once per split, each in its own directory, the criteria summed', async () => {
    const out = join(dir, 'splits');
    const r = await runBin(
      ['bench', '--hosts', 'loopback', '--sizes', '20kB', '--strategies', 'constant', '--split-seed', '2,1', '-o', out],
      { timeoutMs: 200_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^smig bench: split seed 2: normal capture .*drawn with split seed 2;/m);
    expect(r.stderr).toMatch(/^smig bench: split seed 1: normal capture .*drawn with split seed 1;/m);
    const s = JSON.parse(readFileSync(join(out, 'splits.json'), 'utf8')) as SplitsSummary;
    expect(s.splits.map((x) => [x.splitSeed, x.bench])).toEqual([
      [2, join(out, 'split-2', 'bench.json')],
      [1, join(out, 'split-1', 'bench.json')],
    ]);
    const benches = s.splits.map((x) => JSON.parse(readFileSync(x.bench, 'utf8')) as BenchResult);
    expect(benches.map((b) => b.normal.splitSeed)).toEqual([2, 1]);
    // the two splits learned different halves
    expect(benches[0]!.normal.learned!.packets).not.toBe(benches[1]!.normal.learned!.packets);
    expect(s.totals.strategies.constant!.links).toBe(10);
    expect(s.totals.strategies.constant!.perBin).toBe(
      benches.reduce((a, b) => a + b.runs[1]!.links.filter((l) => !l.distinguishable).length, 0),
    );
    expect(s.totals.learned!.links).toBe(2);
    expect(r.stdout).toMatch(/^split seed 2 \(.*split-2\/report\.html\):\ncriteria, per link/m);
    expect(r.stdout).toMatch(
      /^over 2 splits \(split seeds 2, 1\), every link of every size:\n- constant: per bin \d+ of 10/m,
    );
    expect(r.stdout).toMatch(/^- the learned halves themselves: per bin \d of 2/m);
  }, 220_000);

  it("lab: one host per role, links set like the capture's, captures on every host link, the lab is gone afterwards", async () => {
    const out = join(dir, 'lab');
    // the Webex capture's hosts sent no TCP timestamps (54 B pure ACKs): the lab's hosts must not either
    const r = await runBin(
      [
        'bench',
        '--hosts',
        'lab',
        '--lab',
        lab,
        '--normal',
        join(ROOT, 'captures', 'ndpi__webex.pcap'),
        '--filter',
        'tcp and dst host 10.8.0.1',
        '--reverse-filter',
        'tcp and src host 10.8.0.1',
        '--split',
        '2.5s',
        '--adversary',
        '--adversary-cv',
        'blocks',
        '--sizes',
        '40kB',
        '--strategies',
        'bulk',
        '-o',
        out,
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    // captured with receive offload: the lab's MTU lets the learned half's largest packet through as one
    const mtu =
      /lab links set like the capture's: IPv4, MTU (\d+) \(its largest packet, (\d+) B: it was captured with receive offload or on jumbo frames\), TCP timestamps off/.exec(
        r.stderr,
      );
    expect(Number(mtu![2]) - Number(mtu![1])).toBe(14);
    expect(Number(mtu![2])).toBeGreaterThan(1514);
    expect(r.stdout).toMatch(
      /^the learned half itself against the hold-out .*size p [\d.e-]+ \(by 2\.5 s blocks: p [\d.e-]+\), gap p/m,
    );
    expect(r.stdout).toMatch(
      /^"by blocks" \(per bin, sizes, gaps\): the same D, its p-value from dealing whole 2\.5 s blocks/m,
    );
    expect(r.stdout).toMatch(/^traditional \(bulk\)$/m);
    expect(r.stdout).not.toContain('paced hops'); // bulk is not paced
    expect(r.stdout).toMatch(/^40000 +[\d.]+ +[\d.]+ +[\d.]+ % +[\d.]+ % +leader → destination /m);
    const j = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchResult;
    expect(j.hosts).toBe('lab');
    // the learn/hold-out split at 2.5 s: 47 blocks of the 117 s capture, every packet on one side or the other
    expect(j.normal.splitSeconds).toBe(2.5);
    // the observer's baseline on the whole capture (117 s: 45 complete windows, 16 in odd 10 s blocks, of which
    // those with packets are classified) beside the hold-out's; the silent ones counted of the capture's 45
    const whole = j.normal.adversaryBaseline!;
    expect(whole.ofWindows).toBe(45);
    expect(whole.silentWindows).toBeGreaterThan(0);
    expect(whole.windows).toBeLessThanOrEqual(16);
    expect(whole.windows).toBeGreaterThanOrEqual(16 - whole.silentWindows!);
    expect(j.normal.adversaryBaseline!.auc).toBeGreaterThan(0);
    // the observer dealt its folds by blocks, and says so
    expect(j.adversary).toEqual({ cv: 'blocks', permutations: 0 });
    expect(r.stdout).toMatch(
      /^trained observer \(random forest on 5 s windows with packets, 5-fold CV by 10 s blocks 5 times\)/m,
    );
    expect(r.stdout).toContain(
      `; the whole normal capture against itself (the same blocks, ${whole.windows} windows a side): `,
    );
    expect(r.stdout).toMatch(/windows a side\): 0\.\d\d \[[\d.]+–[\d.]+\] \(\d+ of 45 windows silent\)/);
    const split =
      /profile learned from one 2\.5 s block of each pair \(drawn with split seed 1; (\d+) packets\), the other held out \((\d+) packets\)/.exec(
        r.stderr,
      );
    expect(Number(split![1]) + Number(split![2])).toBe(1110);
    expect(j.normal.splitSeed).toBe(1);
    expect(j.link).toEqual({
      mtu: Number(mtu![1]),
      tcpTimestamps: false,
      segment: Number(mtu![2]),
      tcpip: 40,
      ipVersion: 4,
    });
    expect(j.normal.learned!.link).toBe('learned half');
    // each link's reverse direction is the same host pair the other way round
    // (narrowed to the data connection by its port, but for the leader's link to the destination: no poll goes there)
    for (const l of j.runs[1]!.links) {
      const [, a, b, port] = /^tcp and src host (\S+) and dst host (\S+)(?: and src port (\d+))?$/.exec(l.filter)!;
      expect(port === undefined, `${l.link}: ${l.filter}`).toBe(l.link.endsWith('→ destination'));
      const back = port === undefined ? '' : ` and dst port ${port}`;
      expect(l.reverse!.filter).toBe(`tcp and src host ${b} and dst host ${a}${back}`);
      expect(l.reverse!.packets).toBeGreaterThan(0);
    }
    expect(j.runs[1]!.pollFlows).toBeUndefined(); // bulk: DONE comes back along the data links
    // what the source's host sent: segments up to the lab's (beyond 1514 B, which the default link caps them at)
    // and pure ACKs without the timestamps option (IPv4 + TCP = 40 B)
    const sizes = new Map<number, number>();
    await readCapture(join(out, 'captures', 'bulk-40000-h1.pcap'), (p) => {
      sizes.set(p.origLen, (sizes.get(p.origLen) ?? 0) + 1);
    });
    expect(Math.max(...sizes.keys())).toBeGreaterThan(1514);
    expect(Math.max(...sizes.keys())).toBeLessThanOrEqual(j.link!.segment);
    expect(sizes.get(66) ?? 0).toBeLessThan(sizes.get(54) ?? 0); // (a SYN carries options: 66 B or more)
    // one capture per host link of the migration (8 roles) and 2 for the plain copy
    expect(readdirSync(join(out, 'captures')).filter((f) => f.startsWith('bulk-'))).toHaveLength(8);
    expect(
      j.runs[1]!.links.every((l) =>
        /^tcp and src host 10\.\d+\.\d+\.\d+ and dst host 10\.\d+\.\d+\.\d+( and src port \d+)?$/.test(l.filter),
      ),
    ).toBe(true);
    expect(j.runs[1]!.links.find((l) => l.link === 'leader → destination')!.bytes).toBeGreaterThan(40_000);
    expect(await listNamespaces(`smig-${lab}-`)).toEqual([]);
    expect(existsSync(j.files.report)).toBe(true);
  }, 150_000);
  it('lab over IPv6: a capture of TCP over IPv6 gets a lab over IPv6, every link carries IPv6 with its 86 B ACKs', async () => {
    const out = join(dir, 'lab6');
    // the netflix capture with every packet over IPv6 (20 B more per packet, full frames still 1514 B)
    const normal = join(dir, 'netflix-ipv6.pcap');
    await writeIpv6Capture(join(ROOT, 'captures', 'ndpi__netflix.pcap'), normal);
    const client = ipv6Of('192.168.1.7');
    const r = await runBin(
      [
        'bench',
        ...['--hosts', 'lab', '--lab', lab, '--normal', normal],
        ...['--filter', `tcp and dst host ${client}`, '--sizes', '20kB', '--strategies', 'profile', '-o', out],
      ],
      { timeoutMs: 150_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /lab links set like the capture's: IPv6, MTU 1500 \(full segments of 1514 B\), TCP timestamps on/,
    );
    const j = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchResult;
    expect(j.link).toEqual({ mtu: 1500, tcpTimestamps: true, segment: 1514, tcpip: 72, ipVersion: 6 });
    const payload = sha(join(out, 'runs', 'payload-20000.bin'));
    expect(j.runs.map((x) => [x.strategy, x.sha256])).toEqual([
      ['plain', payload],
      ['profile', payload],
    ]);
    // profile: the polls for the outcome, when every data link was released before DONE (a link still held to its
    // mean rate carries DONE back instead), are other connections between the same hosts, each listed as a flow
    // (test/unit/bench-polls.test.ts reads them from a real lab capture against tshark), on both hops of a relay
    const polls = j.runs[1]!.pollFlows ?? [];
    for (const p of polls) {
      expect(p.link).toMatch(/^(source → data relay \d|data relay \d → leader) polls$/);
      expect(p.connections).toBeGreaterThan(0);
    }
    for (const run of j.runs)
      for (const l of run.links) {
        expect(l.filter).toMatch(/^tcp and src host fd77::[\da-f]+ and dst host fd77::[\da-f]+( and src port \d+)?$/);
        expect(l.packets, `${run.strategy} ${l.link}`).toBeGreaterThan(0);
      }
    // what the source's host sent and received: TCP over IPv6 only; pure ACKs of 86 B (IPv6 40 + TCP 32 + 14)
    const sizes = new Map<number, number>();
    const networks = new Set<string>();
    const d = createDecoded();
    await readCapture(join(out, 'captures', 'profile-20000-h1.pcap'), (p) => {
      decodePacket(p.linktype, p.data, d, p.origLen);
      networks.add(d.network);
      sizes.set(p.origLen, (sizes.get(p.origLen) ?? 0) + 1);
    });
    expect([...networks]).toEqual(['ipv6']);
    expect(sizes.get(86) ?? 0).toBeGreaterThan(10);
    expect(sizes.get(66) ?? 0).toBe(0);
    expect(Math.max(...sizes.keys())).toBe(1514);
    expect(await listNamespaces(`smig-${lab}-`)).toEqual([]);
  }, 180_000);
});
