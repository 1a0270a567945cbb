/** The progress lines of a long operation (src/cli/progress.ts), on a fake clock: text, live line, JSON events. */
import { describe, expect, it } from 'vitest';
import { formatEta, formatSample, Progress } from '../../src/cli/progress.js';
import { createLogger } from '../../src/util/log.js';

function sink(isTTY = false): { text: string; write(s: string): boolean; isTTY: boolean } {
  return {
    text: '',
    isTTY,
    write(s: string): boolean {
      this.text += s;
      return true;
    },
  };
}

describe('Progress', () => {
  it('one line per interval: the interval, bytes of the total, %, the rate over the interval, ETA at the mean rate', () => {
    let now = 0;
    const out = sink();
    const p = new Progress({
      label: 'smig send',
      total: 100_000,
      intervalMs: 1000,
      sink: out,
      live: false,
      now: () => now,
    });
    now = 1000;
    p.update(10_000);
    p.tick();
    now = 2000;
    p.update(30_000);
    p.tick();
    expect(out.text).toBe(
      'smig send: [   0.0-1.0 s]  10 kB of 100 kB  10.0 %  10 kB/s  ETA 9 s\n' +
        'smig send: [   1.0-2.0 s]  30 kB of 100 kB  30.0 %  20 kB/s  ETA 5 s\n',
    );
  });

  it('an unknown total (stdin): no % and no ETA', () => {
    expect(
      formatSample({
        fromSeconds: 0,
        toSeconds: 1,
        done: 1500,
        total: null,
        rate: 1500,
        percent: null,
        etaSeconds: null,
      }),
    ).toBe('[   0.0-1.0 s]  1.5 kB  1.5 kB/s');
  });

  it('on a terminal: one live line, cleared before other stderr lines and at the end', () => {
    let now = 0;
    const out = sink(true);
    const p = new Progress({ label: 'smig send', total: 1000, intervalMs: 500, sink: out, live: true, now: () => now });
    const other = p.wrap(out);
    now = 500;
    p.update(250);
    p.tick();
    other.write('log line\n');
    p.stop();
    expect(out.text).toBe(
      '\r\x1b[Ksmig send: [   0.0-0.5 s]  250 B of 1 kB  25.0 %  500 B/s  ETA 2 s\r\x1b[Klog line\n',
    );
  });

  it('with a json logger: progress events with numbers', () => {
    let now = 0;
    const out = sink();
    const p = new Progress({
      label: 'smig send',
      total: 2000,
      intervalMs: 1000,
      sink: out,
      live: false,
      now: () => now,
    });
    p.setLog(createLogger({ format: 'json', sink: out, component: 'send', now: () => new Date(0) }));
    now = 2000;
    p.update(1000);
    p.tick();
    expect(JSON.parse(out.text)).toEqual({
      ts: '1970-01-01T00:00:00.000Z',
      component: 'send',
      event: 'progress',
      from: 0,
      to: 2,
      bytes: 1000,
      total: 2000,
      bytesPerSecond: 500,
      percent: 50,
      etaSeconds: 2,
    });
  });

  it('interval 0: nothing at all', () => {
    const out = sink();
    const p = new Progress({ label: 'x', total: 10, intervalMs: 0, sink: out, live: false, now: () => 5 });
    p.start();
    p.update(5);
    p.tick();
    p.stop();
    expect(out.text).toBe('');
  });

  it.each([
    [4.4, '4 s'],
    [65, '1m 05s'],
    [7380, '2h 03m'],
    [Infinity, '?'],
  ])('ETA %d s → %s', (s, text) => {
    expect(formatEta(s)).toBe(text);
  });
});
