/**
 * a 10-host lab (network namespaces on a bridge) runs a controller-triggered migration
 * with a capture on every host's link, and is taken down leaving no namespace, link or process behind.
 *
 * Every host h1…h10 runs an agent (`smig relay --controller … --out … --source vm=…`) on its lab address;
 * `smig control` runs in h10's namespace on h10's lab address, with sessions of 1 destination, 3 data relays
 * (one leads) and 3 key relays (2-of-3): 7 of the 9 hosts besides the source, so two hosts stay out. An EVE
 * alert naming h1's lab address migrates h1's image. `smig capture` records each host's link from the switch
 * side (`vhN` in the bridge namespace) from before the trigger until after the hooks ran; the captures must
 * show exactly the session's connections (who opened a connection to whom: source → data and key relays,
 * relays → leader, leader → destination), the image's bytes on the source's, leader's and destination's
 * links, the same byte counts on both ends of every hop, and nothing but controller traffic on the links of
 * the hosts left out. Needs root, iproute2 and the build (`npm run build`; npm test does it).
 */

import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDecoded, decodePacket, formatAddress, readCapture } from '../../src/capture/index.js';
import { generateIdentity, writeIdentityFiles } from '../../src/crypto/identity.js';
import type { Lab, LabDownReport, LinkCapture } from '../../src/lab/lab.js';
import { LAB_STATE_DIR, labDown, labUp, listNamespaces } from '../../src/lab/lab.js';
import { BIN, ROOT, runBin } from '../helpers/cli.js';
import { alertLine } from '../helpers/eve.js';
import { makeRandomFile, sha256File } from './migration-helpers.js';

const HOSTS = 10;
const SIZE = 4 * 1024 * 1024 + 123;
const RELAY_PORT = 7000;
const CTL_PORT = 7700;
const SOURCE = 'h1';
const CTL_HOST = 'h10';
const dir = mkdtempSync(join(tmpdir(), 'smig-labctl-'));
const keyFile = join(dir, 'cluster.key');
const image = join(dir, 'vm.img');
const eve = join(dir, 'eve.json');
const hookLog = join(dir, 'hooks.log');
const outOf = (name: string): string => join(dir, 'out', name);
const pcapOf = (name: string): string => join(dir, `${name}.pcap`);
/** A lab name unique to this run: a letter, the pid in base 36, a letter. */
const labName = `k${(process.pid % 100_000).toString(36)}c`;

