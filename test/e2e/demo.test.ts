/**
 * `smig demo`, run as a real process (`node bin/smig demo --json`; needs `npm run build` and root: as root
 * the demo runs on a namespace lab, which the test checks is gone afterwards).
 *
 * Oracles: the payload's SHA-256 computed here from the payload file must be what both migrations delivered;
 * `bulk` must be distinguishable on every link (the pacing test's finding: its whole transfer falls in one bin,
 * bytes per bin p = 2/91); `profile`'s source → data relay link, the one pacer that always has data at hand,
 * must not be distinguishable on packets nor bytes per bin with at least 60 bins a side. KS at α = 0.05 rejects
 * even a perfect imitation 5 % of the time per feature, so a failed profile verdict is retried with a fresh run
 * (as test/e2e/pacing-capture.test.ts does), and every attempt is printed. Up to three attempts: the
 * packet-shaped pacer's run time varies (35–85 s for the demo's 250 kB), and its short runs have fewer bins than
 * the test needs or fail on the source link (p 4e-8 seen at 57 bins); the README records this weakness.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../src/bench/demo.js';
import { listNamespaces } from '../../src/lab/lab.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'smig-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function smig(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'smig'), ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

const show = (r: DemoResult): string =>
  r.verdicts
    .map(
      (v) =>
        `${v.strategy} ${v.link}: packets D ${v.packets.D.toFixed(3)} p ${v.packets.p.toPrecision(3)} n ${v.packets.n} m ${v.packets.m}; bytes D ${v.bytes.D.toFixed(3)} p ${v.bytes.p.toPrecision(3)}`,
    )
    .join('\n');

describe('smig demo', () => {
  it('rejects a payload size out of range with a usage error and no stack trace', async () => {
    const r = await smig(['demo', '--size', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--size/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('says in --help where the hosts run: a namespace lab as root, 127.0.0.1 otherwise', async () => {
    const r = await smig(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/127\.0\.0\.1/);
    expect(r.stdout).toMatch(/network-namespace lab/);
    expect(r.stdout).toMatch(/--hosts <site>/);
  });

  it("bulk is distinguishable on every link, profile's source link is not, and the report is written", async () => {
    const attempts: string[] = [];
    let passed = false;
    for (let i = 0; i < 3 && !passed; i++) {
      const out = join(dir, `run-${i}`);
      const t0 = performance.now();
      const r = await smig(['demo', '--json', '--out', out]);
      const wall = (performance.now() - t0) / 1000;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/smig demo: normal capture .*: profile learned/);
      const j = JSON.parse(r.stdout) as DemoResult;
      expect(j.out).toBe(out);
      expect(j.hosts).toBe('lab'); // the tests run as root
      expect(r.stderr).toMatch(/smig demo: lab demo: 5 hosts/);
      expect(await listNamespaces('smig-demo-')).toEqual([]);
      const sha = createHash('sha256').update(readFileSync(j.payload)).digest('hex');
      expect(readFileSync(j.payload).length).toBe(250_000);
      expect(j.migrations.map((m) => [m.strategy, m.sha256])).toEqual([
        ['bulk', sha],
        ['profile', sha],
      ]);
      const links = ['source → data relay', 'data relay → leader', 'leader → destination'];
      expect(j.verdicts.map((v) => [v.strategy, v.link])).toEqual([
        ...links.map((l) => ['bulk', l]),
        ...links.map((l) => ['profile', l]),
      ]);
      for (const v of j.verdicts) expect(v.distinguishable).toBe(v.packets.distinguishable || v.bytes.distinguishable);
      for (const v of j.verdicts.filter((x) => x.strategy === 'bulk')) expect(v.distinguishable, v.link).toBe(true);
      expect(j.report).toBe(join(out, 'report.html'));
      const html = readFileSync(j.report, 'utf8');
      expect(html).toMatch(/<html/i);
      for (const name of ['normal', 'traditional (bulk)', 'stealth (profile)']) expect(html).toContain(name);
      expect(existsSync(j.profile)).toBe(true);
      attempts.push(`attempt ${i + 1} (${wall.toFixed(1)} s):\n${show(j)}`);
      const src = j.verdicts.find((v) => v.strategy === 'profile' && v.link === 'source → data relay')!;
      passed =
        Math.min(src.packets.n, src.packets.m) >= 60 && !src.packets.distinguishable && !src.bytes.distinguishable;
    }
    console.log(attempts.join('\n'));
    expect(passed, attempts.join('\n')).toBe(true);
  }, 330_000);
});
