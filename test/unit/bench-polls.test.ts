/**
 * The bench's view of the polls for the outcome (src/bench/site.ts `pollLinks`, src/bench/key-flows.ts): every
 * connection between the source and a data relay but the data connection, whose local port the source's
 * `session-open` event logs. Oracle: tshark's conversation table of a real lab capture (test/fixtures/poll-flows).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keyFlows, normalFlows, pollBytes } from '../../src/bench/key-flows.js';
import type { Daemon, Site } from '../../src/bench/site.js';
import { linkSpec, pollLinks, rolesOf } from '../../src/bench/site.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CAPTURE = join(ROOT, 'test', 'fixtures', 'poll-flows', 'polls.pcap');

/** The lab of that run: host j at 10.77.0.(j + 1), every daemon on port 7000. */
const site = { kind: 'lab', ip: (_slot: number, j: number) => `10.77.0.${j + 1}` } as unknown as Site;
const at = (j: number): Daemon => ({ addr: `10.77.0.${j + 1}:7000`, port: 7000, stderr: '' }) as unknown as Daemon;
const roles = rolesOf({ dataRelays: 2, keyRelays: 3, threshold: 2 });
const SOURCE_LOG = [
  '{"event":"session-start","dataRelays":2}',
  '{"event":"session-open","dataLinks":2,"keyLinks":3,"local":"10.77.0.2:7000<10.77.0.1:35486 10.77.0.3:7000<10.77.0.1:35174"}',
].join('\n');

describe('the polls of a lab run', () => {
  it('are every connection to a data relay but the data connection, each read as tshark reads it', async () => {
    const specs = pollLinks(site, 0, roles, () => CAPTURE, at, SOURCE_LOG);
    // the relays logged no port of their links to the leader here: only the source's two pairs
    expect(specs.map((s) => [s.link, s.filter])).toEqual([
      ['source → data relay 1 polls', 'tcp and src host 10.77.0.1 and dst host 10.77.0.2 and not src port 35486'],
      ['source → data relay 2 polls', 'tcp and src host 10.77.0.1 and dst host 10.77.0.3 and not src port 35174'],
    ]);
    const normal = await normalFlows(join(ROOT, 'captures', 'ndpi__netflix.pcap'));
    const polls = await keyFlows(specs, normal);
    // tshark: 45746 ↔ 10.77.0.2:7000, 20 frames, 2316 bytes, 15.0096 s; 57038 ↔ 10.77.0.3:7000, 20, 2464, 3.2252 s
    expect(polls.map((p) => [p.connections, p.packets, p.bytes])).toEqual([
      [1, 20, 2316],
      [1, 20, 2464],
    ]);
    expect(polls[0]!.seconds).toBeCloseTo(15.0096, 3);
    expect(polls[1]!.seconds).toBeCloseTo(3.2252, 3);
    // counted as bytes that are not payload, those the source sent among them
    expect(pollBytes(polls, roles.name(roles.S))).toEqual({ all: [2316, 2464], source: 4780 });
  });

  it('leave the data connection to the data link: its filter names the logged port', async () => {
    const data = linkSpec(site, 0, roles, () => CAPTURE, at, roles.S, roles.D[1]!, SOURCE_LOG);
    expect(data.filter).toBe('tcp and src host 10.77.0.1 and dst host 10.77.0.3 and src port 35174');
    const [flow] = await keyFlows([data], await normalFlows(join(ROOT, 'captures', 'ndpi__netflix.pcap')));
    // tshark: 35174 ↔ 10.77.0.3:7000, 47 frames in this cut
    expect(flow).toMatchObject({ connections: 1, packets: 47 });
  });

  it('are not looked for when the source logged no data connection (an older log)', () => {
    expect(pollLinks(site, 0, roles, () => CAPTURE, at, '{"event":"session-open","dataLinks":2}')).toEqual([]);
  });
});
