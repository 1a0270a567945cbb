/**
 * `npm run bench:vm`: a running QEMU VM migrated through the full protocol on loopback (separate `smig`
 * processes: 3 data relays, the first leading, 2-of-3 key relays, `smig recv --install-vm`), for each of bulk,
 * constant-rate pacing and constant with a small window, in live pre-copy and stop-first mode. Reports stream
 * bytes, total time and downtime as `smig send --json` gives them (downtime: source VM paused → destination VM
 * running), and QEMU's own downtime figure.
 *
 * The guest is the tests' (test/fixtures/vm-guest/guest.bin: 576 KiB of per-run random RAM in the first MiB and
 * a counter dirtying 16 pages) with `randomBytes` more random bytes loaded at 32 MiB (QEMU's loader device), in
 * a TCG machine of `memoryMiB`. Needs qemu-system-x86_64. Prints nothing; bench/vm.mjs prints the table.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import { QmpClient } from '../vm/qmp.js';
import type { Proc } from './proc.js';
import { lastLine, PACKAGE_ROOT, runProc, stopProc, waitFor } from './proc.js';

const GUEST = join(PACKAGE_ROOT, 'test', 'fixtures', 'vm-guest', 'guest.bin');

/** Options of {@link benchVm}. */
export interface VmBenchOptions {
  /** Random bytes loaded into the guest at 32 MiB. */
  randomBytes: number;
  /** Guest memory, MiB (≥ 64, with room for `randomBytes` above 32 MiB). */
  memoryMiB: number;
  /** `smig send --rate` of the paced rows, e.g. `4MB/s`. */
  rate: string;
  /** `smig send --window` of the small-window row, e.g. `2MiB`. */
  smallWindow: string;
  log?: (line: string) => void;
}

/** One migration of {@link benchVm}. */
export interface VmBenchRow {
  strategy: string;
  mode: 'live' | 'stop';
  streamBytes: number;
  totalSeconds: number;
  downtimeSeconds: number;
  qemuDowntimeMs: number;
  /** The destination VM's QMP status after the migration (`running`). */
  destination: string;
}

/**
 * Runs the six migrations one after the other.
 * @throws SmigError SMIG_ERR_USAGE for bad sizes or without qemu-system-x86_64; SMIG_ERR_MIGRATION when a send fails.
 */
export async function benchVm(o: VmBenchOptions): Promise<VmBenchRow[]> {
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0)
    throw smigError('SMIG_ERR_USAGE', 'qemu-system-x86_64 is not installed (Debian: qemu-system-x86)');
  if (!Number.isInteger(o.memoryMiB) || o.memoryMiB < 64 || o.randomBytes > (o.memoryMiB - 32) * 1024 * 1024)
    throw smigError('SMIG_ERR_USAGE', '--memory must be an integer ≥ 64 (MiB) with room for --random above 32 MiB');
  const log = o.log ?? (() => {});
  const machine = ['-machine', 'pc,accel=tcg', '-m', String(o.memoryMiB), '-nodefaults', '-display', 'none'];
  machine.push('-bios', GUEST);
  const dir = mkdtempSync(join(tmpdir(), 'smig-bench-vm-'));
  const procs: Proc[] = [];
  const listening = async (p: Proc, what: string): Promise<string> =>
    (await waitFor(p, / listening addr=(\S+)/, what))[1]!;
  try {
    const keyFile = join(dir, 'cluster.key');
    const kg = runProc(['keygen', '-o', keyFile]);
    if ((await kg.exited) !== 0) throw smigError('SMIG_ERR_MIGRATION', `smig keygen: ${lastLine(kg.stderr)}`);
    const blob = join(dir, 'random.bin');
    writeFileSync(blob, randomBytes(o.randomBytes));
    mkdirSync(join(dir, 'out'));
    const relays = Array.from({ length: 6 }, () => runProc(['relay', '--listen', '127.0.0.1:0', '--key', keyFile]));
    const incoming = `exec qemu-system-x86_64 ${machine.join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`;
    const recv = runProc([
      'recv',
      ...['--listen', '127.0.0.1:0', '--key', keyFile, '--out', join(dir, 'out'), '--install-vm', incoming],
    ]);
    procs.push(...relays, recv);
    const ra = await Promise.all(relays.map((p, i) => listening(p, `relay ${i + 1}`)));
    const dest = await listening(recv, 'smig recv');
    const paced = ['--strategy', 'constant', '--rate', o.rate];
    const plans = [
      { strategy: 'bulk', flags: [] as string[] },
      { strategy: `constant ${o.rate}`, flags: paced },
      { strategy: `constant ${o.rate}, --window ${o.smallWindow}`, flags: [...paced, '--window', o.smallWindow] },
    ].flatMap((r) => (['live', 'stop'] as const).map((mode) => ({ ...r, mode })));
    const rows: VmBenchRow[] = [];
    for (const [n, plan] of plans.entries()) {
      const name = `vm${n}`;
      const qmp = join(dir, `${name}.qmp`);
      const vm = spawn(
        'qemu-system-x86_64',
        [
          ...machine,
          '-device',
          `loader,file=${blob},addr=0x2000000,force-raw=on`,
          '-qmp',
          `unix:${qmp},server=on,wait=off`,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const vmExit = once(vm, 'exit');
      // wait for the monitor (then the guest has run its fill loop by the time the migration starts)
      const probe = await QmpClient.connect(qmp, { retry: true, timeoutMs: 20_000 });
      await probe.close();
      await new Promise((r) => setTimeout(r, 500));
      log(`${plan.strategy}, ${plan.mode}…`);
      const send = runProc([
        'send',
        `qmp:${qmp}`,
        ...['--name', name, '--vm-mode', plan.mode, '--vm-after', 'quit', '--key', keyFile, '--dest', dest],
        ...['--data-relays', ra.slice(0, 3).join(','), '--key-relays', ra.slice(3).join(','), ...plan.flags, '--json'],
      ]);
      const code = await send.exited;
      if (code !== 0) {
        vm.kill('SIGTERM');
        throw smigError('SMIG_ERR_MIGRATION', `smig send exited ${code}: ${lastLine(send.stderr)}`);
      }
      await vmExit;
      const r = JSON.parse(send.stdout) as {
        vm: { streamBytes: number; totalSeconds: number; downtimeSeconds: number; qemu: { downtimeMs: number } };
      };
      const restored = await QmpClient.connect(join(dir, 'out', `${name}.qmp`));
      const destination = await restored.status();
      await restored.execute('quit').catch(() => {});
      rows.push({
        strategy: plan.strategy,
        mode: plan.mode,
        streamBytes: r.vm.streamBytes,
        totalSeconds: r.vm.totalSeconds,
        downtimeSeconds: r.vm.downtimeSeconds,
        qemuDowntimeMs: r.vm.qemu.downtimeMs,
        destination,
      });
    }
    return rows;
  } finally {
    await Promise.all(procs.map((p) => stopProc(p)));
    rmSync(dir, { recursive: true, force: true });
  }
}
