/**
 * The README's examples, run exactly as written: every line of a fenced `sh` block that calls `smig` (with its
 * `\` continuations) goes to `sh -c` in a scratch directory whose PATH has `smig` (bin/smig) and whose files have
 * the names the examples use (normal.pcap, site.pcap, vm.img, … copied from test/fixtures/captures; captures/ is
 * the repository's). So a
 * README form that stops working fails here. The lines of one block run in order (keygen makes the key the
 * next lines use; profile learn the profile that send --dry-run reads).
 *
 * Which lines run and which are only parsed is this list, not guesswork:
 * - RUN: `smig analyze`, `smig keygen`, `smig profile learn|show|plan`, and `smig send … --dry-run` — cheap,
 *   local, no root, nothing listens: each must exit 0.
 * - PARSE ONLY (SMIG_PARSE_ONLY=1, src/cli/spec.ts): everything else — daemons (`relay`, `recv`, `control`),
 *   a real `send`, `capture` and `lab` (root), `bench` and `demo` (minutes). Their `smig` segment (before a `|`
 *   or `>`) is parsed exactly as written — every option, argument and value checked — and must exit 0.
 * Every command's `--help` examples are parsed the same way. Needs `npm run build` (npm test does it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCommands } from '../../src/cli/commands/index.js';
import { BIN, FIXTURES, ROOT, runCli } from '../helpers/cli.js';

const COMMANDS = await loadCommands();

const dir = mkdtempSync(join(tmpdir(), 'smig-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The scratch directory: `smig` on PATH and the files the examples name. */
function scratch(): { cwd: string; env: NodeJS.ProcessEnv } {
  const cwd = mkdtempSync(join(dir, 'run-'));
  const bin = join(cwd, '.bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'smig'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(bin, 'smig'), 0o755);
  const cap = (name: string): string => join(FIXTURES, 'captures', name);
  for (const name of ['normal.pcap', 'site.pcap', 'a.pcap']) copyFileSync(cap('ndpi__netflix.pcap'), join(cwd, name));
  for (const name of ['b.pcap', 'run.pcap']) copyFileSync(cap('suricata__tls-subjectaltname.pcap'), join(cwd, name));
  copyFileSync(cap('lwerdna__200722_tcp_anon.pcapng'), join(cwd, 'migration.pcapng'));
  writeFileSync(join(cwd, 'a.pcap.gz'), gzipSync(readFileSync(cap('ndpi__netflix.pcap'))));
  writeFileSync(join(cwd, 'vm.img'), Buffer.alloc(250_000, 7));
  symlinkSync(join(ROOT, 'captures'), join(cwd, 'captures')); // the shipped captures, as in a clone
  return { cwd, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SMIG_PARSE_ONLY: undefined } };
}

/** Shell lines with their `\` continuations joined. */
function joinContinuations(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The fenced `sh` blocks of the README, each as its lines. */
export function readmeBlocks(readme: string): string[][] {
  return [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => joinContinuations(m[1]!));
}

/**
 * Cuts a shell line into its top-level segments at unquoted `|`, `>`, `&&`, `;` and a `#` comment, keeping each
 * segment's text exactly (quotes included).
 */
export function segments(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      cur += c;
      if (c === quote) quote = null;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      break;
    } else if (c === '|' || c === ';' || c === '>' || (c === '&' && line[i + 1] === '&')) {
      out.push(cur.trim());
      cur = '';
      if (c === '&' || (c === '|' && line[i + 1] === '|')) i++;
    } else {
      cur += c;
    }
  }
  out.push(cur.trim());
  return out.filter((s) => s !== '');
}

/** RUN or PARSE, by the list at the top of this file. */
export function modeOf(cmd: string): 'run' | 'parse' {
  if (/^smig (analyze|keygen|profile (learn|show|plan))\b/.test(cmd)) return 'run';
  if (/^smig send\b.*\s--dry-run\b/.test(cmd)) return 'run';
  return 'parse';
}

/**
 * Words of a simple command as sh splits them: whitespace separates, '…' and "…" quote (quotes removed, no
 * expansion: the examples quote what the shell must not touch), a backslash escapes the next character.
 */
