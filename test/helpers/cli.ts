/** Test helpers: run the smig CLI in-process (main) or as a real process (bin/smig). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export const ROOT: string = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES: string = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const BIN: string = fileURLToPath(new URL('../../bin/smig', import.meta.url));

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `main(argv)` in this process, collecting stdout and stderr. */
export async function runCli(argv: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
  });
  return { status, stdout, stderr };
}

/** Runs the built `bin/smig` as a child process (needs `npm run build` first, as `npm test` does). */
export function runBin(
  argv: string[],
  opts: { input?: Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { cwd: ROOT, env: { ...process.env, ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    // a command may refuse and exit before it reads its input: EPIPE on our end of the pipe is not an error
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
