/**
 * A running QEMU VM migrated end to end with real processes on 127.0.0.1: `smig send qmp:SOCKET` → three
 * data relays (one the leader) and 2-of-3 key relays → `smig recv --install-vm`, which feeds QEMU's
 * `-incoming fd:0` as the stream arrives and starts the VM once it is verified. The guest (test/helpers/vm.ts)
 * fills its first MiB with per-run random data and keeps a counter running above 1 MiB.
 *
 * 1. live pre-copy, bulk: the destination VM runs (its counter advances past the source's), its first MiB
 *    equals the source's at the switch-over (the source stays paused in `postmigrate`, never resumed), and
 *    the source let go of its VM only after the destination's DONE;
 * 2. paced (constant rate), so stop-first by default; source told to quit: the source QEMU quits only after DONE;
 * 3. a destination whose QEMU dies mid-stream: `smig send` fails, the source VM is running again (migration
 *    cancelled, `cont`), and nothing stays at the destination (no process, no monitor socket, no file).
 * 4. the destination daemon SIGKILLed mid-stream: its QEMU exits by itself (its input ended early), the source
 *    VM runs again;
 * 5. libvirt: a domain of a per-user libvirtd (qemu:///session as nobody) with an extra QMP monitor in its XML,
 *    migrated by `smig send qmp:` into a plain QEMU at the destination; libvirt sees its domain paused.
 * The same with a controller alert as the trigger is in test/e2e/vm-control.test.ts.
 * Needs `npm run build` (npm test does it) and qemu-system-x86_64 (skipped with the reason when absent).
 */

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../src/vm/qmp.js';
import { runBin } from '../helpers/cli.js';
import type { TestVm } from '../helpers/vm.js';
import {
  alive,
  counter,
  guestArgs,
  libvirtDomainXml,
  libvirtMatchingArgs,
  libvirtMissing,
  pmem,
  QEMU,
  qemuMissing,
  startGuest,
  until,
  virsh,
  writeGuestFirmware,
} from '../helpers/vm.js';
import type { Proc } from './migration-helpers.js';
import { spawnRecv, spawnRelay, startSend, stdoutOf, stopAll } from './migration-helpers.js';

const missing = qemuMissing();
const noLibvirt = missing ?? libvirtMissing();
const dir = mkdtempSync(join(tmpdir(), 'smig-vm-'));
const keyFile = join(dir, 'cluster.key');
const firmware = join(dir, 'guest.bin');
const out = join(dir, 'out');
const failOut = join(dir, 'out-fail');
const relays: Proc[] = [];
let recv: Proc;
let failRecv: Proc;
const vms: TestVm[] = [];
const destinations: QmpClient[] = [];

/** The destination's template: the same machine, paused (-S) and waiting on stdin. */
const template = (prefix = ''): string =>
  `${prefix}exec ${QEMU} ${guestArgs(firmware).join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`;

function cluster(dest: Proc): string[] {
  return [
    '--key',
    keyFile,
    '--dest',
    dest.addr,
    '--data-relays',
    relays
      .slice(0, 3)
      .map((r) => r.addr)
      .join(','),
    '--key-relays',
    relays
      .slice(3)
      .map((r) => r.addr)
      .join(','),
    '--threshold',
    '2',
    '--log-format',
    'json',
  ];
}