/** Every process this file started (agents, controller, captures): stopped in the test, killed in afterAll. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await labDown(labName).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A `smig` process inside a lab host's namespace (`ip netns exec` execs node: the pid is node's). */
class NsProc {
  readonly child: ChildProcess;
  readonly name: string;
  stderr = '';
  readonly exited: Promise<unknown>;
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  constructor(lab: Lab, host: string, name: string, args: string[]) {
    this.name = name;
    this.child = lab.exec(host, [process.execPath, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(this.child);
    this.exited = once(this.child, 'exit');
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => {
      this.stderr += s;
      this.#waiters = this.#waiters.filter((w) => {
        const m = this.stderr.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    });
  }

  waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const m = this.stderr.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; stderr:\n${this.stderr}`)),
        timeoutMs,
      );
      this.#waiters.push({ re, resolve: (x) => (clearTimeout(t), resolve(x)) });
    });
  }

  /** The JSON log events so far. */
  events(): Record<string, unknown>[] {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (a clean shutdown), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** The caller's own links (index: name), as lab.test.ts compares them. */
function hostLinks(): string {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(':').slice(0, 2).join(':'))
    .join('\n');
}

function namespaceInodes(names: string[]): Set<string> {
  return new Set(names.map((ns) => `net:[${statSync(join('/run/netns', ns)).ino}]`));
}

/** Pids of processes in any of these network namespaces, or whose command line names `needle`. */
function processesIn(inodes: Set<string>, needle: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (
        inodes.has(readlinkSync(`/proc/${p}/ns/net`)) ||
        readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(needle)
      )
        pids.push(Number(p));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

/** What one host's link carried, by host name (packets neither from nor to the host are counted apart). */
interface LinkTraffic {
  /** TCP payload bytes of migration traffic (anything but the controller's connections), per `FROM>TO`. */
  bytes: Map<string, number>;
  /** Migration connections opened (SYN without ACK), as `FROM>TO`. */
  opened: Set<string>;
  /** Hosts this host exchanged migration packets with. */
  peers: Set<string>;
  /** Packets and TCP payload bytes of connections with the controller (its lab address, port CTL_PORT). */
  controlPackets: number;
  controlBytes: number;
  /** TCP/IPv4 packets neither from nor to the host (a bridge flooding a frame). */
  foreign: number;
}

async function linkTraffic(
  file: string,
  me: string,
  byAddress: Map<string, string>,
  ctlAddress: string,
): Promise<LinkTraffic> {
  const t: LinkTraffic = {
    bytes: new Map(),
    opened: new Set(),
    peers: new Set(),
    controlPackets: 0,
    controlBytes: 0,
    foreign: 0,
  };
  const d = createDecoded();
  await readCapture(file, (p) => {
    decodePacket(p.linktype, p.data, d, p.origLen);
    if (d.network !== 'ipv4' || d.protocol !== 6 || d.srcPort < 0 || d.tcpFlags < 0) return;
    const srcIp = formatAddress(d.src);
    const dstIp = formatAddress(d.dst);
    const ip = d.srcOffset - 12; // IPv4: the source address is at offset 12 of the header
    const ihl = (d.data[ip]! & 0x0f) * 4;
    const payload = d.ipTotalLength - ihl - (d.data[ip + ihl + 12]! >> 4) * 4;
    const from = byAddress.get(srcIp) ?? srcIp;
    const to = byAddress.get(dstIp) ?? dstIp;
    if (from !== me && to !== me) {
      t.foreign++;
      return;
    }
    if ((srcIp === ctlAddress && d.srcPort === CTL_PORT) || (dstIp === ctlAddress && d.dstPort === CTL_PORT)) {
      t.controlPackets++;
      t.controlBytes += payload;
      return;
    }
    t.peers.add(from === me ? to : from);
    t.bytes.set(`${from}>${to}`, (t.bytes.get(`${from}>${to}`) ?? 0) + payload);
    if ((d.tcpFlags & 0x12) === 0x02) t.opened.add(`${from}>${to}`);
  });
  return t;
}

describe('a controller-triggered migration across a 10-host lab', () => {
  it('an EVE alert migrates h1 through 7 chosen hosts; every link shows exactly the session; down leaves nothing', async () => {
    const linksBefore = hostLinks();
    const lab = await labUp({ name: labName, hosts: HOSTS });
    const names = lab.hosts.map((h) => h.name);
    const addr = (name: string): string => lab.host(name).address;
    const byAddress = new Map(lab.hosts.map((h) => [h.address, h.name]));
    const ctlAddr = `${addr(CTL_HOST)}:${CTL_PORT}`;
    const namespaces = await listNamespaces(`smig-${labName}-`);
    expect(namespaces).toHaveLength(HOSTS + 1);
    const inodes = namespaceInodes(namespaces);
    const procs: NsProc[] = [];
    const captures: LinkCapture[] = [];
    let ctl: NsProc | undefined;
    let down!: LabDownReport;
    try {
      // a cluster key and an image, shared with the namespaces through the file system
      expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
      // identities: the operator's made with the command line, each host's in-process (same format)
      const operatorId = join(dir, 'operator.id');
      expect((await runBin(['keygen', '--identity', '-o', operatorId])).status).toBe(0);
      for (const n of names) await writeIdentityFiles(join(dir, `${n}.id`), generateIdentity(n));
      const sum = await makeRandomFile(image, SIZE);
      for (const n of names) mkdirSync(outOf(n), { recursive: true });
      writeFileSync(eve, '');
      writeFileSync(
        join(dir, 'hosts.yaml'),
        `hosts:\n${names.map((n) => `  - name: ${n}\n    address: "${addr(n)}:${RELAY_PORT}"\n    ids: [${addr(n)}]\n    key: ${n}.id.pub\n`).join('')}`,
      );

      ctl = new NsProc(lab, CTL_HOST, 'control', [
        'control',
        '--key',
        keyFile,
        '--inventory',
        join(dir, 'hosts.yaml'),
        '--operator-key',
        `${operatorId}.pub`,
        '--eve',
        eve,
        '--listen',
        ctlAddr,
        '--journal',
        join(dir, 'control.journal'),
        '--log-format',
        'json',
        '--data-relays',
        '3',
        '--key-relays',
        '3',
        '--threshold',
        '2',
        '--heartbeat',
        '1s',
        '--eve-poll',
        '100ms',
        '--deadline',
        '60s',
        '--no-retry',
        '--hook',
        `notify-ids=printf '%s\\n' "$SMIG_EVENT|$SMIG_SOURCE_HOST|$SMIG_DEST_HOST|$SMIG_LEADER_HOST|$SMIG_BYTES|$SMIG_SHA256" >> ${hookLog}`,
      ]);
      procs.push(ctl);
      await ctl.waitFor(/"event":"listening"/);
      for (const n of names) {
        procs.push(
          new NsProc(lab, n, `agent ${n}`, [
            'relay',
            '--listen',
            `${addr(n)}:${RELAY_PORT}`,
            '--key',
            keyFile,
            '--log-format',
            'json',
            '--controller',
            ctlAddr,
            '--name',
            n,
            '--identity',
            join(dir, `${n}.id`),
            '--out',
            outOf(n),
            '--source',
            `vm=${image}`,
          ]),
        );
      }
      for (const n of names) await ctl.waitFor(new RegExp(`"event":"agent-registered","host":"${n}"`), 60_000);

      // a capture on every host's link, listening before the trigger
      for (const n of names) {
        const cap = await lab.captureLink(n, { file: pcapOf(n) });
        children.add(cap.child);
        captures.push(cap);
      }
      const capturing = Date.now();

      appendFileSync(eve, `${alertLine('198.51.100.23', addr(SOURCE))}\n`);
      await ctl.waitFor(/"event":"hook-done","session":"[0-9a-f]+","hook":"notify-ids"/, 60_000);
      const planned = ctl.events().find((e) => e.event === 'session-planned')!;
      expect(planned).toMatchObject({ source: SOURCE, attempt: 1 });
      const dest = String(planned.destination);
      const leader = String(planned.leader);
      const dataRelays = String(planned.dataRelays).split(',');
      const keyRelays = String(planned.keyRelays).split(',');
      const session = [dest, ...dataRelays, ...keyRelays];
      expect(dataRelays).toHaveLength(3);
      expect(keyRelays).toHaveLength(3);
      expect(new Set(session).size).toBe(7);
      expect(session).not.toContain(SOURCE);
      expect(dataRelays).toContain(leader);
      const outside = names.filter((n) => n !== SOURCE && !session.includes(n));
      expect(outside).toHaveLength(2);

      // the image, byte-identical, at the destination only; the hook saw the same session
      expect(await sha256File(join(outOf(dest), 'vm.img'))).toBe(sum);
      for (const n of names) expect(readdirSync(outOf(n)), n).toEqual(n === dest ? ['vm.img'] : []);
      expect(readFileSync(hookLog, 'utf8')).toBe(`notify-ids|${SOURCE}|${dest}|${leader}|${SIZE}|${sum}\n`);
      expect(ctl.events().filter((e) => e.event === 'session-done')).toMatchObject([
        { source: SOURCE, destination: dest, bytes: SIZE },
      ]);
      // the controller's status, asked from inside the lab with the command line
      const st = await lab.run(
        CTL_HOST,
        [
          process.execPath,
          BIN,
          'control',
          'status',
          '--json',
          '--key',
          keyFile,
          '--identity',
          operatorId,
          '--controller',
          ctlAddr,
        ],
        { timeoutMs: 30_000 },
      );
      expect(st.status, st.stderr).toBe(0);
      const status = JSON.parse(st.stdout) as {
        sessions: Record<string, unknown>[];
        hosts: { name: string; state: string }[];
      };
      expect(status.sessions).toHaveLength(1);
      expect(status.sessions[0]).toMatchObject({
        state: 'done',
        source: SOURCE,
        destination: dest,
        outcome: { bytes: SIZE, sha256: sum },
      });
      expect(status.hosts.find((h) => h.name === SOURCE)!.state).toBe('honeypot');

      // at least two heartbeats on every link, then stop every capture
      await new Promise((r) => setTimeout(r, Math.max(0, 2500 - (Date.now() - capturing))));
      const summaries = await Promise.all(captures.map((c) => c.stop()));
      summaries.forEach((s, i) =>
        expect(s, names[i]).toMatchObject({ interface: `vh${i + 1}`, writerDropped: 0, reason: 'signal' }),
      );

      // who opened a connection to whom: source → every data and key relay, every relay other than the
      // leader → leader, leader → destination (a leader's own data relay reaches it over lo, off the link)
      const edges = [
        ...[...dataRelays, ...keyRelays].map((r) => `${SOURCE}>${r}`),
        ...[...dataRelays, ...keyRelays].filter((r) => r !== leader).map((r) => `${r}>${leader}`),
        `${leader}>${dest}`,
      ];
      const traffic = new Map<string, LinkTraffic>();
      for (const n of names) traffic.set(n, await linkTraffic(pcapOf(n), n, byAddress, addr(CTL_HOST)));
      for (const n of names) {
        const t = traffic.get(n)!;
        const mine = edges.filter((e) => e.split('>').includes(n));
        expect([...t.opened].sort(), `connections opened on ${n}'s link`).toEqual([...mine].sort());
        expect([...t.peers].sort(), `migration peers on ${n}'s link`).toEqual(
          [...new Set(mine.flatMap((e) => e.split('>')).filter((x) => x !== n))].sort(),
        );
        // agents' heartbeats (and for the session's hosts, instructions) to the controller: present, small
        if (n !== CTL_HOST) expect(t.controlPackets, `controller packets on ${n}'s link`).toBeGreaterThan(0);
        expect(t.controlBytes, `controller bytes on ${n}'s link`).toBeLessThan(256 * 1024);
        expect(t.foreign, `packets on ${n}'s link neither from nor to it`).toBe(0);
      }
      for (const n of outside) expect(traffic.get(n)!.bytes.size, `${n} is out of the session`).toBe(0);
      // both ends of every hop saw the same payload bytes each way (a complete capture on every link)
      for (const e of edges) {
        const [a, b] = e.split('>') as [string, string];
        for (const way of [`${a}>${b}`, `${b}>${a}`]) {
          const bytes = traffic.get(a)!.bytes.get(way) ?? 0;
          expect(bytes, `${way} payload on ${a}'s link`).toBeGreaterThan(0);
          expect(traffic.get(b)!.bytes.get(way), `${way} payload on ${b}'s link`).toBe(bytes);
        }
      }
      const sumOf = (t: LinkTraffic, keys: string[]): number => keys.reduce((s, k) => s + (t.bytes.get(k) ?? 0), 0);
      // the image (encrypted, framed, in TLS) leaves the source toward the data relays, reaches the leader, and the destination
      expect(
        sumOf(
          traffic.get(SOURCE)!,
          dataRelays.map((r) => `${SOURCE}>${r}`),
        ),
      ).toBeGreaterThanOrEqual(SIZE);
      expect(
        sumOf(
          traffic.get(SOURCE)!,
          keyRelays.map((r) => `${SOURCE}>${r}`),
        ),
      ).toBeLessThan(64 * 1024); // shares only
      expect(
        sumOf(traffic.get(leader)!, [
          `${SOURCE}>${leader}`,
          ...dataRelays.filter((r) => r !== leader).map((r) => `${r}>${leader}`),
        ]),
      ).toBeGreaterThanOrEqual(SIZE);
      expect(traffic.get(dest)!.bytes.get(`${leader}>${dest}`)).toBeGreaterThanOrEqual(SIZE);
      for (const k of keyRelays)
        expect(traffic.get(k)!.bytes.get(`${k}>${leader}`), `${k} → leader`).toBeLessThan(64 * 1024);
    } finally {
      await Promise.all(captures.map((c) => c.stop().catch(() => undefined)));
      await Promise.all(procs.map((p) => p.stop()));
      down = await labDown(labName);
    }
    // everything we started ended on SIGTERM/SIGINT before the namespaces went: down had nothing to kill
    expect(down.namespaces).toHaveLength(HOSTS + 1);
    expect(down.killed, 'processes labDown had to end').toEqual([]);
    for (const p of procs) expect(p.stderr, p.name).not.toMatch(/internal-error/);
    expect(await listNamespaces(`smig-${labName}-`)).toEqual([]);
    expect(existsSync(join(LAB_STATE_DIR, `${labName}.json`))).toBe(false);
    expect(hostLinks()).toBe(linksBefore);
    for (const c of children) expect([c.pid, c.exitCode !== null || c.signalCode !== null]).toEqual([c.pid, true]);
    expect(processesIn(inodes, dir)).toEqual([]);
  }, 170_000);
});
