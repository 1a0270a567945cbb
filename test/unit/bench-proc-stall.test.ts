import { describe, expect, it } from 'vitest';
import { exitedOrStalled, runProc } from '../../src/bench/proc.js';

// real children; the margins are wide (a child that writes every 50 ms against a stall of seconds, so that a slow
// start of node under load does not look like a stall where the test wants none)
const node = process.execPath;

describe('exitedOrStalled', () => {
  it('stops a child that writes nothing and says it stalled', async () => {
    const p = runProc(['-e', 'setInterval(() => {}, 1000)'], node);
    expect(await exitedOrStalled(p, 300)).toBe('stalled');
    expect(p.child.signalCode).toBe('SIGTERM');
  });

  it('kills a child that ignores SIGTERM', async () => {
    const p = runProc(
      ['-e', "process.on('SIGTERM', () => {}); console.error('ready'); setInterval(() => {}, 1000)"],
      node,
    );
    expect(await exitedOrStalled(p, 500)).toBe('stalled');
    expect(p.child.signalCode).toBe('SIGKILL');
  }, 15_000);

  it('waits for a child that keeps writing, and returns its exit code', async () => {
    const p = runProc(
      [
        '-e',
        "let n = 0; const t = setInterval(() => { console.error('tick'); if (++n === 20) { clearInterval(t); process.exitCode = 3; } }, 50)",
      ],
      node,
    );
    expect(await exitedOrStalled(p, 3000)).toBe(3);
    expect(p.stderr.split('tick').length - 1).toBe(20);
  });

  it('stops a child that writes but never begins what it was asked to', async () => {
    const p = runProc(['-e', "setInterval(() => console.error('waiting'), 50)"], node);
    expect(await exitedOrStalled(p, 3000, /session-start/)).toBe('stalled');
    expect(p.stderr).toContain('waiting');
  });

  it('lets a child that began go on past the stall time while it writes', async () => {
    const p = runProc(
      [
        '-e',
        "console.error('session-start'); let n = 0; const t = setInterval(() => { console.error('tick'); if (++n === 100) { clearInterval(t); } }, 50)",
      ],
      node,
    );
    expect(await exitedOrStalled(p, 3000, /session-start/)).toBe(0); // it wrote for 5 s
  });
});
