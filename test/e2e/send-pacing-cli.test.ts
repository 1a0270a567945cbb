/**
 * `smig send --strategy … --profile … --rate … --seed … --dry-run`: the plan per link without
 * connecting, and one-line usage errors. In process (runCli); nothing listens on the addresses used.
 *
 * Oracles: the envelope length from its layout (568-byte prefix, 16-byte tag per 64 KiB segment, 56-byte
 * trailer); the lower bound size ÷ the profile's mean byte rate read from the profile file; `constant` at
 * 20 kB/s writes 1448-byte frames (1435 data bytes after the 13-byte DATA header) charged 1448 + 88 on the wire.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-send-plan-'));
const profile = join(dir, 'p.json');
const file = join(dir, 'payload.bin');
const SIZE = 300_000;
const relays = ['--data-relays', '127.0.0.1:9,127.0.0.1:10', '--key-relays', '127.0.0.1:11', '--dest', '127.0.0.1:12'];
const send = (...extra: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
  runCli(['send', file, '--key', join(dir, 'absent.key'), ...relays, ...extra]);

/** `smig profile learn CAPTURE --bin 500ms --filter FILTER -o OUT`, which must succeed. */
async function learn(capture: string, filter: string, out: string): Promise<void> {
  const r = await runCli(['profile', 'learn', capture, '--bin', '500ms', '--filter', filter, '-o', out]);
  expect(r.status, r.stderr).toBe(0);
}

