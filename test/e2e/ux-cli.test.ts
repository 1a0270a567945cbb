/**
 * What a new user trips over, each as the command line meets it: options a command does not take, output
 * directories, tc's rate units, progress of a paced send, the send summary, --exec failing, analyze's windows
 * and warnings, one error format. In process (runCli) where nothing listens; real `smig` processes on
 * 127.0.0.1 for the migrations.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, runBin, runCli } from '../helpers/cli.js';
import type { Proc } from './migration-helpers.js';
import { makeRandomFile, spawnRecv, spawnRelay, stopAll } from './migration-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-ux-'));
const key = join(dir, 'k.key');
const TLS = join(FIXTURES, 'captures', 'suricata__tls-subjectaltname.pcap');
const NETFLIX = join(FIXTURES, 'captures', 'ndpi__netflix.pcap');
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);
beforeAll(async () => {
  expect((await runCli(['keygen', '-o', key])).status).toBe(0);
});

describe('an option a command does not take is an error', () => {
  it.each([
    [
      ['control', 'status', '--key', 'k', '--listen', '10.0.0.1:7700'],
      /^smig control status: option '--listen <host:port>' argument '10\.0\.0\.1:7700' is invalid\. --listen is where the daemon listens; a client names it with --controller 10\.0\.0\.1:7700 \(see smig control status --help\)\n$/,
    ],
    [
      ['control', 'migrate', 'h3', '--key', 'k', '--listen', '10.0.0.1:7700'],
      /^smig control migrate: .*a client names it with --controller 10\.0\.0\.1:7700/,
    ],
    [
      ['control', '--eve', 'x.json', 'status', '--key', 'k'],
      /^smig control status: --eve: an option of the daemon \(smig control\), not of status\n$/,
    ],
    [
      ['control', 'status', '--frob'],
      /^smig control status: unknown option '--frob' \(see smig control status --help\)\n$/,
    ],
    [['profile', 'plan', 'p.json', '--size', '1MB', '--frob'], /^smig profile plan: unknown option '--frob'/],
    [
      ['analyze', 'a.pcap', '--frob'],
      /^smig analyze: unknown option '--frob' \(did you mean --from\?\) \(see smig analyze --help\)\n$/,
    ],
    [['lab', 'up', '--hosts', '2', '--frob'], /^smig lab up: unknown option '--frob'/],
    [
      [
        'send',
        'f',
        '--key',
        'k',
        '--dest',
        '127.0.0.1:1',
        '--data-relays',
        '127.0.0.1:2',
        '--key-relays',
        '127.0.0.1:3',
        '--rate',
        'fast',
      ],
      /^smig send: option '--rate <rate>' argument 'fast' is invalid\. --rate: 'fast' is not a rate .* \(see smig send --help\)\n$/,
    ],
  ])('%j', async (argv, err) => {
    const r = await runCli(argv);
    expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(err)]);
    expect(r.stderr.split('\n').length).toBe(2); // one line
  });

  it('the client subcommands take --controller (the README form)', async () => {
    const r = await runCli(['control', 'status', '--key', key, '--controller', '127.0.0.1:1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^smig control status: controller 127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});

describe('output paths', () => {
  it('--plot and --csv into directories that do not exist yet make them', async () => {
    const out = join(dir, 'out', 'nested');
    const r = await runCli(['analyze', TLS, NETFLIX, '--csv', out, '--plot', join(out, 'report.html')]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    expect(existsSync(join(out, 'summary.csv'))).toBe(true);
    const svg = join(dir, 'plots', 'a', 'b.svg');
    expect((await runCli(['analyze', TLS, '--plot', svg])).status).toBe(0);
    expect(readFileSync(svg, 'utf8')).toMatch(/<svg/);
  });

  it('a path that cannot be made is one line', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    const r = await runCli(['analyze', TLS, '--plot', join(dir, 'file', 'x.svg')]);
    expect([r.status, r.stderr]).toEqual([
      2,
      `smig analyze: --plot: cannot make directory ${join(dir, 'file')}: exists and is not a directory\n`,
    ]);
  });
});

describe('rates as tc writes them', () => {
  it.each([
    ['16kbps', 16_000],
    ['128kbit', 16_000],
    ['16kB/s', 16_000],
    ['1mbit', 125_000],
    ['1mibps', 1024 * 1024],
  ])('--rate %s is %d bytes/s', async (rate, bytes) => {
    const r = await runCli([
      'send',
      TLS,
      '--key',
      key,
      '--dest',
      '127.0.0.1:1',
      '--data-relays',
      '127.0.0.1:2',
      '--key-relays',
      '127.0.0.1:3',
      '--strategy',
      'constant',
      '--rate',
      rate,
      '--dry-run',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).plan.rate).toBe(bytes);
  });
  it('--help says what kbps and kbit mean', async () => {
    const r = await runCli(['send', '--help']);
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/16kbps = 16 kB\/s/);
  });
});

describe('smig analyze', () => {
  it('a --from past the end warns (exit 0, as tcpdump -r with a filter matching nothing)', async () => {
    const r = await runCli(['analyze', TLS, '--from', '500s']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /^smig analyze: warning: suricata__tls-subjectaltname\.pcap: no packets in its window 500s\.\.end after its earliest packet \(past the end of the capture\?\); 3138 packets read from /m,
    );
  });

  it('--time-window is the class window; --window still works with a deprecation warning', async () => {
    const spec = ['--class', `a=${TLS}`, '--class', `b=${TLS}`, '--json'];
    const t = await runCli(['analyze', ...spec, '--time-window', 'a=..10s']);
    const w = await runCli(['analyze', ...spec, '--window', 'a=..10s']);
    expect([t.status, w.status]).toEqual([0, 0]);
    expect(t.stderr).toBe('');
    expect(w.stderr).toBe(
      "smig analyze: warning: --window is deprecated, use --time-window (smig send's --window is a data window)\n",
    );
    expect(w.stdout).toBe(t.stdout);
    expect(JSON.parse(t.stdout).captures[0].packets).toBeLessThan(JSON.parse(t.stdout).captures[1].packets);
  });

  it('--help lists every filter keyword the README lists', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const bullet = /- `--filter` \/ `@FILTER`:([^\n]*(?:\n {2}[^\n]*)*)/.exec(readme)![1]!;
    const words = [...bullet.matchAll(/`([a-z0-9]+)`/g)].map((m) => m[1]!).filter((w) => !['mask'].includes(w));
    expect(words.length).toBeGreaterThan(15);
    const help = (await runCli(['analyze', '--help'])).stdout;
    for (const w of words) expect(help, w).toMatch(new RegExp(`\\b${w}\\b`));
  });
});

describe('a paced send: progress, summary, --exec', () => {
  let relays: Proc[] = [];
  let recv: Proc;
  let failing: Proc;
  const out = join(dir, 'in');
  const out2 = join(dir, 'in2');
  beforeAll(async () => {
    mkdirSync(out);
    mkdirSync(out2);
    [recv, failing, ...relays] = await Promise.all([
      spawnRecv(key, out),
      spawnRecv(key, out2, ['--exec', 'exit 3']),
      spawnRelay(key),
      spawnRelay(key),
    ]);
  }, 60_000);
  const args = (dest: Proc, extra: string[]): string[] => [
    '--key',
    key,
    '--dest',
    dest.addr,
    '--data-relays',
    relays[0]!.addr,
    '--key-relays',
    relays[1]!.addr,
    '--threshold',
    '1',
    ...extra,
  ];

  it('progress lines on stderr per --interval, the summary names the install and has units', async () => {
    const file = join(dir, 'payload.bin');
    await makeRandomFile(file, 40_000);
    // constant 20 kB/s: about 2 s, plus the downstream cushions
    const r = await runBin(
      ['send', file, ...args(recv, ['--strategy', 'constant', '--rate', '20kB/s', '-i', '250ms'])],
      { timeoutMs: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('smig send: ['));
    expect(lines.length, r.stderr).toBeGreaterThanOrEqual(2);
    for (const l of lines)
      expect(l).toMatch(
        /^smig send: \[ *[\d.]+-[\d.]+ s\] {2}[\d.]+ k?B of 4[01]\.\d+ kB {2}[\d.]+ % {2}[\d.]+ k?B\/s( {2}ETA [\dhms ]+)?$/,
      );
    expect(r.stdout).toMatch(
      /^migrated payload\.bin: 40000 bytes in [\d.]+ s\nthroughput {3}[\d.]+ kB\/s \(payload bytes ÷ time\)\ninstalled as payload\.bin in the destination's --out directory, or payload\.bin\.1, payload\.bin\.2 … if that name was taken/,
    );
    expect(readFileSync(join(out, 'payload.bin')).length).toBe(40_000);
    // --json: stdout is the JSON alone, with the throughput's unit; -i 0: no progress
    const j = await runBin(['send', file, ...args(recv, ['--json', '-i', '0'])], { timeoutMs: 60_000 });
    expect(j.status, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ bytes: 40_000, throughputUnit: 'B/s' });
    expect(j.stderr).not.toMatch(/smig send: \[/);
  }, 90_000);

  it('--log-format json: progress events are JSON lines', async () => {
    const file = join(dir, 'payload2.bin');
    await makeRandomFile(file, 30_000);
    const r = await runBin(
      [
        'send',
        file,
        ...args(recv, ['--strategy', 'constant', '--rate', '20kB/s', '-i', '250ms', '--log-format', 'json', '--json']),
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    // (the warning about a missing --dest-key is a plain line)
    const events = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.event === 'progress');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)).toMatchObject({
      component: 'send',
      total: expect.any(Number),
      bytes: expect.any(Number),
      bytesPerSecond: expect.any(Number),
    });
  }, 90_000);

  it('--exec exiting non-zero: one line that says the file is installed and what a retry does', async () => {
    const file = join(dir, 'vm.img');
    await makeRandomFile(file, 10_000);
    const r = await runBin(['send', file, ...args(failing, [])], { timeoutMs: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'smig send: --exec failed at the destination (exit status 3), after the payload was verified and installed there: the file stays installed as vm.img (or vm.img.N); sending again installs a second copy (vm.img.1, …) and runs --exec on that one',
    );
    expect(readFileSync(join(out2, 'vm.img')).length).toBe(10_000);
  }, 90_000);
});
