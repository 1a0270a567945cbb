/**
 * QEMU guests for the VM migration tests: a tiny firmware image (test/fixtures/vm-guest/guest.bin, built from
 * guest.S beside it; no disk, no BIOS, TCG) whose RAM is different on every run and that keeps dirtying memory
 * while it runs, and helpers to start QEMU, read guest memory (`pmemsave`) and the guest's progress counter.
 *
 * The guest fills physical 64 KiB … 640 KiB with xorshift32 output seeded by rdtsc, never changed afterwards,
 * then increments a counter forever and writes it to 16 pages above 1 MiB (the first at 0x100000). So the
 * first MiB holds per-run random data that only a real migration can reproduce, the counter shows the VM runs,
 * and pre-copy has dirty pages to re-send.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient } from '../../src/vm/qmp.js';

const GUEST_BIN: string = fileURLToPath(new URL('../fixtures/vm-guest/guest.bin', import.meta.url));

/** The QEMU binary the tests use. */
export const QEMU = 'qemu-system-x86_64';

/** Why the VM tests cannot run here, or null when QEMU is installed. */
export function qemuMissing(): string | null {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  return r.status === 0
    ? null
    : `${QEMU} is not installed (Debian: apt-get install qemu-system-x86; .ci/run installs it)`;
}

/** Copies the 64 KiB firmware image to `path`. */
export function writeGuestFirmware(path: string): void {
  copyFileSync(GUEST_BIN, path);
}

/** QEMU's arguments for the test guest (64 MiB, TCG, no devices), without monitor or -incoming. */
export function guestArgs(firmware: string): string[] {
  return ['-machine', 'pc,accel=tcg', '-m', '64', '-nodefaults', '-display', 'none', '-bios', firmware];
}

/** A running source VM. */
export interface TestVm {
  child: ChildProcess;
  /** The monitor smig is given (QEMU serves one client per monitor, so the test keeps its own). */
  qmpPath: string;
  /** The test's own monitor session. */
  qmp: QmpClient;
  stop(): Promise<void>;
}

/**
 * Starts a guest with two QMP monitors, `qmpPath` for smig and `qmpPath.test` for the test, and waits until
 * it has written its RAM (its counter runs).
 */
export async function startGuest(firmware: string, qmpPath: string): Promise<TestVm> {
  const child = spawn(
    QEMU,
    [
      ...guestArgs(firmware),
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      '-qmp',
      `unix:${qmpPath}.test,server=on,wait=off`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const qmp = await QmpClient.connect(`${qmpPath}.test`, { retry: true, timeoutMs: 20_000 });
  await until('the guest filled its RAM', async () => ((await counter(qmp)) > 0 ? true : undefined));
  return {
    child,
    qmpPath,
    qmp,
    async stop(): Promise<void> {
      await qmp.close().catch(() => {});
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

/** The guest's progress counter (the dword at physical 0x100000), read with HMP `xp`. */
export async function counter(qmp: QmpClient): Promise<number> {
  const out = await qmp.hmp('xp /1wx 0x100000');
  const m = /:\s*0x([0-9a-f]+)/i.exec(out);
  if (m === null) throw new Error(`xp: unexpected output ${JSON.stringify(out)}`);
  return Number.parseInt(m[1]!, 16);
}

/** Guest physical memory [addr, addr + size) via `pmemsave` into `dir`. */
export async function pmem(qmp: QmpClient, dir: string, tag: string, addr = 0, size = 1024 * 1024): Promise<Buffer> {
  const file = join(dir, `pmem-${tag}.bin`);
  await qmp.execute('pmemsave', { val: addr, size, filename: file });
  return readFileSync(file);
}

/** Polls `f` every 50 ms until it returns a value; throws after `ms`. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Why the libvirt test cannot run here, or null when virsh, libvirtd (with its QEMU driver) and setpriv are there. */
export function libvirtMissing(): string | null {
  if (spawnSync('virsh', ['--version']).status !== 0) return 'virsh is not installed (Debian: libvirt-clients)';
  if (!existsSync('/usr/sbin/libvirtd'))
    return 'libvirtd is not installed (Debian: libvirt-daemon, libvirt-daemon-driver-qemu)';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) is missing';
  return null;
}

/**
 * `virsh -c qemu:///session ARGS` as the unprivileged user `nobody`, with HOME and XDG_RUNTIME_DIR in `home`:
 * the first call starts a per-user libvirtd (as a desktop user's virsh would), which runs QEMU as nobody.
 * Root's session URI would need the system daemon and its libvirt-qemu user.
 */
export function virsh(home: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      'env',
      '-i',
      'PATH=/usr/sbin:/usr/bin:/bin',
      `HOME=${home}`,
      `XDG_RUNTIME_DIR=${join(home, 'run')}`,
      'virsh',
      '-c',
      'qemu:///session',
      ...args,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A transient libvirt domain of the test guest, with two extra QMP monitors (`qmp` for smig, `qmp.test`). */
export function libvirtDomainXml(name: string, firmware: string, qmpPath: string): string {
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><loader type='rom'>${firmware}</loader></os>
  <devices>
    <emulator>/usr/bin/${QEMU}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-qmp'/><qemu:arg value='unix:${qmpPath},server=on,wait=off'/>
    <qemu:arg value='-qmp'/><qemu:arg value='unix:${qmpPath}.test,server=on,wait=off'/>
  </qemu:commandline>
</domain>
`;
}

/**
 * QEMU's arguments at the destination that match what libvirt runs for {@link libvirtDomainXml} (`virsh
 * domxml-to-native qemu-argv` shows them): the same machine type and the RAM as the `pc.ram` backend.
 */
export function libvirtMatchingArgs(firmware: string): string[] {
  return [
    '-machine',
    'pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram',
    '-accel',
    'tcg',
    '-cpu',
    'qemu64',
    '-bios',
    firmware,
    '-m',
    '64',
    '-object',
    'memory-backend-ram,id=pc.ram,size=67108864',
    '-smp',
    '1',
    '-display',
    'none',
    '-nodefaults',
    '-rtc',
    'base=utc',
    '-no-shutdown',
  ];
}