beforeAll(async () => {
  writeFileSync(file, Buffer.alloc(SIZE, 7));
  await learn(join(FIXTURES, 'captures', 'ndpi__netflix.pcap'), 'dst host 192.168.1.7', profile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface DryRun {
  dryRun: boolean;
  bytes: number;
  envelopeBytes: number;
  plan: { strategy: string; seed: number; rate?: number };
  links: { hop: string; bytes: number; wireRate: number | null; expectedSeconds: number | null }[];
  unpaced: string[];
  expectedSeconds: number | null;
  expectedRange: { runs: number; mean: number; p05: number; p50: number; p95: number } | null;
  slowestHopSeconds: number | null;
  lowerBoundSeconds: number | null;
}

describe('smig send --dry-run', () => {
  const envelope = 568 + SIZE + 16 * Math.ceil(SIZE / 65536) + 56;

  it("profile: every paced link, the slowest sets the time, the bound is size ÷ the profile's mean byte rate; nothing is read or reached", async () => {
    const r = await send('--strategy', 'profile', '--profile', profile, '--seed', '42', '--dry-run', '--json');
    expect([r.status, r.stderr]).toEqual([0, '']);
    const j = JSON.parse(r.stdout) as DryRun;
    const mean = (JSON.parse(readFileSync(profile, 'utf8')) as { rates: { bytesPerSecond: number } }).rates
      .bytesPerSecond;
    expect(j).toMatchObject({
      dryRun: true,
      bytes: SIZE,
      envelopeBytes: envelope,
      plan: { strategy: 'profile', seed: 42 },
    });
    expect(j.lowerBoundSeconds).toBeCloseTo(SIZE / mean, 9);
    expect(j.links.map((l) => [l.hop, l.bytes])).toEqual([
      ['source → data relay 127.0.0.1:9', Math.ceil(envelope / 2)],
      ['source → data relay 127.0.0.1:10', Math.ceil(envelope / 2)],
      ['data relay 127.0.0.1:9 → leader (a random data relay)', Math.ceil(envelope / 2)],
      ['data relay 127.0.0.1:10 → leader (a random data relay)', Math.ceil(envelope / 2)],
      ['leader (a random data relay) → destination 127.0.0.1:12', SIZE],
    ]);
    expect(j.unpaced).toEqual(['source → key relay 127.0.0.1:11']);
    expect(j.slowestHopSeconds).toBe(Math.max(...j.links.map((l) => l.expectedSeconds!)));
    expect(j.slowestHopSeconds).toBe(j.links[4]!.expectedSeconds);
    // the per-write overheads (88 B on the wire, 13 B of frame header) carry no payload: one hop at its mean
    // rate is slower than the bound
    expect(j.slowestHopSeconds! / j.lowerBoundSeconds!).toBeGreaterThan(1);
    expect(j.slowestHopSeconds! / j.lowerBoundSeconds!).toBeLessThan(1.3);
    // the session is slower still (independent draws per hop, lost bursts downstream, cushions): a range
    const range = j.expectedRange!;
    expect(j.expectedSeconds).toBe(range.p50);
    expect(range.p05).toBeLessThanOrEqual(range.p50);
    expect(range.p50).toBeLessThanOrEqual(range.p95);
    expect(range.p50).toBeGreaterThan(j.slowestHopSeconds!);
    expect(range.p95).toBeGreaterThan(range.p05); // profile draws: a real spread

    const text = await send('--strategy', 'profile', '--profile', profile, '--seed', '42', '--dry-run');
    expect(text.status).toBe(0);
    expect(text.stdout.split('\n').slice(0, 2)).toEqual([
      'Pacing plan: strategy profile, seed 42, bin 500ms, overhead 88 B per write (TLS 22 + TCP/IP 52 + link 14)',
      `${file}: ${SIZE} bytes, envelope ≈ ${envelope} bytes`,
    ]);
    expect(text.stdout).toMatch(
      /\nexpected time {2}[\d.]+ s \(median of \d+ simulated sessions; 90 % between [\d.]+ s and [\d.]+ s, 98 % between [\d.]+ s and [\d.]+ s\)\nslowest hop {4}[\d.]+ s at the plan's mean rate .*\nlower bound {4}[\d.]+ s \(size ÷ profile mean byte rate\)\nratio {10}[\d.]+ \(expected ÷ lower bound\)\n$/,
    );
    expect(text.stdout).toMatch(/source → key relay 127\.0\.0\.1:11 \(and on to the leader\) +a share +unpaced +-/);
  });

  it("--match-link: the plan is for the capture's link (its full segment, its TCP/IP header bytes)", async () => {
    // the Webex client's packets: 54 B pure ACKs (no TCP timestamps), segments beyond 1514 B (receive offload)
    const webex = join(dir, 'webex.json');
    await learn(join(ROOT, 'captures', 'ndpi__webex.pcap'), 'tcp and dst host 10.8.0.1', webex);
    const plan = async (...extra: string[]) => {
      const r = await send('--strategy', 'profile', '--profile', webex, '--seed', '1', '--dry-run', '--json', ...extra);
      expect([r.status, r.stderr]).toEqual([0, '']);
      return (JSON.parse(r.stdout) as { plan: { segment: number; overheads: { tcpip: number } } }).plan;
    };
    // the segment is its largest packet (18,020 B), so that every packet of the trace goes out as one
    expect(await plan('--match-link')).toMatchObject({ segment: 18_020, overheads: { tcpip: 40 } });
    expect(await plan()).toMatchObject({ segment: 1514, overheads: { tcpip: 52 } });
  });

  it('constant --rate: 1448-byte frames at the given wire rate on every link', async () => {
    const r = await send('--strategy', 'constant', '--rate', '20kB/s', '--dry-run', '--json');
    expect([r.status, r.stderr]).toEqual([0, '']);
    const j = JSON.parse(r.stdout) as DryRun;
    expect(j.plan).toMatchObject({ strategy: 'constant', rate: 20_000 });
    for (const l of j.links) expect(l.wireRate).toBe(20_000);
    // leader → destination: SIZE data bytes in frames of 1435, each charged 1448 + 88 at 20 000 B/s
    expect(j.links[4]!.expectedSeconds).toBeCloseTo(((SIZE / 1435) * 1536) / 20_000, 6);
    expect(j.lowerBoundSeconds).toBeNull(); // no profile, no bound
  });

  it('bulk: no pacing anywhere', async () => {
    const r = await send('--dry-run');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Pacing plan: strategy bulk (no pacing: every hop as fast as it goes)\n');
    expect(r.stdout).toContain('expected time  - (as fast as the links go)\n');
  });

  it('refuses bad pacing flags with exit 2 and one line', async () => {
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, 'not a profile');
    const cases: [string[], string][] = [
      [['--strategy', 'warp'], "smig send: --strategy: 'warp' is not one of bulk, constant, profile, replay\n"],
      [['--strategy', 'profile'], 'smig send: --strategy profile needs a profile (--profile FILE)\n'],
      [['--strategy', 'replay'], 'smig send: --strategy replay needs a profile (--profile FILE)\n'],
      [['--strategy', 'constant'], 'smig send: --strategy constant needs --rate or --profile\n'],
      [
        ['--rate', '1kB/s'],
        'smig send: --strategy bulk: no pacing, so --rate has no use (pick constant, profile or replay)\n',
      ],
      [
        ['--profile', profile],
        'smig send: --strategy bulk: no pacing, so --profile has no use (pick constant, profile or replay)\n',
      ],
      [
        ['--strategy', 'profile', '--profile', profile, '--rate', '1kB/s'],
        'smig send: --rate: only for --strategy constant (profile takes its rates from the profile)\n',
      ],
      [
        ['--strategy', 'constant', '--rate', 'fast'],
        "smig send: option '--rate <rate>' argument 'fast' is invalid. --rate: 'fast' is not a rate (as tc: 128kbit, 16kbps = 16 kB/s, 10mbit; or 16kB/s, 10Mbit/s) (see smig send --help)\n",
      ],
      [
        ['--strategy', 'constant', '--rate', '1kB/s', '--seed', '-1'],
        "smig send: option '--seed <n>' argument '-1' is invalid. '-1' is not a seed from 0 to 4294967295 (see smig send --help)\n",
      ],
      [
        ['--strategy', 'constant', '--rate', '1kB/s', '--match-link'],
        'smig send: --match-link: only for --strategy profile with a version 2 profile\n',
      ],
      [
        ['--strategy', 'profile', '--profile', notJson],
        `smig send: ${notJson}: not JSON (Unexpected token 'o', "not a profile" is not valid JSON)\n`,
      ],
    ];
    for (const [extra, stderr] of cases) {
      const r = await send(...extra, '--dry-run');
      expect([r.status, r.stderr], extra.join(' ')).toEqual([2, stderr]);
    }
  });
});
