/**
 * The timers the controller's logic runs on: FakeClock's callback timers (order, cancel, repeat) and a hook's
 * time limit then kill grace on a FakeClock. The hooks are real processes; only their clock is fake, so the
 * SIGTERM and the SIGKILL go out when the test moves the clock, never because real time passed.
 */
import { describe, expect, it } from 'vitest';
import type { HookResult } from '../../src/control/hooks.js';
import { parseHookSpec, runHook } from '../../src/control/hooks.js';
import { FakeClock, repeat } from '../../src/pacing/clock.js';
import { turns } from '../helpers/control-core.js';

describe('FakeClock timers', () => {
  it('fire in time order (creation order on a tie), at their own time, unless cancelled', async () => {
    const clock = new FakeClock({ wallStart: 1_000_000 });
    const fired: [string, number, number][] = [];
    const at = (name: string) => (): void => void fired.push([name, clock.now(), clock.wallNow()]);
    clock.timer(300, at('c'));
    clock.timer(100, at('a'));
    const dropped = clock.timer(200, at('dropped'));
    clock.timer(100, at('b'));
    void clock.sleep(250).then(at('sleeper'));
    dropped.cancel();
    expect(clock.pending).toBe(4);
    await clock.advance(299);
    expect(fired).toEqual([
      ['a', 100, 1_000_100],
      ['b', 100, 1_000_100],
      ['sleeper', 250, 1_000_250],
    ]);
    await clock.advance(1);
    expect(fired.map((f) => f[0])).toEqual(['a', 'b', 'sleeper', 'c']);
    expect(clock.pending).toBe(0);
  });

  it('repeat runs every interval until cancelled', async () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    const r = repeat(clock, 1000, () => ticks.push(clock.now()));
    await clock.advance(3500);
    expect(ticks).toEqual([1000, 2000, 3000]);
    r.cancel();
    await clock.advance(5000);
    expect(ticks).toEqual([1000, 2000, 3000]);
    expect(clock.pending).toBe(0);
  });
});

/** Runs `command` as a hook on `clock`, resolving `ready` at its first output line. */
function hook(
  command: string,
  clock: FakeClock,
): { result: Promise<HookResult>; ready: Promise<void>; done: () => HookResult | undefined } {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  let done: HookResult | undefined;
  const result = runHook(parseHookSpec(`failed=${command}`), 0, {
    env: {},
    timeoutMs: 1000,
    killGraceMs: 5000,
    clock,
    onOutput: (line) => {
      if (line === 'ready') ready();
    },
  });
  void result.then((r) => (done = r));
  return { result, ready: isReady, done: () => done };
}

describe('hook time limit on a fake clock', () => {
  it('SIGTERM at the limit ends a hook that does not resist; the kill timer is dropped', async () => {
    const clock = new FakeClock();
    const h = hook('echo ready; exec sleep 30', clock);
    await h.ready;
    await clock.advance(999);
    await turns();
    expect(h.done()).toBeUndefined();
    await clock.advance(1);
    const r = await h.result;
    expect(r).toMatchObject({ status: 143, timedOut: true, error: 'timed out after 1000 ms (status 143)', ms: 1000 });
    expect(clock.pending).toBe(0);
  });

  it('a hook that ignores SIGTERM is killed after the grace, not before', async () => {
    const clock = new FakeClock();
    const h = hook('trap "" TERM; echo ready; sleep 30', clock);
    await h.ready;
    await clock.advance(1000); // SIGTERM, ignored by the shell and by the sleep it starts
    await clock.advance(4999);
    await turns(2000);
    expect(h.done()).toBeUndefined();
    await clock.advance(1); // SIGKILL to the process group
    const r = await h.result;
    expect(r).toMatchObject({ status: 137, timedOut: true, error: 'timed out after 1000 ms (status 137)', ms: 6000 });
  });
});
