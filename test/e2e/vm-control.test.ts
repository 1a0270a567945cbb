/**
 * A running QEMU VM migrated on an IDS alert, with real processes on 127.0.0.1: seven `smig relay
 * --controller` agents (h0…h6, each able to relay and to restore a VM with `--install-vm`), h0 holding the VM
 * as `--source vm=qmp:SOCKET`, and `smig control` following a Suricata EVE file. An alert for h0's address
 * migrates the VM (2 data relays, 2-of-3 key relays) to a random destination, where it runs with h0's RAM
 * at the switch-over; h0's VM stays paused (given up only after the destination's DONE), every other
 * destination candidate holds nothing.
 * Needs `npm run build` (npm test does it) and qemu-system-x86_64 (skipped with the reason when absent).
 */

import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../src/control/client.js';
import { fetchStatus } from '../../src/control/client.js';
import { generateIdentity, writeIdentityFiles } from '../../src/crypto/identity.js';
import { loadKeyFile } from '../../src/crypto/keyfile.js';
import { QmpClient } from '../../src/vm/qmp.js';
import { runBin } from '../helpers/cli.js';
import { alertLine } from '../helpers/eve.js';
import type { TestVm } from '../helpers/vm.js';
import { counter, guestArgs, pmem, QEMU, qemuMissing, startGuest, until, writeGuestFirmware } from '../helpers/vm.js';
import { Proc, spawnRelay, stopAll } from './migration-helpers.js';

const missing = qemuMissing();
const N = 7;
const dir = mkdtempSync(join(tmpdir(), 'smig-vmctl-'));
const keyFile = join(dir, 'cluster.key');
const firmware = join(dir, 'guest.bin');
const eve = join(dir, 'eve.json');
const names = Array.from({ length: N }, (_, i) => `h${i}`);
const ip = (name: string): string => `10.78.0.${Number(name.slice(1)) + 1}`;
const outOf = (name: string): string => join(dir, 'out', name);
const agents = new Map<string, Proc>();
let ctl: Proc;
let client: ClientOptions;
let vm: TestVm;
let dest: QmpClient | undefined;

function events(p: Proc): Record<string, unknown>[] {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe.skipIf(missing !== null)(`VM migration on an IDS alert (${missing ?? 'QEMU present'})`, () => {
  beforeAll(async () => {
    expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
    writeGuestFirmware(firmware);
    mkdirSync(join(dir, 'out'));
    for (const n of names) mkdirSync(outOf(n));
    // identities: one per host (its inventory key) and the operator's, as a real site runs the controller
    for (const n of names) await writeIdentityFiles(join(dir, `${n}.id`), generateIdentity(n));
    const operator = generateIdentity('operator');
    await writeIdentityFiles(join(dir, 'operator.id'), operator);
    client = {
      clusterKey: await loadKeyFile(keyFile),
      identity: operator,
      controller: { host: '127.0.0.1', port: await freePort() },
    };
    vm = await startGuest(firmware, join(dir, 'h0-vm.qmp'));
    const ctlAddr = `127.0.0.1:${client.controller.port}`;
    const install = `exec ${QEMU} ${guestArgs(firmware).join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`;
    const procs = await Promise.all(
      names.map((n) =>
        spawnRelay(keyFile, [
          '--controller',
          ctlAddr,
          '--name',
          n,
          '--identity',
          join(dir, `${n}.id`),
          '--out',
          outOf(n),
          '--install-vm',
          install,
          '--log-format',
          'json',
          ...(n === 'h0' ? ['--source', `vm=qmp:${vm.qmpPath}`] : []),
        ]),
      ),
    );
    names.forEach((n, i) => agents.set(n, procs[i]!));
    writeFileSync(
      join(dir, 'hosts.yaml'),
      `hosts:\n${names
        .map(
          (n) =>
            `  - name: ${n}\n    address: "${agents.get(n)!.addr}"\n    ids: [${ip(n)}]\n    key: ${n}.id.pub\n` +
            (n === 'h0' ? '    source: vm\n' : ''),
        )
        .join('')}`,
    );
    writeFileSync(eve, '');
    ctl = new Proc('control', [
      'control',
      '--key',
      keyFile,
      '--inventory',
      join(dir, 'hosts.yaml'),
      '--operator-key',
      join(dir, 'operator.id.pub'),
      '--eve',
      eve,
      '--listen',
      ctlAddr,
      '--journal',
      join(dir, 'control.journal'),
      '--log-format',
      'json',
      '--heartbeat',
      '300ms',
      '--host-wait',
      '5s',
      '--prepare-timeout',
      '10s',
      '--deadline',
      '90s',
      '--eve-poll',
      '100ms',
      '--data-relays',
      '2',
      '--key-relays',
      '3',
      '--threshold',
      '2',
      '--no-retry',
    ]);
    await ctl.waitFor(/"event":"listening"/);
    await until('every agent registered', async () =>
      (await fetchStatus(client)).hosts.every((h) => h.state === 'available') ? true : undefined,
    );
  }, 90_000);

  afterAll(async () => {
    await dest?.execute('quit').catch(() => {});
    await vm?.stop();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("an EVE alert for the VM's host migrates the running VM; it runs at the chosen destination with the source's RAM", async () => {
    appendFileSync(eve, `${alertLine('198.51.100.23', ip('h0'), 1)}\n`);
    const done = await ctl.waitFor(/"event":"session-(done|failed)"[^\n]*/, 90_000);
    expect(done[0], ctl.stderr).toMatch(/session-done/);
    const planned = events(ctl).find((e) => e.event === 'session-planned')!;
    const to = String(planned.destination);
    expect(to).not.toBe('h0');
    // the source agent gave up its VM only after DONE: paused at the switch-over, never resumed
    const h0 = events(agents.get('h0')!);
    const migrated = h0.findIndex((e) => e.event === 'vm-migrated');
    const confirmed = h0.findIndex((e) => e.event === 'session-done');
    expect(confirmed).toBeGreaterThanOrEqual(0);
    expect(migrated).toBeGreaterThan(confirmed);
    expect(h0[migrated]).toMatchObject({ mode: 'live' });
    expect(Number(h0[migrated]!.downtimeSeconds)).toBeGreaterThan(0);
    expect(await vm.qmp.status()).toBe('postmigrate');
    const atSwitch = await counter(vm.qmp);
    // the destination: the VM's monitor published as vm.qmp, running, same first MiB, counting on
    expect(readdirSync(outOf(to))).toEqual(['vm.qmp']);
    for (const n of names) if (n !== to) expect(readdirSync(outOf(n))).toEqual([]);
    dest = await QmpClient.connect(join(outOf(to), 'vm.qmp'));
    expect(await dest.status()).toBe('running');
    expect((await pmem(dest, dir, 'dst')).equals(await pmem(vm.qmp, dir, 'src'))).toBe(true);
    await until('the destination guest counts on', async () => ((await counter(dest!)) > atSwitch ? true : undefined));
    const s = await fetchStatus(client);
    expect(s.hosts.find((h) => h.name === 'h0')!.state).toBe('honeypot');
    expect(s.sessions[0]).toMatchObject({ state: 'done', source: 'h0', sourceName: 'vm', destination: to });
  }, 120_000);
});
