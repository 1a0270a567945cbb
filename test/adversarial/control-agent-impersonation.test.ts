/**
 * Attack: a holder of the cluster key registers with `smig control` as another host — to be told the
 * sessions meant for it (receive the payload as a destination, relay it) or to hide the real host. Before,
 * the controller checked only that the agent's relay port matched the inventory. Now an agent must sign the
 * controller's challenge with the identity whose public key the inventory gives for that host.
 * Real processes on 127.0.0.1: `smig control` and `smig relay --controller` agents; the impostor listens on
 * 127.0.0.2 with the victim's port, so the old port check would have let it in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from './control-cluster.js';
import { ClusterFiles, events, freePort, spawnRelay, stopAll, until } from './control-cluster.js';

const c = new ClusterFiles();
let ctl: Proc;
let h0: Proc;
let victimPort: number;

beforeAll(async () => {
  await c.init(['h0', 'h1']);
  const h0Port = await freePort();
  victimPort = await freePort();
  c.writeInventory([
    { name: 'h0', address: `127.0.0.1:${h0Port}`, ip: '10.88.1.1' },
    { name: 'h1', address: `127.0.0.1:${victimPort}`, ip: '10.88.1.2' },
  ]);
  ctl = await c.startController();
  // h0 is a genuine host; its owner (holding h0's identity and the cluster key) turns against h1
  h0 = await spawnRelay(c.keyFile, [
    '--listen',
    `127.0.0.1:${h0Port}`,
    '--controller',
    c.controllerAddr,
    '--name',
    'h0',
    '--identity',
    c.idFile('h0'),
    '--log-format',
    'json',
  ]);
  await ctl.waitFor(/"event":"agent-registered","host":"h0"/);
}, 30_000);

afterAll(async () => {
  await stopAll();
  expect(ctl.stderr).not.toMatch(/internal-error/);
  c.remove();
});

async function impostor(extra: string[]): Promise<Proc> {
  return spawnRelay(c.keyFile, [
    '--listen',
    `127.0.0.2:${victimPort}`,
    '--controller',
    c.controllerAddr,
    '--name',
    'h1',
    '--log-format',
    'json',
    ...extra,
  ]);
}

describe('an agent registering as another host', () => {
  it('with its own identity: refused, h1 stays offline', async () => {
    const p = await impostor(['--identity', c.idFile('h0')]);
    const refused = await ctl.waitFor(/"event":"agent-refused","remote":"[^"]+","reason":"([^"]+)"/);
    expect(refused[1]).toMatch(
      /^h1: registration refused: the signature does not verify against h1's inventory key \(SHA256:[A-Za-z0-9+/]{43}\)$/,
    );
    await p.waitFor(/"event":"registration-refused"/);
    expect((await c.status()).hosts.find((h) => h.name === 'h1')!.state).toBe('offline');
    await p.stop();
  });

  it('without an identity: refused as not signed', async () => {
    const p = await impostor([]);
    await p.waitFor(
      /"event":"registration-refused",[^\n]*"reason":"h1: registration refused: not signed \(h1's inventory key is required: start it with --identity FILE\)"/,
    );
    expect((await c.status()).hosts.find((h) => h.name === 'h1')!.state).toBe('offline');
    await p.stop();
  });

  it('the genuine h1 registers, and a later impostor cannot take its place', async () => {
    const h1 = await spawnRelay(c.keyFile, [
      '--listen',
      `127.0.0.1:${victimPort}`,
      '--controller',
      c.controllerAddr,
      '--name',
      'h1',
      '--identity',
      c.idFile('h1'),
      '--log-format',
      'json',
    ]);
    await h1.waitFor(/"event":"registered",[^\n]*"host":"h1"/);
    const p = await impostor(['--identity', c.idFile('h0')]);
    await p.waitFor(/"event":"registration-refused"/);
    await p.stop();
    const s = await until('h1 available', async () => {
      const st = await c.status();
      return st.hosts.every((h) => h.state === 'available') ? st : undefined;
    });
    expect(s.hosts.map((h) => [h.name, h.state])).toEqual([
      ['h0', 'available'],
      ['h1', 'available'],
    ]);
    const registered = events(ctl)
      .filter((e) => e.event === 'agent-registered')
      .map((e) => [e.host, String(e.remote).split(':')[0]]);
    expect(registered).toEqual([
      ['h0', '127.0.0.1'],
      ['h1', '127.0.0.1'],
    ]); // never the impostor's 127.0.0.2
    expect(events(ctl).filter((e) => e.event === 'agent-lost')).toEqual([]); // h1's link was never replaced
  });
});
