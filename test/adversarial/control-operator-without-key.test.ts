/**
 * Attack: a holder of the cluster key (any host, the one the IDS flagged included) sends operator requests
 * to `smig control` — read the status, trigger a migration, return a honeypot to service. Before, the
 * cluster key was enough. Now every request must be signed with an operator identity the controller was
 * given (`--operator-key`); anything else is refused with one line, and nothing is acted on.
 * Real processes on 127.0.0.1: `smig control` and the `smig control status|migrate|reinstate` command line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, writeIdentityFiles } from '../../src/crypto/identity.js';
import { runBin } from '../helpers/cli.js';
import type { Proc } from './control-cluster.js';
import { ClusterFiles, events, stopAll } from './control-cluster.js';

const c = new ClusterFiles();
let ctl: Proc;

beforeAll(async () => {
  await c.init(['h0', 'h1']);
  c.writeInventory([
    { name: 'h0', address: '127.0.0.1:21000', ip: '10.88.0.1' },
    { name: 'h1', address: '127.0.0.1:21001', ip: '10.88.0.2' },
  ]);
  await writeIdentityFiles(`${c.dir}/intruder.id`, generateIdentity('intruder'));
  ctl = await c.startController();
}, 30_000);

afterAll(async () => {
  await stopAll();
  expect(ctl.stderr).not.toMatch(/internal-error/);
  c.remove();
});

const common = (): string[] => ['--key', c.keyFile, '--controller', c.controllerAddr];

describe('operator requests without the operator key', () => {
  it.each([
    ['status', ['control', 'status']],
    ['migrate', ['control', 'migrate', 'h0']],
    ['reinstate', ['control', 'reinstate', 'h0']],
  ])('%s without --identity is refused with one line (exit 1)', async (what, argv) => {
    const r = await runBin([...argv, ...common()], { timeoutMs: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `smig control ${what}: operator request '${what}' refused: not signed (an --operator-key of the controller is required: start it with --identity FILE)\n`,
    );
  });

  it("a request signed by another identity (a host's own, or a stranger's) is refused", async () => {
    for (const id of [c.idFile('h0'), `${c.dir}/intruder.id`]) {
      const r = await runBin(['control', 'migrate', 'h1', '--identity', id, ...common()], { timeoutMs: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /^smig control migrate: operator request 'migrate' refused: the signature does not verify against an --operator-key of the controller \(SHA256:[A-Za-z0-9+/]{43}\)\n$/,
      );
    }
  });

  it("nothing was acted on; the operator's own identity is served", async () => {
    expect(events(ctl).filter((e) => e.event === 'trigger' || e.event === 'host-reinstated')).toEqual([]);
    expect(events(ctl).filter((e) => e.event === 'operator-refused')).toHaveLength(5);
    const r = await runBin(['control', 'status', '--json', '--identity', c.operatorFile, ...common()], {
      timeoutMs: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name)).toEqual(['h0', 'h1']);
  });
});