export function shellWords(cmd: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (/\s/.test(c)) {
      if (cur !== null) words.push(cur);
      cur = null;
    } else if (c === "'" || c === '"') {
      const end = cmd.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced ${c} in ${cmd}`);
      cur = (cur ?? '') + cmd.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      cur = (cur ?? '') + (cmd[++i] ?? '');
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** Parses a `smig …` command in this process with SMIG_PARSE_ONLY=1 (cwd: `cwd`). */
async function parseOnly(cmd: string, cwd: string): Promise<{ status: number; stderr: string }> {
  const words = shellWords(cmd);
  expect(words[0]).toBe('smig');
  const before = process.cwd();
  process.env.SMIG_PARSE_ONLY = '1';
  process.chdir(cwd);
  try {
    const r = await runCli(words.slice(1));
    return { status: r.status, stderr: r.stderr };
  } finally {
    process.chdir(before);
    delete process.env.SMIG_PARSE_ONLY;
  }
}

function sh(line: string, cwd: string, env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const r = spawnSync('sh', ['-c', line], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = readmeBlocks(readme).map((lines) => lines.filter((l) => segments(l).some((s) => s.startsWith('smig '))));

describe('the README examples', () => {
  it('are found (a block format change must not make this test pass vacuously)', () => {
    const all = blocks.flat();
    expect(all.length).toBeGreaterThan(25);
    expect(
      all.filter((l) => modeOf(segments(l).find((s) => s.startsWith('smig '))!) === 'run').length,
    ).toBeGreaterThanOrEqual(10);
  });

  blocks.forEach((lines, b) => {
    if (lines.length === 0) return;
    it(`block ${b + 1}: ${lines.length} smig lines`, async () => {
      const { cwd, env } = scratch();
      for (const line of lines) {
        const cmd = segments(line).find((s) => s.startsWith('smig '))!;
        if (modeOf(cmd) === 'run') {
          const r = sh(line, cwd, env);
          expect(r.status, `${line}\n${r.stderr}`).toBe(0);
        } else {
          const r = await parseOnly(cmd, cwd);
          expect(r.status, `${cmd} (parsed only)\n${r.stderr}`).toBe(0);
          expect(r.stderr, cmd).toBe('');
        }
      }
    }, 300_000);
  });
});

describe('every --help example', () => {
  for (const c of COMMANDS) {
    it(`smig ${c.name}: each example parses`, async () => {
      const { cwd } = scratch();
      for (const example of c.examples.flatMap((e) => joinContinuations(e))) {
        for (const cmd of segments(example).filter((s) => s.startsWith('smig '))) {
          const r = await parseOnly(cmd, cwd);
          expect(r.status, `${cmd}\n${r.stderr}`).toBe(0);
        }
      }
    });
  }
});

describe('the parse-only mode the examples rely on', () => {
  it("splits words as sh does for the examples' quoting", () => {
    expect(shellWords(`smig analyze --class normal=site.pcap@"not port 22" -f 'tcp port 7100' a\\ b`)).toEqual([
      'smig',
      'analyze',
      '--class',
      'normal=site.pcap@not port 22',
      '-f',
      'tcp port 7100',
      'a b',
    ]);
    expect(segments(`pg_dump db | smig send - --key k   # a stream`)).toEqual(['pg_dump db', 'smig send - --key k']);
    expect(segments(`smig analyze a.pcap --json > report.json`)).toEqual(['smig analyze a.pcap --json', 'report.json']);
    expect(segments(`smig x --hook a='y | z # w'`)).toEqual([`smig x --hook a='y | z # w'`]);
  });

  it('still refuses what would not run: a bad option, a bad value, a missing required option', () => {
    const { cwd, env } = scratch();
    const parse = { ...env, SMIG_PARSE_ONLY: '1' };
    expect(sh('smig relay --listen 0.0.0.0:7000 --key k --frob', cwd, parse)).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^smig relay: unknown option '--frob'/),
    });
    expect(sh('smig relay --listen nowhere --key k', cwd, parse).status).toBe(2);
    expect(sh('smig recv --listen 0.0.0.0:7100 --key k', cwd, parse)).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/required option '--out <dir>'/),
    });
    expect(sh('smig lab up --hosts 0', cwd, parse).status).toBe(2);
    expect(sh('smig control status --listen 10.0.0.1:7700', cwd, parse).status).toBe(2);
    // and does nothing: no key file appears
    expect(sh('smig keygen -o made.key', cwd, parse).status).toBe(0);
    expect(execFileSync('ls', ['-A', cwd], { encoding: 'utf8' })).not.toMatch(/made\.key/);
  });
});
