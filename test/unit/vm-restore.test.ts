/**
 * The destination's VM restore (src/vm/destination.ts) and `smig send qmp:` usage, without QEMU: templates
 * that exit, that serve a monitor which is not waiting for a migration, and bad options — each one clear line,
 * and nothing left running or on disk. (With QEMU: test/e2e/vm.test.ts.)
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VmRestore } from '../../src/vm/destination.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-vmr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A monitor that greets, accepts capabilities and answers query-status with `status`, as a child process. */
function fakeQemu(status: string): string {
  const script = join(dir, `fake-qemu-${status}.cjs`);
  writeFileSync(
    script,
    `
const net = require('node:net');
net.createServer((s) => {
  s.write(JSON.stringify({ QMP: { version: {}, capabilities: [] } }) + '\\n');
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
      const m = JSON.parse(buf.slice(0, i));
      s.write(JSON.stringify({ return: m.execute === 'query-status' ? { status: ${JSON.stringify(status)}, running: true } : {}, id: m.id }) + '\\n');
    }
  });
}).listen(process.env.SMIG_QMP);
process.stdin.resume();
`,
  );
  return `exec '${process.execPath}' '${script}'`;
}

describe('VmRestore', () => {
  it('fails with the exit status and the last line of standard error when the command exits at once', async () => {
    const qmpPath = join(dir, 'a.qmp');
    const err = await VmRestore.start({
      command: 'echo "qemu: could not load PC BIOS" >&2; exit 3',
      qmpPath,
      name: 'a',
      session: '00',
      timeoutMs: 10_000,
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBe('SMIG_ERR_VM');
    expect((err as Error).message).toBe(
      'VM restore: the command exited with status 3 before its monitor came up: qemu: could not load PC BIOS',
    );
    expect(existsSync(qmpPath)).toBe(false);
  });

  it('refuses a VM that is not waiting for an incoming migration, and kills it', async () => {
    const qmpPath = join(dir, 'b.qmp');
    const err = await VmRestore.start({
      command: fakeQemu('running'),
      qmpPath,
      name: 'b',
      session: '00',
      timeoutMs: 10_000,
    }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(
      /the VM is 'running', not waiting for a migration \(start QEMU with -incoming fd:0\)/,
    );
    expect(existsSync(qmpPath)).toBe(false);
  });

  it('a monitor path too long for a Unix socket is refused before anything starts', async () => {
    await expect(
      VmRestore.start({ command: 'exit 0', qmpPath: join(dir, 'x'.repeat(120)), name: 'c', session: '00' }),
    ).rejects.toThrow(/longer than 107 bytes/);
  });
});

describe('smig send qmp:', () => {
  const flags = [
    '--key',
    join(dir, 'k.key'),
    '--dest',
    '127.0.0.1:9',
    '--data-relays',
    '127.0.0.1:9',
    '--key-relays',
    '127.0.0.1:9',
  ];

  it('refuses an unknown --vm-mode or --vm-after, and an empty socket path (exit 2)', async () => {
    expect((await runCli(['keygen', '-o', join(dir, 'k.key')])).status).toBe(0);
    const a = await runCli(['send', 'qmp:/x.qmp', ...flags, '--vm-mode', 'fast']);
    expect([a.status, a.stderr.trim()]).toEqual([2, "smig send: --vm-mode: 'fast' is not auto, live or stop"]);
    const b = await runCli(['send', 'qmp:/x.qmp', ...flags, '--vm-after', 'reboot']);
    expect([b.status, b.stderr.trim()]).toEqual([2, "smig send: --vm-after: 'reboot' is not pause or quit"]);
    const c = await runCli(['send', 'qmp:', ...flags]);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/qmp: needs the path of the VM's QMP socket/);
  });

  it('a missing monitor socket is one line naming it (exit 1)', async () => {
    const r = await runCli(['send', `qmp:${join(dir, 'none.qmp')}`, ...flags]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `smig send: QMP ${join(dir, 'none.qmp')}: no such socket (is the VM running with -qmp unix:${join(dir, 'none.qmp')},server=on,wait=off?)`,
    );
  });
});
