/**
 * Attack: an IDS alert hidden at a read boundary. The controller reads the EVE file 64 KiB at a time into one
 * reused buffer; before, the start of a line cut by a read was held as a view of that buffer, so the next
 * read overwrote it and the alert was dropped as "malformed" (or spliced into another line). An attacker
 * who can make the IDS log flow events (any traffic) pads the log so that its alert straddles a boundary.
 * Here four alerts straddle the 1st … 4th 64 KiB boundary, cut after their first byte, in the middle,
 * before their last byte, and just before their newline. Each must trigger; the first one, for a host with
 * a live agent, must migrate it for real.
 * Real processes on 127.0.0.1: `smig control` and four `smig relay --controller` agents.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRandomFile, sha256File } from '../e2e/migration-helpers.js';
import type { Proc } from './control-cluster.js';
import { ClusterFiles, events, freePort, spawnRelay, stopAll, until } from './control-cluster.js';

const READ = 64 * 1024; // the follower's read size (src/control/eve.ts)
const agents = ['h0', 'h1', 'h2', 'h3'];
const lonely = ['s1', 's2', 's3']; // in the inventory, no agent: their alerts are refused, but must be heard
const ip = (n: string): string =>
  n.startsWith('h') ? `10.88.3.${Number(n.slice(1)) + 1}` : `10.88.4.${Number(n.slice(1))}`;
const c = new ClusterFiles();
let ctl: Proc;
let sum: string;

function alertLine(host: string): string {
  return JSON.stringify({
    timestamp: '2024-05-01T10:00:00.123456+0000',
    flow_id: 42,
    event_type: 'alert',
    src_ip: '198.51.100.23',
    src_port: 4444,
    dest_ip: ip(host),
    dest_port: 22,
    proto: 'TCP',
    alert: {
      action: 'allowed',
      gid: 1,
      signature_id: 2001219,
      rev: 20,
      signature: `ET SCAN straddling ${host}`,
      severity: 1,
    },
  });
}

/** A flow event of exactly `bytes` bytes, newline included. */
function flowLine(bytes: number): string {
  const head = '{"event_type":"flow","src_ip":"192.0.2.1","pad":"';
  const tail = '"}\n';
  if (bytes < head.length + tail.length) throw new Error(`a flow line needs ${head.length + tail.length} bytes`);
  return `${head}${'f'.repeat(bytes - head.length - tail.length)}${tail}`;
}

beforeAll(async () => {
  await c.init([...agents, ...lonely]);
  const ports = await Promise.all(agents.map(() => freePort()));
  c.writeInventory([
    ...agents.map((n, i) => ({ name: n, address: `127.0.0.1:${ports[i]}`, ip: ip(n) })),
    ...lonely.map((n, i) => ({ name: n, address: `127.0.0.1:${21600 + i}`, ip: ip(n) })),
  ]);
  sum = await makeRandomFile(join(c.dir, 'vm.img'), 1024 * 1024 + 7);
  ctl = await c.startController([
    '--data-relays',
    '1',
    '--key-relays',
    '1',
    '--threshold',
    '1',
    '--host-wait',
    '5s',
    '--cooldown',
    '1m',
  ]);
  await Promise.all(
    agents.map((n, i) => {
      mkdirSync(join(c.dir, `out-${n}`));
      return spawnRelay(c.keyFile, [
        '--listen',
        `127.0.0.1:${ports[i]}`,
        '--controller',
        c.controllerAddr,
        '--name',
        n,
        '--identity',
        c.idFile(n),
        '--out',
        join(c.dir, `out-${n}`),
        '--source',
        `vm=${join(c.dir, 'vm.img')}`,
        '--log-format',
        'json',
      ]);
    }),
  );
  await until('every agent registered', async () => {
    const st = await c.status();
    return agents.every((n) => st.hosts.find((h) => h.name === n)!.state === 'available') ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await stopAll();
  expect(ctl.stderr).not.toMatch(/internal-error/);
  c.remove();
}, 30_000);

describe('EVE alerts straddling a read boundary', () => {
  it('each triggers, wherever the boundary cuts it; the first migrates its host', async () => {
    const targets = ['h0', ...lonely];
    let text = '';
    targets.forEach((host, k) => {
      const line = alertLine(host);
      const cuts = [1, Math.floor(line.length / 2), line.length - 1, line.length]; // bytes of the line before the boundary
      const start = (k + 1) * READ - cuts[k]!;
      for (let left = start - text.length; left > 0; ) {
        const n = left > 2000 ? 1000 : left;
        text += flowLine(n);
        left -= n;
      }
      expect(text.length).toBe(start);
      text += `${line}\n`;
    });
    text += flowLine(500);
    expect(Buffer.byteLength(text)).toBe(text.length); // ASCII: offsets are bytes
    // the whole file appears at once (a rotation): the follower reads it from its start, 64 KiB at a time
    const next = join(c.dir, 'eve.next');
    writeFileSync(next, text);
    renameSync(next, c.eve);

    for (const host of targets) await ctl.waitFor(new RegExp(`"event":"eve-alert","host":"${host}"`));
    await ctl.waitFor(/"event":"session-done"/, 60_000);
    const done = events(ctl).find((e) => e.event === 'session-done')!;
    expect(done).toMatchObject({ source: 'h0', bytes: 1024 * 1024 + 7 });
    expect(await sha256File(join(c.dir, `out-${String(done.destination)}`, 'vm.img'))).toBe(sum);
    const st = await c.status();
    expect(st.eve).toMatchObject({ malformed: 0, oversized: 0, alerts: 4, triggered: 1 });
    expect(
      events(ctl)
        .filter((e) => e.event === 'trigger-refused')
        .map((e) => e.host)
        .sort(),
    ).toEqual(lonely);
    expect(events(ctl).filter((e) => e.event === 'eve-warning' && e.kind === 'malformed')).toEqual([]);
  }, 90_000);
});
