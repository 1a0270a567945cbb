/**
 * The agent inside `smig relay --controller`, in-process with the real roles: relay daemons, per-session
 * destination daemons and runSource, driven by a real controller over TLS-PSK on 127.0.0.1.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlAgent, openSource, parseSourceSpec } from '../../src/control/agent.js';
import type { ClientOptions } from '../../src/control/client.js';
import { fetchStatus, migrate, reinstate } from '../../src/control/client.js';
import { Controller } from '../../src/control/controller.js';
import { parseInventory } from '../../src/control/inventory.js';
import { encodePublicKey, generateIdentity } from '../../src/crypto/identity.js';
import { FakeClock } from '../../src/pacing/clock.js';
import type { PacingPlan } from '../../src/pacing/plan.js';
import { createPlan } from '../../src/pacing/plan.js';
import { RelayDaemon } from '../../src/roles/relay.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-agent-'));
const key = new Uint8Array(randomBytes(32));
const N = 6;
const relays: RelayDaemon[] = [];
const agents: ControlAgent[] = [];
let controller: Controller;
let client: ClientOptions;
const payload = randomBytes(3 * 1024 * 1024 + 17);
const outOf = (i: number): string => join(dir, `out${i}`);
/** Every agent signs its registration with its own identity; the operator signs requests with hers. */
const ids = Array.from({ length: N }, () => generateIdentity());
const operator = generateIdentity();
/** The pacing plan the controller gives the next session (undefined: bulk). */
let nextPlan: PacingPlan | undefined;

beforeAll(async () => {
  writeFileSync(join(dir, 'vm.img'), payload);
  // agents first (they retry until the controller is up), so the inventory can name their ports
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const addr = { host: '127.0.0.1', port: (probe.address() as { port: number }).port };
  await new Promise((r) => probe.close(r));
  for (let i = 0; i < N; i++) {
    mkdirSync(outOf(i));
    let agent: ControlAgent | undefined;
    const relay = await RelayDaemon.start({
      clusterKey: key,
      listen: { host: '127.0.0.1', port: 0 },
      onSession: (e, id) => agent?.relaySession(e, id),
    });
    agent = ControlAgent.start({
      clusterKey: key,
      controller: addr,
      listen: relay.address,
      name: `h${i}`,
      identity: ids[i],
      outDir: outOf(i),
      reconnectMaxMs: 100,
      sources: [
        parseSourceSpec(`vm=${join(dir, 'vm.img')}`),
        parseSourceSpec('broken=|head -c 100000 /dev/zero; exit 3'),
      ],
    });
    relays.push(relay);
    agents.push(agent);
  }
  const inv = parseInventory(
    JSON.stringify({
      hosts: relays.map((r, i) => ({
        name: `h${i}`,
        address: `127.0.0.1:${r.address.port}`,
        key: encodePublicKey(ids[i]!.public),
      })),
    }),
    'inv',
  );
  controller = await Controller.start({
    clusterKey: key,
    listen: addr,
    journal: join(dir, 'j.journal'),
    inventory: inv,
    heartbeatMs: 200,
    hostWaitMs: 3000,
    counts: { dataRelays: 2, keyRelays: 2, threshold: 1 },
    plan: () => nextPlan,
    operatorKeys: [operator.public],
    // a clock nobody moves: a loaded machine cannot make an agent look silent or a wait expire
    clock: new FakeClock({ wallStart: Date.now() }),
  });
  client = { clusterKey: key, identity: operator, controller: addr };
  await until(async () => ((await fetchStatus(client)).hosts.every((h) => h.state === 'available') ? true : undefined));
}, 30_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await Promise.all(relays.map((r) => r.close()));
  await controller.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('parseSourceSpec', () => {
  it('tells files from commands', () => {
    expect(parseSourceSpec('vm=/var/lib/vm.img')).toEqual({ name: 'vm', path: '/var/lib/vm.img', command: null });
    expect(parseSourceSpec('mem=|virsh save vm1 /dev/stdout')).toEqual({
      name: 'mem',
      path: null,
      command: 'virsh save vm1 /dev/stdout',
    });
    expect(() => parseSourceSpec('/x')).toThrow(
      "--source: '/x' is not NAME=PATH or NAME=|CMD (NAME: letters, digits, '.', '_', '-')",
    );
    expect(() => parseSourceSpec('a=|  ')).toThrow("--source a: the command after '|' is empty");
    expect(() => parseSourceSpec('a=')).toThrow('--source a: the path is empty');
  });

  it('a command source fails its stream when the command fails, and is killed on abort', async () => {
    const bad = await openSource(parseSourceSpec('x=|printf abc; exit 4'));
    const got: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const c of bad.stream) got.push(c);
      })(),
    ).rejects.toThrow('--source x: the command exited with status 4');
    expect(Buffer.concat(got).toString()).toBe('abc');
    const ac = new AbortController();
    const slow = await openSource(parseSourceSpec('y=|printf a; sleep 30'), ac.signal);
    const start = Date.now();
    await expect(
      (async () => {
        for await (const c of slow.stream) {
          expect(Buffer.from(c).toString()).toBe('a');
          ac.abort();
        }
      })(),
    ).rejects.toThrow('--source y: the command was killed by SIGKILL');
    expect(Date.now() - start).toBeLessThan(5000);
    await expect(openSource(parseSourceSpec(`z=${join(dir, 'none')}`))).rejects.toThrow(
      `--source z: ${join(dir, 'none')}: no such file`,
    );
  });
});

