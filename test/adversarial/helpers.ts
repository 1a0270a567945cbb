/**
 * Helpers of the adversarial suite: hostile peers as their own processes (fake-peer.mjs, built on dist/ with
 * the cluster key) next to real `smig` daemons on 127.0.0.1, and a scratch directory with a cluster key and a
 * destination identity.
 */

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ROOT, runBin } from '../helpers/cli.js';

const FAKE_PEER: string = fileURLToPath(new URL('./fake-peer.mjs', import.meta.url));
const fakes = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const c of fakes) c.kill('SIGKILL');
});

/** A running fake-peer.mjs. */
export interface FakePeer {
  addr: string;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `fake-peer.mjs MODE ...args` and waits for its address. */
export async function startFakePeer(args: string[]): Promise<FakePeer> {
  const child = spawn(process.execPath, [FAKE_PEER, ...args], { cwd: ROOT });
  fakes.add(child);
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  let err = '';
  const exited = once(child, 'exit');
  const addr = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`fake peer: no address within 20 s; stderr:\n${err}`)), 20_000);
    child.stderr.on('data', (s: string) => {
      err += s;
      const m = /fake-peer listening (\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    void exited.then(() => reject(new Error(`fake peer exited; stderr:\n${err}`)));
  });
  return {
    addr,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      fakes.delete(child);
    },
  };
}

/** A scratch directory with `cluster.key`, an identity `dest.id` (+ `.pub`) and an empty `out/`. */
export async function scratch(
  prefix: string,
): Promise<{ dir: string; keyFile: string; idFile: string; outDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const keyFile = join(dir, 'cluster.key');
  const idFile = join(dir, 'dest.id');
  const outDir = join(dir, 'out');
  mkdirSync(outDir);
  const k = await runBin(['keygen', '-o', keyFile]);
  expect(k.status, k.stderr).toBe(0);
  const id = await runBin(['keygen', '--identity', '-o', idFile]);
  expect(id.status, id.stderr).toBe(0);
  return { dir, keyFile, idFile, outDir };
}

/** The last line of a text. */
export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

/**
 * The argv of a `smig send` in these tests: the scratch's cluster key, sealed to the scratch's destination
 * identity unless `sealed` is false, then `extra` (e.g. `--leader`, `--json`).
 */
export function sendArgv(
  s: { keyFile: string; idFile: string },
  o: { file: string; dest: string; data: string; keys: string; threshold: number; sealed?: boolean; extra?: string[] },
): string[] {
  return [
    'send',
    o.file,
    '--key',
    s.keyFile,
    '--dest',
    o.dest,
    ...(o.sealed === false ? [] : ['--dest-key', `${s.idFile}.pub`]),
    '--data-relays',
    o.data,
    '--key-relays',
    o.keys,
    '--threshold',
    String(o.threshold),
    ...(o.extra ?? []),
  ];
}
