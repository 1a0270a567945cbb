/**
 * The bench's per-hop pacing report (bench/site.ts `runHops`): the source's hops from its `--json` summary, matched
 * to the data relays by address, and the relays' and leader's from the last `pacing` event of their JSON logs;
 * a hop without a report (a cut line, no event) is left out rather than guessed.
 */
import { describe, expect, it } from 'vitest';
import { runHops } from '../../src/bench/site.js';

const event = (fields: Record<string, unknown>): string => JSON.stringify({ time: 't', event: 'pacing', ...fields });

describe('runHops', () => {
  it('names each hop as its link and reads writes, seconds, PAD and pauses', () => {
    const source = [
      { hop: 'source → 10.0.0.3:4000', writes: 7, payloadBytes: 700, seconds: 2, lateness: { p99: 0.5 } },
      { hop: 'source → 10.0.0.2:4000', writes: 9, payloadBytes: 900, seconds: 3, padBytes: 90, pausedSeconds: 0 },
    ];
    const relay1 = [
      '{"event":"listening","addr":"10.0.0.2:4000"}',
      event({ hop: 'relay 0 → leader x', writes: 1, payloadBytes: 1, seconds: 0.1, lateP99: 1 }),
      event({
        hop: 'relay 0 → leader x',
        writes: 11,
        payloadBytes: 1100,
        seconds: 4,
        padBytes: 110,
        pausedSeconds: 1.5,
        dataSeconds: 3.5,
        lateP99: 2,
      }),
      '',
    ].join('\n');
    const relay2 = `${event({ writes: 5 }).slice(0, 20)}\n`; // cut short: no report
    const leader = event({ writes: 20, payloadBytes: 2000, seconds: 6, padBytes: 0, pausedSeconds: 2.25, lateP99: 3 });
    const hops = runHops(
      source,
      [
        { name: 'data relay 1', addr: '10.0.0.2:4000', proc: { stderr: relay1 } },
        { name: 'data relay 2', addr: '10.0.0.3:4000', proc: { stderr: relay2 } },
      ],
      { name: 'leader', proc: { stderr: leader } },
    );
    expect(hops).toEqual([
      {
        hop: 'source → data relay 1',
        seconds: 3,
        writes: 9,
        frameBytes: 900,
        padBytes: 90,
        pausedSeconds: 0,
        lateP99Ms: Number.NaN,
      },
      { hop: 'source → data relay 2', seconds: 2, writes: 7, frameBytes: 700, lateP99Ms: 0.5 },
      // the last event of the log counts
      {
        hop: 'data relay 1 → leader',
        seconds: 4,
        writes: 11,
        frameBytes: 1100,
        padBytes: 110,
        pausedSeconds: 1.5,
        dataSeconds: 3.5,
        lateP99Ms: 2,
      },
      {
        hop: 'leader → destination',
        seconds: 6,
        writes: 20,
        frameBytes: 2000,
        padBytes: 0,
        pausedSeconds: 2.25,
        lateP99Ms: 3,
      },
    ]);
  });

  it('reads nothing from logs without a pacing event or of a bulk run, and no field it does not know as a number', () => {
    const bulk = event({ strategy: 'bulk', writes: 3, payloadBytes: 300, seconds: 0.1, lateP99: 0 });
    expect(
      runHops(
        [{ hop: 'source → a', strategy: 'bulk', writes: 3 }],
        [{ name: 'data relay 1', addr: 'a', proc: { stderr: bulk } }],
        {
          name: 'leader',
          proc: { stderr: bulk },
        },
      ),
    ).toEqual([]);
    expect(
      runHops([], [{ name: 'data relay 1', addr: 'a', proc: { stderr: 'no json here\n' } }], {
        name: 'leader',
        proc: { stderr: '' },
      }),
    ).toEqual([]);
    const [h] = runHops([], [], {
      name: 'leader',
      proc: { stderr: event({ writes: '9', seconds: null, payloadBytes: 1e400 }) },
    });
    expect(h!.writes).toBeNaN();
    expect(h!.seconds).toBeNaN();
    expect(h!.frameBytes).toBeNaN();
  });
});
