/** `smig control` and the agent flags of `smig relay`: bad usage is exit 2 with one line, before anything listens. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-ctl-cli-'));
const key = join(dir, 'k.key');
const inv = join(dir, 'hosts.yaml');
beforeAll(async () => {
  expect((await runCli(['keygen', '-o', key])).status).toBe(0);
  writeFileSync(inv, 'hosts:\n  - {name: h0, address: "127.0.0.1:7001"}\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('smig control (usage)', () => {
  it.each([
    [['control'], 'smig control: --key FILE is required (the cluster key)\n'],
    [['control', '--key', key], 'smig control: --inventory FILE is required\n'],
    [
      ['control', '--key', key, '--inventory', inv, '--hook', 'reboot=x'],
      "smig control: --hook: 'reboot' is not an event (make-honeypot, disconnect, connect, notify-ids, failed); expected EVENT=CMD\n",
    ],
    [
      ['control', '--key', key, '--inventory', inv, '--threshold', '4'],
      'smig control: threshold (with 3 key relays): 4 is not a whole number from 1 to 3\n',
    ],
    [
      ['control', '--key', key, '--inventory', inv, '--strategy', 'profile'],
      'smig control: --strategy profile needs a profile (--profile FILE)\n',
    ],
    [
      ['control', '--key', key, '--inventory', inv, '--strategy', 'bulk', '--rate', '1MB/s'],
      'smig control: --strategy bulk: no pacing, so --profile and --rate have no use\n',
    ],
    [
      ['control', '--key', key, '--inventory', join(dir, 'none.yaml')],
      `smig control: inventory ${join(dir, 'none.yaml')}: no such file\n`,
    ],
    [
      ['control', 'migrate', 'h0;rm', '--key', key],
      "smig control migrate: 'h0;rm' is not HOST or HOST:SOURCE (names of letters, digits, '.', '_', '-')\n",
    ],
    [['control', 'status'], 'smig control status: --key FILE is required (the cluster key)\n'],
    [
      ['relay', '--listen', '127.0.0.1:0', '--key', key, '--out', dir],
      'smig relay: --out, --source, --name and --identity need --controller (only the controller tells a relay to receive or send)\n',
    ],
    [
      ['relay', '--listen', '127.0.0.1:0', '--key', key, '--controller', '127.0.0.1:1', '--out', join(dir, 'none')],
      `smig relay: --out ${join(dir, 'none')}: no such directory\n`,
    ],
    [
      ['relay', '--listen', '127.0.0.1:0', '--key', key, '--controller', '127.0.0.1:1', '--source', 'nope'],
      "smig relay: --source: 'nope' is not NAME=PATH or NAME=|CMD (NAME: letters, digits, '.', '_', '-')\n",
    ],
    [
      ['relay', '--listen', '127.0.0.1:0', '--key', key, '--controller', '127.0.0.1:1', '--name', '../h'],
      "smig relay: --name: '../h' is not an inventory name (letters, digits, '.', '_', '-')\n",
    ],
  ])('%j', async (argv, stderr) => {
    const r = await runCli(argv);
    expect([r.status, r.stderr]).toEqual([2, stderr]);
  });

  it('a client with no daemon to talk to fails with exit 1 and one line', async () => {
    const r = await runCli(['control', '--key', key, 'status', '--controller', '127.0.0.1:1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^smig control status: controller 127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
  });
});
