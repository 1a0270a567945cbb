/**
 * Helpers of the controller's adversarial tests: a directory with a cluster key, host and operator
 * identities (the `smig keygen --identity` format), an inventory, and real `smig control` / `smig relay`
 * processes on 127.0.0.1 (through test/e2e/migration-helpers.ts, which stops every process it started).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientOptions } from '../../src/control/client.js';
import { fetchStatus } from '../../src/control/client.js';
import type { ControllerStatus } from '../../src/control/controller.js';
import type { Identity } from '../../src/crypto/identity.js';
import { generateIdentity, writeIdentityFiles } from '../../src/crypto/identity.js';
import { generateKey, writeKeyFile } from '../../src/crypto/keyfile.js';
import { Proc } from '../e2e/migration-helpers.js';

export { Proc, spawnRelay, stopAll } from '../e2e/migration-helpers.js';

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** JSON log events of a process (`--log-format json`). */
export function events(p: Proc): Record<string, unknown>[] {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls `f` every 100 ms until it returns something other than undefined. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A test cluster's files. */
export class ClusterFiles {
  readonly dir: string = mkdtempSync(join(tmpdir(), 'smig-adv-'));
  readonly keyFile: string = join(this.dir, 'cluster.key');
  readonly operatorFile: string = join(this.dir, 'operator.id');
  readonly inventoryFile: string = join(this.dir, 'hosts.yaml');
  readonly journal: string = join(this.dir, 'control.journal');
  readonly eve: string = join(this.dir, 'eve.json');
  operator!: Identity;
  clusterKey!: Uint8Array;
  controllerPort = 0;

  /** Cluster key, the operator's identity, one identity per host name (`DIR/NAME.id`). */
  async init(hosts: string[]): Promise<this> {
    this.clusterKey = generateKey();
    await writeKeyFile(this.keyFile, this.clusterKey);
    this.operator = generateIdentity('operator');
    await writeIdentityFiles(this.operatorFile, this.operator);
    for (const h of hosts) await writeIdentityFiles(this.idFile(h), generateIdentity(h));
    this.controllerPort = await freePort();
    writeFileSync(this.eve, '');
    return this;
  }

  idFile(host: string): string {
    return join(this.dir, `${host}.id`);
  }

  get controllerAddr(): string {
    return `127.0.0.1:${this.controllerPort}`;
  }

  /** Writes the inventory: each host with its address, IDS address and key file. */
  writeInventory(hosts: { name: string; address: string; ip: string; roles?: string[] }[]): void {
    writeFileSync(
      this.inventoryFile,
      `hosts:\n${hosts
        .map(
          (h) =>
            `  - name: ${h.name}\n    address: "${h.address}"\n    ids: [${h.ip}]\n` +
            `${h.roles ? `    roles: [${h.roles.join(', ')}]\n` : ''}    key: ${h.name}.id.pub\n`,
        )
        .join('')}`,
    );
  }

  /** `smig control` with the operator key, journal and EVE file of this cluster; resolves once listening. */
  async startController(extra: string[] = []): Promise<Proc> {
    const p = new Proc('control', [
      'control',
      '--key',
      this.keyFile,
      '--inventory',
      this.inventoryFile,
      '--operator-key',
      `${this.operatorFile}.pub`,
      '--listen',
      this.controllerAddr,
      '--journal',
      this.journal,
      '--eve',
      this.eve,
      '--eve-poll',
      '50ms',
      '--log-format',
      'json',
      '--heartbeat',
      '300ms',
      ...extra,
    ]);
    await p.waitFor(/"event":"listening"/);
    return p;
  }

  client(identity: Identity | undefined = this.operator): ClientOptions {
    return { clusterKey: this.clusterKey, identity, controller: { host: '127.0.0.1', port: this.controllerPort } };
  }

  status(): Promise<ControllerStatus> {
    return fetchStatus(this.client());
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