function events(p: Proc): Record<string, unknown>[] {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
const indexOf = (p: Proc, event: string): number => events(p).findIndex((e) => e.event === event);

describe.skipIf(missing !== null)(`VM migration (${missing ?? 'QEMU present'})`, () => {
  beforeAll(async () => {
    expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
    writeGuestFirmware(firmware);
    mkdirSync(out);
    mkdirSync(failOut);
    relays.push(...(await Promise.all(Array.from({ length: 6 }, () => spawnRelay(keyFile, ['--log-format', 'json'])))));
    recv = await spawnRecv(keyFile, out, ['--install-vm', template(), '--log-format', 'json']);
    // dies after 300 000 bytes of the stream: QEMU reads a cut stream, head exits, smig's writes fail
    failRecv = await spawnRecv(keyFile, failOut, [
      '--install-vm',
      `head -c 300000 | ${QEMU} ${guestArgs(firmware).join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`,
      '--log-format',
      'json',
    ]);
  }, 60_000);

  afterAll(async () => {
    for (const q of destinations) await q.execute('quit').catch(() => {});
    for (const v of vms) await v.stop();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("live pre-copy (bulk): the VM runs at the destination with the source's RAM at the switch-over; the source stays paused", async () => {
    const vm = await startGuest(firmware, join(dir, 'src1.qmp'));
    vms.push(vm);
    const send = startSend([`qmp:${vm.qmpPath}`, '--name', 'guest1', ...cluster(recv), '--json']);
    const stdout = stdoutOf(send);
    expect(await send.exited, send.stderr).toBe(0);
    const r = JSON.parse(await stdout) as {
      bytes: number;
      name: string;
      done: { message: string };
      vm: Record<string, unknown> & { qemu: Record<string, unknown> };
    };
    expect(r.name).toBe('guest1.vmstate');
    expect(r.done.message).toMatch(/VM running at the destination/);
    expect(r.vm).toMatchObject({ mode: 'live', after: 'pause', streamBytes: r.bytes });
    expect(r.vm.qemu).toMatchObject({ status: 'completed' });
    expect(r.vm.qemu.ramTotalBytes as number).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    const downtime = r.vm.downtimeSeconds as number;
    expect(downtime).toBeGreaterThan(0);
    expect(downtime).toBeLessThanOrEqual(r.vm.totalSeconds as number);
    // the source let go only after the destination's DONE, and is still paused at the switch-over
    expect(indexOf(send, 'session-done')).toBeGreaterThanOrEqual(0);
    expect(indexOf(send, 'vm-left-paused')).toBeGreaterThan(indexOf(send, 'session-done'));
    expect(await vm.qmp.status()).toBe('postmigrate');
    const atSwitch = await counter(vm.qmp);
    // the destination VM: published as out/guest1.qmp, running, same first MiB, and it goes on from there
    expect(readdirSync(out)).toEqual(['guest1.qmp']);
    const dest = await QmpClient.connect(join(out, 'guest1.qmp'));
    destinations.push(dest);
    expect(await dest.status()).toBe('running');
    const [a, b] = [await pmem(vm.qmp, dir, 'src1'), await pmem(dest, dir, 'dst1')];
    expect(a.subarray(0x10000, 0xa0000).some((x) => x !== 0)).toBe(true); // the guest's random fill is there
    expect(b.equals(a)).toBe(true);
    await until('the destination guest counts on', async () => ((await counter(dest)) > atSwitch ? true : undefined));
    expect(await counter(vm.qmp)).toBe(atSwitch); // the source did not run on
    expect(events(recv).some((e) => e.event === 'vm-running')).toBe(true);
  }, 120_000);

  it('paced at a constant rate: stop-first by default, source told to quit: the source QEMU quits only after the destination confirmed', async () => {
    const vm = await startGuest(firmware, join(dir, 'src2.qmp'));
    vms.push(vm);
    const firstMiB = await pmem(vm.qmp, dir, 'src2'); // static once the guest has filled it
    const send = startSend([
      `qmp:${vm.qmpPath}`,
      '--name',
      'guest2',
      ...cluster(recv),
      '--strategy',
      'constant',
      '--rate',
      '4MB/s',
      '--vm-after',
      'quit',
      '--json',
    ]); // --vm-mode auto: stop-first for a paced strategy
    const stdout = stdoutOf(send);
    expect(await send.exited, send.stderr).toBe(0);
    const r = JSON.parse(await stdout) as { bytes: number; vm: Record<string, unknown>; pacing: { strategy: string } };
    expect(r.pacing.strategy).toBe('constant');
    expect(r.vm).toMatchObject({ mode: 'stop', after: 'quit', streamBytes: r.bytes });
    expect(r.vm.downtimeSeconds as number).toBeGreaterThan(0);
    expect(r.vm.downtimeSeconds as number).toBeLessThanOrEqual(r.vm.totalSeconds as number);
    expect(indexOf(send, 'vm-paused')).toBeGreaterThanOrEqual(0);
    expect(indexOf(send, 'vm-paused')).toBeLessThan(indexOf(send, 'vm-migrate')); // stopped before streaming
    expect(indexOf(send, 'vm-quit')).toBeGreaterThan(indexOf(send, 'session-done'));
    await until('the source QEMU exits', async () =>
      vm.child.exitCode !== null || vm.child.signalCode !== null ? true : undefined,
    );
    const dest = await QmpClient.connect(join(out, 'guest2.qmp'));
    destinations.push(dest);
    expect(await dest.status()).toBe('running');
    expect((await pmem(dest, dir, 'dst2')).equals(firstMiB)).toBe(true);
  }, 120_000);

  it('a destination that fails mid-stream: send fails, the source VM runs again, nothing stays at the destination', async () => {
    const vm = await startGuest(firmware, join(dir, 'src3.qmp'));
    vms.push(vm);
    const send = startSend([`qmp:${vm.qmpPath}`, '--name', 'guest3', ...cluster(failRecv)]);
    expect(await send.exited).toBe(1);
    expect(send.stderr).toMatch(/migration failed/);
    expect(send.stderr).toMatch(/vm-resumed/);
    expect(await vm.qmp.status()).toBe('running');
    const c = await counter(vm.qmp);
    await until('the source guest counts on', async () => ((await counter(vm.qmp)) > c ? true : undefined));
    // the destination logs its kill in its own process: by the time the source runs again it may not have yet
    await until('the destination logs vm-restore-killed', async () =>
      events(failRecv).some((e) => e.event === 'vm-restore-killed') ? true : undefined,
    );
    // the template ran in its own process group (its shell's pid): head and QEMU, all gone
    const pgid = Number(events(failRecv).find((e) => e.event === 'vm-restore-started')!.pid);
    expect(pgid).toBeGreaterThan(1);
    await until('the destination QEMU is gone', async () => (alive(-pgid) ? undefined : true), 20_000);
    await until('the destination is empty', async () => (readdirSync(failOut).length === 0 ? true : undefined), 20_000);
    expect(existsSync(join(failOut, 'guest3.qmp'))).toBe(false);
  }, 120_000);

  it('a destination daemon SIGKILLed mid-stream: its QEMU exits on its own, the source VM runs again', async () => {
    const killOut = join(dir, 'out-kill');
    mkdirSync(killOut);
    const killRecv = await spawnRecv(keyFile, killOut, ['--install-vm', template(), '--log-format', 'json']);
    const vm = await startGuest(firmware, join(dir, 'src4.qmp'));
    vms.push(vm);
    // paced at 300 kB/s, the ~1 MB stream takes seconds: the kill lands while QEMU is still reading it
    const send = startSend([
      `qmp:${vm.qmpPath}`,
      '--name',
      'guest4',
      ...cluster(killRecv),
      '--strategy',
      'constant',
      '--rate',
      '300kB/s',
    ]);
    await killRecv.waitFor(/"event":"vm-restore-started"[^\n]*"pid":(\d+)/, 60_000);
    const pgid = Number(events(killRecv).find((e) => e.event === 'vm-restore-started')!.pid);
    killRecv.kill('SIGKILL');
    expect(await send.exited).toBe(1);
    expect(send.stderr).toMatch(/vm-resumed/);
    expect(await vm.qmp.status()).toBe('running');
    await until('the orphaned destination QEMU exits', async () => (alive(-pgid) ? undefined : true), 30_000);
    expect(readdirSync(killOut).filter((n) => !n.startsWith('.smig-'))).toEqual([]); // a leftover temp name is swept at the next start
  }, 120_000);

  describe.skipIf(noLibvirt !== null)(`VM migration from a libvirt domain (${noLibvirt ?? 'libvirt present'})`, () => {
    // the domain's user (nobody) needs its own home; it must reach the firmware and create its sockets there
    const home = mkdtempSync(join(tmpdir(), 'smig-libvirt-'));
    const lvOut = join(dir, 'out-libvirt');
    const domain = `smig-test-${process.pid}`;
    let lvRecv: Proc;
    let dest: QmpClient | undefined;

    beforeAll(async () => {
      chmodSync(home, 0o755);
      mkdirSync(join(home, 'run'), { mode: 0o700 });
      copyFileSync(firmware, join(home, 'guest.bin'));
      const { uid, gid } = { uid: Number(spawnId('-u')), gid: Number(spawnId('-g')) };
      for (const p of [home, join(home, 'run'), join(home, 'guest.bin')]) chownSync(p, uid, gid);
      mkdirSync(lvOut);
      lvRecv = await spawnRecv(keyFile, lvOut, [
        '--install-vm',
        `exec ${QEMU} ${libvirtMatchingArgs(firmware).join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`,
        '--log-format',
        'json',
      ]);
    }, 60_000);

    afterAll(async () => {
      await dest?.execute('quit').catch(() => {});
      virsh(home, ['destroy', domain]);
      // the per-user daemons this test started (by their pid files)
      for (const f of ['libvirtd.pid', 'virtlogd.pid']) {
        const pidFile = join(home, 'run', 'libvirt', f);
        if (!existsSync(pidFile)) continue;
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 1)
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            /* gone */
          }
      }
      rmSync(home, { recursive: true, force: true });
    }, 60_000);

    it('migrates a running libvirt domain through its extra QMP monitor; libvirt sees it paused, the destination runs it', async () => {
      const qmpPath = join(home, 'vm.qmp');
      writeFileSync(join(home, 'dom.xml'), libvirtDomainXml(domain, join(home, 'guest.bin'), qmpPath));
      chmodSync(join(home, 'dom.xml'), 0o644);
      const created = virsh(home, ['create', join(home, 'dom.xml')]);
      expect(created.status, created.stderr).toBe(0);
      const mine = await QmpClient.connect(`${qmpPath}.test`, { retry: true, timeoutMs: 30_000 });
      try {
        await until('the guest filled its RAM', async () => ((await counter(mine)) > 0 ? true : undefined));
        const send = startSend([`qmp:${qmpPath}`, '--name', 'lvguest', ...cluster(lvRecv), '--json']);
        const stdout = stdoutOf(send);
        expect(await send.exited, send.stderr).toBe(0);
        const r = JSON.parse(await stdout) as { vm: { streamBytes: number; downtimeSeconds: number } };
        expect(r.vm.streamBytes).toBeGreaterThan(500_000);
        expect(virsh(home, ['domstate', domain]).stdout.trim()).toBe('paused'); // libvirt followed the pause
        dest = await QmpClient.connect(join(lvOut, 'lvguest.qmp'));
        expect(await dest.status()).toBe('running');
        // pmemsave runs as the domain's user: its file goes in the domain's home
        const src = await pmem(mine, home, 'lv-src');
        expect((await pmem(dest, dir, 'lv-dst')).equals(src)).toBe(true);
        const atSwitch = await counter(mine);
        await until('the destination guest counts on', async () =>
          (await counter(dest!)) > atSwitch ? true : undefined,
        );
      } finally {
        await mine.close();
      }
    }, 120_000);
  });
});

function spawnId(flag: string): string {
  return execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim();
}
