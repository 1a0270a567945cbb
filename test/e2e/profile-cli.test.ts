/**
 * `smig profile learn | show | plan` end to end (in-process CLI): files written and read back, the text and
 * JSON outputs, plots, and one-line errors with exit status 2 for bad input.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profile/model.js';
import { FIXTURES, runCli } from '../helpers/cli.js';

const CAP = join(FIXTURES, 'captures');
const TLS = join(CAP, 'suricata__tls-subjectaltname.pcap');
const NETFLIX = join(CAP, 'ndpi__netflix.pcap');
const dir = mkdtempSync(join(tmpdir(), 'smig-profile-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('smig profile learn', () => {
  it('writes a valid profile and says what it learned on stderr', async () => {
    const out = join(dir, 'tls.json');
    const r = await runCli(['profile', 'learn', TLS, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `smig profile: learned 96 bins of 1s from suricata__tls-subjectaltname.pcap (3138 packets, 1550828 bytes, mean 16.15 kB/s, 4 levels) → ${out}\n`,
    );
    const p = parseProfile(readFileSync(out, 'utf8'));
    expect([p.bins, p.packets, p.provenance.filter]).toEqual([96, 3138, null]);
  });

  it('takes a filter, bin and window, and writes to stdout with -o -', async () => {
    const r = await runCli([
      'profile',
      'learn',
      NETFLIX,
      '-o',
      '-',
      '--filter',
      'tcp',
      '--bin',
      '500ms',
      '--from',
      '10s',
      '--to',
      '70s',
      '--levels',
      '3',
      '--burst-gap',
      '2ms',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const p = parseProfile(r.stdout);
    expect(p.provenance).toMatchObject({ filter: 'tcp', direction: 'both', from: '10000000000', to: '70000000000' });
    expect([p.binNs, p.bursts.gapNs]).toEqual(['500000000', '2000000']);
    expect(p.bins).toBeLessThanOrEqual(120);
    expect(p.chain.levels.length).toBeLessThanOrEqual(3);
  });

  it('refuses bad usage and bad input with one line and status 2', async () => {
    const cases: [string[], RegExp][] = [
      [['profile', 'learn', TLS], /required option '-o, --output <profile>' not specified/],
      [
        ['profile', 'learn', TLS, '-o', join(dir, 'x.json'), '--bin', '1x'],
        /option '--bin <dur>' argument '1x' is invalid\. bin: '1x' is not a duration/,
      ],
      [
        ['profile', 'learn', TLS, '-o', join(dir, 'x.json'), '--levels', '9'],
        /'9' is not a number of levels from 1 to 8/,
      ],
      [
        ['profile', 'learn', join(CAP, 'none.pcap'), '-o', join(dir, 'x.json')],
        /^smig profile learn: .*none\.pcap: cannot open \(ENOENT\)\n$/,
      ],
      [
        ['profile', 'learn', TLS, '-o', join(dir, 'x.json'), '--from', '500s'],
        /^smig profile learn: .*: no packets in the window: nothing to learn from\n$/,
      ],
    ];
    for (const [argv, err] of cases) {
      const r = await runCli(argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(err);
    }
    expect(existsSync(join(dir, 'x.json'))).toBe(false);
    // -o into a directory that does not exist yet makes it, as --csv and --plot do
    const nested = join(dir, 'no-such-dir', 'deeper', 'x.json');
    const made = await runCli(['profile', 'learn', TLS, '-o', nested]);
    expect(made.status, made.stderr).toBe(0);
    expect(existsSync(nested)).toBe(true);
  });
});

describe('smig profile show', () => {
  it('prints provenance, rates, levels with dwell times, sizes, gaps and bursts', async () => {
    const file = join(dir, 'netflix.json');
    expect((await runCli(['profile', 'learn', NETFLIX, '-o', file])).status).toBe(0);
    const r = await runCli(['profile', 'show', file]);
    expect(r.status, r.stderr).toBe(0);
    const p = parseProfile(readFileSync(file, 'utf8'));
    expect(r.stdout).toContain(`Profile of ndpi__netflix.pcap (1035128 bytes, sha256 ${p.provenance.sha256})`);
    expect(r.stdout).toMatch(/mean rate\s+11\.18 kB\/s \(11180 B\/s\), 19\.92 packets\/s/);
    expect(r.stdout).toMatch(
      /level\s+bytes\/bin from\s+to\s+bins\s+share\s+B\/s mean\s+pkt\/s mean\s+stay p\s+dwell s/,
    );
    // level 0: 54 bins, stays with probability 46/54 → mean dwell 1/(1 − 46/54) = 6.75 s
    expect(r.stdout).toMatch(/\n\s+0\s+0\s+478\s+54\s+0\.6\s+69\.54\s+0\.7037\s+0\.8519\s+6\.75\n/);
    expect(r.stdout).toMatch(/Packet sizes \(wire bytes\): mean 561\.3, min 54, .* max 1514/);
    expect(r.stdout).toContain('most common: 66 B (34.5%), 1514 B (29.2%)');
    expect(r.stdout).toMatch(/Inter-arrival \(s\): p10 .*p99 .*\(1792 gaps\)/);
    expect(r.stdout).toMatch(/Bursts \(gaps < 1ms\): 1458; /);
    // both directions of netflix: 66 B ACKs (timestamps on) outnumber 54 B ones, full segments of 1514 B
    expect(r.stdout).toContain(
      'Link (as its packets show it): IPv4, full segments 1514 B (MTU 1500), TCP timestamps on (66 B ACKs)',
    );
    // learned without a filter, the profile has no other direction; with one, the client's packets (tshark: 915 on
    // the server's connections; 177 with 'tcp.len > 0' above 78 B, the sizes echoes draw from)
    expect(r.stdout).not.toContain('Reverse direction');
    const server = join(dir, 'server.json');
    expect((await runCli(['profile', 'learn', NETFLIX, '--filter', 'dst host 192.168.1.7', '-o', server])).status).toBe(
      0,
    );
    expect((await runCli(['profile', 'show', server])).stdout).toContain(
      'Reverse direction: 915 packets on the same connections, 177 with data larger than a pure ACK (echo records take their sizes)',
    );
  });

  it('--json gives the summary; --plot writes SVG or HTML with the learned and sampled series', async () => {
    const file = join(dir, 'netflix.json');
    const svg = join(dir, 'p.svg');
    const html = join(dir, 'p.html');
    const j = await runCli(['profile', 'show', file, '--json', '--plot', svg]);
    expect(j.status, j.stderr).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s.levels.map((l: { bins: number }) => l.bins).reduce((a: number, b: number) => a + b, 0)).toBe(90);
    expect(s.levels[0]).toMatchObject({ level: 0, bins: 54, meanDwellSeconds: 6.75 });
    expect(j.stderr).toBe(`smig profile: plot written to ${svg}\n`);
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text).toContain('sampled from the chain (seed 1)');
    expect((await runCli(['profile', 'show', file, '--plot', html, '--seed', '5'])).status).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain('sampled from the chain (seed 5)');
    expect((await runCli(['profile', 'show', file, '--plot', join(dir, 'p.png')])).stderr).toBe(
      'smig profile show: --plot: FILE must end in .svg or .html\n',
    );
  });

  it('refuses a profile of another version, a broken one, or no profile at all', async () => {
    const good = JSON.parse(readFileSync(join(dir, 'netflix.json'), 'utf8'));
    const v2 = join(dir, 'v3.json');
    writeFileSync(v2, JSON.stringify({ ...good, version: 3 }));
    const broken = join(dir, 'broken.json');
    good.chain.probabilities[0][0] = 0.5;
    writeFileSync(broken, JSON.stringify(good));
    const cases: [string, string][] = [
      [
        v2,
        `smig profile show: ${v2}: version: 3: this smig reads profile versions 1 and 2 (re-learn it with smig profile learn)\n`,
      ],
      [
        broken,
        `smig profile show: ${broken}: chain.probabilities[0]: sums to ${0.5 + good.chain.probabilities[0][1] + good.chain.probabilities[0][2]}, not 1 (within 1e-9)\n`,
      ],
      [TLS, `smig profile show: ${TLS}: not JSON (Unexpected token '?', "??????????"... is not valid JSON)\n`],
      [join(dir, 'missing.json'), `smig profile show: ${join(dir, 'missing.json')}: cannot read (ENOENT)\n`],
    ];
    for (const [file, err] of cases) {
      const r = await runCli(['profile', 'show', file]);
      expect(r.status, file).toBe(2);
      expect(r.stderr, file).toBe(err);
    }
  });
});

describe('smig profile plan', () => {
  it('prints the expected time against the lower bound, and the plan as JSON', async () => {
    const file = join(dir, 'netflix.json');
    const r = await runCli(['profile', 'plan', file, '--size', '100MB', '--strategy', 'constant', '--seed', '9']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'Pacing plan: strategy constant, seed 9, bin 1s, overhead 88 B per write (TLS 22 + TCP/IP 52 + link 14)',
    );
    // constant at 11182.4 B/s: writes of 1448 B payload per 1536 B on the wire
    const expected = (1e8 * 1536) / (11182.4 * 1448);
    expect(r.stdout).toContain(`one hop            ${Number(expected.toPrecision(4))} s (`);
    // the session: source → relay → leader → destination, each hop after a 0.25 s cushion; constant draws nothing random
    expect(r.stdout).toMatch(
      /expected time {6}[\d.]+ s .*\(simulated session: every hop at the constant rate, after its cushion\), 1 data relay\n/,
    );
    expect(r.stdout).toContain(`lower bound        ${Number((1e8 / 11182.4).toPrecision(4))} s`);
    const j = await runCli(['profile', 'plan', file, '--size', '1GiB', '--json', '--seed', '1']);
    expect(j.status, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out.plan).toMatchObject({ strategy: 'profile', seed: 1, binNs: '1000000000' });
    expect(out.duration).toMatchObject({
      strategy: 'profile',
      bytes: 1024 ** 3,
      lowerBoundSeconds: 1024 ** 3 / 11182.4,
    });
    expect(out.duration.expectedSeconds / out.duration.lowerBoundSeconds).toBeGreaterThan(1);
    expect(out.planBytes).toBe(Buffer.byteLength(JSON.stringify(out.plan)));
    expect(out.session.dataRelays).toBe(1);
    expect(out.session.p05).toBeLessThanOrEqual(out.session.p50);
    expect(out.session.p50).toBeLessThanOrEqual(out.session.p95);
    expect(out.session.p05).toBeGreaterThanOrEqual(out.duration.lowerBoundSeconds);
    // 1 GiB at 11 kB/s lasts a day: far longer than the trace the plan carries, and stderr says so
    expect(out.plan.profile.trace.sizes.length).toBeGreaterThan(0);
    expect(j.stderr).toMatch(
      /^smig profile plan: warning: a session of 1073741824 bytes lasts at least \d+ s .* × its trace/,
    );
    expect(r.stderr).toBe(''); // constant carries no trace
  });

  it('refuses an unknown strategy or a missing size', async () => {
    const file = join(dir, 'netflix.json');
    const a = await runCli(['profile', 'plan', file, '--size', '1MB', '--strategy', 'warp']);
    expect([a.status, a.stderr]).toEqual([
      2,
      "smig profile plan: --strategy: 'warp' is not one of bulk, constant, profile, replay\n",
    ]);
    const b = await runCli(['profile', 'plan', file]);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/required option '--size <size>' not specified/);
  });
});
