/**
 * The destination's `--exec` hook (destination.ts): runs the operator's command on the installed file with a
 * time limit and reports its exit status.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';

/** Runs `/bin/sh -c CMD smig-exec PATH`; status is the exit code, or 128 + the signal number. */
export function runExec(
  cmd: string,
  path: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', cmd, 'smig-exec', path], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ status: 127, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const sig = signal === null ? 0 : (osConstants.signals[signal] ?? 0);
      resolve({ status: code ?? 128 + sig, timedOut });
    });
  });
}
