#!/usr/bin/env node
// `npm run bench:vm`: a running QEMU VM migrated through the full protocol on loopback (separate `smig`
// processes: 3 data relays, the first leading, 2-of-3 key relays, `smig recv --install-vm`), for each of
// bulk / constant-rate pacing / constant with a small window, in live pre-copy and stop-first mode. Prints
// stream bytes, total time and downtime as `smig send --json` reports them (downtime: source VM paused →
// destination VM running), and QEMU's own downtime figure.
//
// The guest is the tests' (test/fixtures/vm-guest/guest.bin: 576 KiB of per-run random RAM in the first MiB
// and a counter dirtying 16 pages) with --random SIZE more random bytes loaded at 32 MiB (QEMU's loader
// device), in a 64 MiB TCG machine (more with --memory).
//
// Options: --random SIZE (default 16MiB), --memory MiB (default 64), --rate RATE (default 4MB/s),
// --window SIZE (the small window, default 2MiB), --json. Needs qemu-system-x86_64.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'smig');
const GUEST = join(ROOT, 'test', 'fixtures', 'vm-guest', 'guest.bin');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const { parseSize, QmpClient } = await import('smig/bench');
const RANDOM = parseSize(opt('--random', '16MiB'), '--random');
const MEMORY = Number(opt('--memory', '64'));
const RATE = opt('--rate', '4MB/s');
const SMALL_WINDOW = opt('--window', '2MiB');
const JSON_OUT = args.includes('--json');
const say = (s) => process.stderr.write(`${s}\n`);
if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) {
  say('bench:vm: qemu-system-x86_64 is not installed (Debian: qemu-system-x86)');
  process.exit(2);
}
if (!Number.isInteger(MEMORY) || MEMORY < 64 || RANDOM > (MEMORY - 32) * 1024 * 1024) {
  say('bench:vm: --memory must be an integer ≥ 64 (MiB) with room for --random above 32 MiB');
  process.exit(2);
}

function run(argv) {
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, stdout: '', stderr: '', exited: once(child, 'exit').then(([code]) => code) };
  child.stdout.setEncoding('utf8').on('data', (s) => (p.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (p.stderr += s));
  return p;
}

async function addr(p) {
  for (const t0 = Date.now(); Date.now() - t0 < 20_000; await new Promise((r) => setTimeout(r, 20))) {
    const m = p.stderr.match(/ listening addr=(\S+)/);
    if (m) return m[1];
  }
  throw new Error(`no listening line: ${p.stderr}`);
}

const machine = ['-machine', 'pc,accel=tcg', '-m', String(MEMORY), '-nodefaults', '-display', 'none', '-bios', GUEST];
const dir = mkdtempSync(join(tmpdir(), 'smig-bench-vm-'));
const procs = [];
try {
  const keyFile = join(dir, 'cluster.key');
  await run([BIN, 'keygen', '-o', keyFile]).exited;
  const blob = join(dir, 'random.bin');
  writeFileSync(blob, randomBytes(RANDOM));
  mkdirSync(join(dir, 'out'));
  const relays = Array.from({ length: 6 }, () => run([BIN, 'relay', '--listen', '127.0.0.1:0', '--key', keyFile]));
  const recv = run([
    BIN,
    'recv',
    '--listen',
    '127.0.0.1:0',
    '--key',
    keyFile,
    '--out',
    join(dir, 'out'),
    '--install-vm',
    `exec qemu-system-x86_64 ${machine.join(' ')} -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off`,
  ]);
  procs.push(...relays, recv);
  const ra = await Promise.all(relays.map(addr));
  const dest = await addr(recv);
  const rows = [
    { strategy: 'bulk', flags: [] },
    { strategy: `constant ${RATE}`, flags: ['--strategy', 'constant', '--rate', RATE] },
    {
      strategy: `constant ${RATE}, --window ${SMALL_WINDOW}`,
      flags: ['--strategy', 'constant', '--rate', RATE, '--window', SMALL_WINDOW],
    },
  ].flatMap((r) => ['live', 'stop'].map((mode) => ({ ...r, mode })));
  const results = [];
  let n = 0;
  for (const row of rows) {
    const name = `vm${n++}`;
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
    say(`bench:vm: ${row.strategy}, ${row.mode}…`);
    const send = run([
      BIN,
      'send',
      `qmp:${qmp}`,
      '--name',
      name,
      '--vm-mode',
      row.mode,
      '--vm-after',
      'quit',
      '--key',
      keyFile,
      '--dest',
      dest,
      '--data-relays',
      ra.slice(0, 3).join(','),
      '--key-relays',
      ra.slice(3).join(','),
      ...row.flags,
      '--json',
    ]);
    const code = await send.exited;
    if (code !== 0) throw new Error(`smig send exited ${code}: ${send.stderr.split('\n').filter(Boolean).pop()}`);
    await vmExit;
    const r = JSON.parse(send.stdout);
    const restored = await QmpClient.connect(join(dir, 'out', `${name}.qmp`));
    const status = await restored.status();
    await restored.execute('quit').catch(() => {});
    results.push({
      strategy: row.strategy,
      mode: row.mode,
      streamBytes: r.vm.streamBytes,
      totalSeconds: r.vm.totalSeconds,
      downtimeSeconds: r.vm.downtimeSeconds,
      qemuDowntimeMs: r.vm.qemu.downtimeMs,
      destination: status,
    });
  }
  if (JSON_OUT) {
    process.stdout.write(
      `${JSON.stringify({ randomBytes: RANDOM, memoryMiB: MEMORY, rate: RATE, smallWindow: SMALL_WINDOW, results }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `VM migration on loopback: ${MEMORY} MiB TCG guest, ${RANDOM} random bytes + 576 KiB per-run random RAM\n`,
    );
    process.stdout.write(
      "| strategy | mode | stream bytes | total | downtime | QEMU's own downtime | destination |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    for (const x of results) {
      process.stdout.write(
        `| ${x.strategy} | ${x.mode} | ${x.streamBytes} | ${x.totalSeconds.toFixed(2)} s | ${x.downtimeSeconds.toFixed(2)} s | ${x.qemuDowntimeMs} ms | ${x.destination} |\n`,
      );
    }
  }
} finally {
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  rmSync(dir, { recursive: true, force: true });
}