describe('ControlAgent', () => {
  it('migrates a file through real relays and a per-session destination; every host reports available again', async () => {
    const r = await migrate(client, { host: 'h0', source: 'vm' });
    expect(r).toMatchObject({
      type: 'finished',
      ok: true,
      outcome: { bytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex') },
    });
    const s = await until(async () => {
      const st = await fetchStatus(client);
      return st.hosts.filter((h) => h.name !== 'h0').every((h) => h.state === 'available') ? st : undefined;
    });
    const dest = Number(s.sessions[0]!.destination!.slice(1));
    expect(readFileSync(join(outOf(dest), 'vm.img')).equals(payload)).toBe(true);
    expect(agents.every((a) => a.active.length === 0)).toBe(true);
  });

  it("sends the controller's pacing plan: the source and every hop pace at the plan's rate", async () => {
    await reinstate(client, 'h0');
    nextPlan = createPlan({ strategy: 'constant', rate: 8_000_000 });
    try {
      const r = await migrate(client, { host: 'h2', source: 'vm' });
      expect(r).toMatchObject({ type: 'finished', ok: true, outcome: { bytes: payload.length } });
      // 3 MiB at 8 MB/s on the wire (payload ~83 % of it, the bucket starts empty) takes at least ~0.45 s; bulk took far less
      expect((r.outcome as { seconds: number }).seconds).toBeGreaterThan(0.4);
    } finally {
      nextPlan = undefined;
    }
    await reinstate(client, 'h2');
    await until(async () =>
      (await fetchStatus(client)).hosts.every((h) => h.state === 'available') ? true : undefined,
    );
  });

  it('a source command that fails is never confirmed: both attempts fail, destinations keep nothing', async () => {
    const r = await migrate(client, { host: 'h1', source: 'broken' });
    expect(r).toMatchObject({
      type: 'finished',
      ok: false,
      error: expect.stringContaining('--source broken: the command exited with status 3'),
    });
    await until(async () =>
      (await fetchStatus(client)).hosts.every((h) => h.state === 'available') ? true : undefined,
    );
    for (let i = 0; i < N; i++) expect(readdirSync(outOf(i)).filter((f) => !/^vm\.img(\.\d+)?$/.test(f))).toEqual([]); // earlier tests' installs only
    expect((await fetchStatus(client)).sessions.slice(0, 2).map((x) => [x.attempt, x.state])).toEqual([
      [2, 'failed'],
      [1, 'failed'],
    ]);
  });
});
