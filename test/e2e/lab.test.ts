/**
 * `smig lab` end to end (needs root, iproute2, tshark; `smig capture` needs the build): a 10-host lab
 * where every host reaches every other, a TCP transfer captured on a link from the bridge namespace,
 * and `down` leaving no namespace, link or process behind, also after a simulated crash. Every lab made
 * here is swept in afterAll whatever happened.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { LAB_STATE_DIR, labDown, labOpen, labUp, listNamespaces } from '../../src/lab/lab.js';
import { BIN, ROOT, runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-lab-'));
const tag = (process.pid % 100_000).toString(36);
const made = new Set<string>();
/** A lab name unique to this run (a letter, the pid in base 36, a letter). */
function labName(suffix: string): string {
  const name = `e${tag}${suffix}`;
  made.add(name);
  return name;
}

afterAll(async () => {
  for (const name of made) await labDown(name).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** What the caller's own namespace has: its links (name, index) and the namespaces list. */
function hostSnapshot(): string {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(':').slice(0, 2).join(':'))
    .join('\n');
}

/** Inodes of a lab's namespaces, to find any process still inside one after `down`. */
function namespaceInodes(names: string[]): Set<string> {
  return new Set(names.map((ns) => `net:[${statSync(join('/run/netns', ns)).ino}]`));
}
function processesIn(inodes: Set<string>): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (inodes.has(readlinkSync(`/proc/${p}/ns/net`))) pids.push(Number(p));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

/** Lines of a child's stdout as they come. */
function lines(child: ChildProcess): () => Promise<string> {
  let buf = '';
  const queue: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l);
      else queue.push(l);
    }
  });
  return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r)));
}

// every host: answer on :7000 with its name; on "go" ask every peer, print {addr: name}; exit when stdin ends
const MESH = `const net=require('net');const [me,...peers]=process.argv.slice(1);
const srv=net.createServer(s=>s.once('data',()=>s.end(me))).listen(7000,'0.0.0.0',()=>process.stdout.write('ready\\n'));
process.stdin.once('data',async()=>{const out={};await Promise.all(peers.map(a=>new Promise(res=>{let got='';
const c=net.connect(7000,a,()=>c.write(me));c.setTimeout(5000,()=>c.destroy());c.on('data',d=>got+=d);c.on('error',()=>{});
c.on('close',()=>{out[a]=got;res()})})));process.stdout.write(JSON.stringify(out)+'\\n')});
process.stdin.on('end',()=>{srv.close();process.exit(0)});process.stdin.resume();`;
const RECEIVER = `const net=require('net');const srv=net.createServer(s=>{let n=0;s.on('data',d=>n+=d.length);
s.on('end',()=>{process.stdout.write(n+'\\n');srv.close()})}).listen(5001,process.argv[1],()=>process.stdout.write('ready\\n'));`;
const SENDER = `const net=require('net');const t0=performance.now();const c=net.connect(5001,process.argv[1],()=>{
process.stdout.write('connected '+(performance.now()-t0).toFixed(3)+'\\n');c.end(Buffer.alloc(+process.argv[2],7))});
c.on('close',()=>process.stdout.write('done '+(performance.now()-t0).toFixed(3)+'\\n'));`;

/** Sends `size` bytes from `from` to `to`:5001; returns the receiver's count and the sender's lines. */
async function transfer(
  lab: Lab,
  from: string,
  to: string,
  size: number,
): Promise<{ received: number; connectMs: number; totalMs: number }> {
  const rx = lab.exec(to, [process.execPath, '-e', RECEIVER, lab.host(to).address], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rxLine = lines(rx);
  expect(await rxLine()).toBe('ready');
  const tx = lab.exec(from, [process.execPath, '-e', SENDER, lab.host(to).address, String(size)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const txLine = lines(tx);
  const connectMs = Number((await txLine()).split(' ')[1]);
  const totalMs = Number((await txLine()).split(' ')[1]);
  return { received: Number(await rxLine()), connectMs, totalMs };
}

/** Bytes of the stream covered by the captured segments (relative seq numbers; retransmissions count once). */
function covered(segments: string[][]): { from: number; to: number; bytes: number } {
  const iv = segments.map((r) => [Number(r[0]), Number(r[0]) + Number(r[1])] as const).sort((a, b) => a[0] - b[0]);
  let bytes = 0;
  let end = -Infinity;
  for (const [a, b] of iv) {
    if (b > end) {
      bytes += b - Math.max(a, end);
      end = b;
    }
  }
  return { from: iv[0]?.[0] ?? 0, to: end, bytes };
}

function tshark(file: string, fields: string[], filter?: string): string[][] {
  const r = spawnSync(
    'tshark',
    ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f]), ...(filter ? ['-Y', filter] : [])],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

describe('a 10-host lab', () => {
  it('every host reaches every other; a captured transfer shows wire-size packets; down leaves nothing', async () => {
    const before = hostSnapshot();
    const name = labName('a');
    const lab = await labUp({ name, hosts: 10 });
    let inodes = new Set<string>();
    try {
      const nss = await listNamespaces(`smig-${name}-`);
      expect(nss).toEqual([`smig-${name}-br`, ...Array.from({ length: 10 }, (_, i) => `smig-${name}-h${i + 1}`)]);
      inodes = namespaceInodes(nss);
      expect(lab.hosts.map((h) => h.address)).toEqual(Array.from({ length: 10 }, (_, i) => `10.77.0.${i + 1}`));
      expect(existsSync(join(LAB_STATE_DIR, `${name}.json`))).toBe(true);
      // the caller's namespace is untouched: same links, nothing new
      expect(hostSnapshot()).toBe(before);

      // full mesh: 10 × 9 TCP exchanges, each peer answering with its own name
      const procs = lab.hosts.map((h) =>
        lab.exec(
          h.name,
          [process.execPath, '-e', MESH, h.name, ...lab.hosts.filter((o) => o !== h).map((o) => o.address)],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        ),
      );
      const readers = procs.map(lines);
      for (const r of readers) expect(await r()).toBe('ready');
      for (const p of procs) p.stdin!.write('go\n');
      const results = await Promise.all(readers.map(async (r) => JSON.parse(await r()) as Record<string, string>));
      lab.hosts.forEach((h, i) => {
        const expected = Object.fromEntries(lab.hosts.filter((o) => o !== h).map((o) => [o.address, o.name]));
        expect(results[i], `from ${h.name}`).toEqual(expected);
      });
      // leave one process running on purpose: down must end it
      for (const p of procs.slice(1)) p.stdin!.end();

      // h1 → h2, 1 MB, captured on h2's link from the bridge namespace. The capture is frozen for the whole
      // transfer and stopped right after: what the kernel ring holds (128 MiB: 2,000+ slots even with
      // offloads on, ~1,050 packets needed) must all reach the file before it closes.
      const file = join(dir, 'h2.pcap');
      const cap = await lab.captureLink('h2', { file, filter: 'tcp port 5001', bufferSize: 128 << 20 });
      process.kill(cap.child.pid!, 'SIGSTOP'); // `ip netns exec` execs smig: the same pid
      let t;
      try {
        t = await transfer(lab, 'h1', 'h2', 1_000_000);
      } finally {
        process.kill(cap.child.pid!, 'SIGCONT');
      }
      expect(t.received).toBe(1_000_000);
      const summary = await cap.stop();
      const frames = tshark(file, ['frame.len', 'ip.src', 'tcp.len']);
      expect(summary).toMatchObject({ interface: 'vh2', packets: frames.length, writerDropped: 0, reason: 'signal' });
      // offloads off: every frame is at most MTU + Ethernet header, and all payload is there exactly once
      expect(Math.max(...frames.map((f) => Number(f[0])))).toBe(1514);
      expect(covered(tshark(file, ['tcp.seq', 'tcp.len'], 'ip.src == 10.77.0.1 && tcp.len > 0'))).toEqual({
        from: 1,
        to: 1_000_001,
        bytes: 1_000_000,
      });
      expect(frames.filter((f) => f[1] === '10.77.0.2').length).toBeGreaterThan(0); // h2's ACKs: both directions
      expect(frames.length).toBeGreaterThan(Math.ceil(1_000_000 / 1448));
      // with ethtool, a host's own device cuts segments in software (GSO, not TSO) and the switch port offloads
      // nothing: the wire-size frames above are the device's cuts
      if (lab.state.offloads === 'ethtool') {
        const features = (ns: string, dev: string): string =>
          spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-k', dev], { encoding: 'utf8' }).stdout;
        const host = features(lab.host('h1').ns, 'eth0');
        expect(host).toMatch(/^generic-segmentation-offload: on/m);
        expect(host).toMatch(/^tcp-segmentation-offload: off/m);
        expect(host).toMatch(/^generic-receive-offload: off/m);
        const port = features(lab.state.bridgeNs, 'vh1');
        expect(port).toMatch(/^generic-segmentation-offload: off/m);
        expect(port).toMatch(/^tcp-segmentation-offload: off/m);
      } else {
        // without ethtool, TCP hands the host's device one segment per skb
        const link = spawnSync('ip', ['-d', '-n', lab.host('h1').ns, 'link', 'show', 'eth0'], { encoding: 'utf8' });
        expect(link.stdout).toMatch(/gso_max_segs 1 /);
      }
    } finally {
      const r = await lab.down();
      expect(r.namespaces).toHaveLength(11);
      expect(r.killed.length).toBeGreaterThanOrEqual(1);
    }
    expect(await listNamespaces(`smig-${name}-`)).toEqual([]);
    expect(processesIn(inodes)).toEqual([]);
    expect(existsSync(join(LAB_STATE_DIR, `${name}.json`))).toBe(false);
    expect(hostSnapshot()).toBe(before);
  });
});

describe('smig lab on the command line', () => {
  it('up, exec (stdio and exit status), status, rate limit; down after a crash ends processes and is idempotent', async () => {
    const name = labName('b');
    const up = await runBin([
      'lab',
      'up',
      '--hosts',
      '2',
      '--name',
      name,
      '--rate',
      '4Mbit/s',
      '--subnet',
      '192.168.77.0/24',
    ]);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toContain(
      `lab ${name}: 2 hosts on 192.168.77.0/24, bridge smig-${name}-br/br0, rate 4mbit per host egress`,
    );
    const again = await runBin(['lab', 'up', '--hosts', '2', '--name', name]);
    expect(again).toMatchObject({
      status: 1,
      stderr: `smig lab: lab ${name} already exists (smig-${name}-br); take it down first: smig lab down ${name}\n`,
    });

    const ex = await runBin([
      'lab',
      'exec',
      name,
      'h2',
      '--',
      'sh',
      '-c',
      'ip -o -4 addr show dev eth0; cat /sys/class/net/eth0/mtu; exit 7',
    ]);
    expect(ex.status).toBe(7);
    expect(ex.stdout).toMatch(/eth0\s+inet 192\.168\.77\.2\/24 .*\n1500\n$/);
    // by address; no IPv6 address (a quiet lab), GSO off
    const byAddr = await runBin([
      'lab',
      'exec',
      name,
      '192.168.77.1',
      '--',
      'sh',
      '-c',
      'ip -o -6 addr show dev eth0 | wc -l; ip -d link show dev eth0 | grep -o "gso_max_segs [0-9]*"',
    ]);
    expect(byAddr.status, byAddr.stderr).toBe(0);
    expect(byAddr.stdout).toBe('0\ngso_max_segs 1\n');
    const noHost = await runBin(['lab', 'exec', name, 'h3', '--', 'true']);
    expect(noHost).toMatchObject({
      status: 2,
      stderr: `smig lab: lab ${name}: no host 'h3' (hosts h1..h2, or br for the bridge)\n`,
    });

    // the tbf rate: 250 kB at 4 Mbit/s (500 kB/s) takes about half a second
    const t = await transfer(await labOpen(name), 'h1', 'h2', 250_000);
    expect(t.received).toBe(250_000);
    expect(t.totalMs).toBeGreaterThan(400);
    expect(t.totalMs).toBeLessThan(5000);

    // a process left running in h1, then a "crash": the state file is gone, the namespaces are not
    const sleeper = spawn(process.execPath, [BIN, 'lab', 'exec', name, 'h1', '--', 'sleep', '60'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    const sleeperExit = new Promise<number | null>((r) => sleeper.on('close', (code) => r(code)));
    let st:
      | {
          hosts: { name: string; processes: number; link: string; addresses: string[] }[];
          bridge: { link: string; ports: unknown[] };
        }
      | undefined;
    for (let i = 0; i < 50; i++) {
      const s = await runBin(['lab', 'status', name, '--json']);
      expect(s.status, s.stderr).toBe(0);
      st = JSON.parse(s.stdout) as typeof st;
      if (st!.hosts[0]!.processes === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(st!.hosts.map((h) => [h.name, h.link, h.addresses, h.processes])).toEqual([
      ['h1', 'UP', ['192.168.77.1/24'], 1],
      ['h2', 'UP', ['192.168.77.2/24'], 0],
    ]);
    expect(st!.bridge).toMatchObject({
      link: 'UP',
      ports: [
        { name: 'vh1', link: 'UP' },
        { name: 'vh2', link: 'UP' },
      ],
    });
    const inodes = namespaceInodes(await listNamespaces(`smig-${name}-`));
    rmSync(join(LAB_STATE_DIR, `${name}.json`));
    const leftovers = await runBin(['lab', 'status']);
    expect(leftovers.stdout).toContain(`lab ${name}: no state file; bridge smig-${name}-br br0 UP, 2 ports`);

    const down = await runBin(['lab', 'down', name]);
    expect(down).toMatchObject({ status: 0, stdout: `lab ${name}: removed 3 namespaces, ended 1 processes\n` });
    expect(await sleeperExit).toBe(128 + 15); // sleep ended by SIGTERM, reported as a shell would
    expect(processesIn(inodes)).toEqual([]);
    expect(await listNamespaces(`smig-${name}-`)).toEqual([]);
    const twice = await runBin(['lab', 'down', name]);
    expect(twice).toMatchObject({ status: 0, stdout: `lab ${name}: nothing to remove\n` });
    const gone = await runBin(['lab', 'status', name]);
    expect(gone.status).toBe(1);
    expect(gone.stdout).toContain('(not up)');
  });

  it('--delay: a round trip of twice the delay, or (kernel without netem) one clear line and nothing left', async () => {
    const name = labName('c');
    const up = await runBin(['lab', 'up', '--hosts', '2', '--name', name, '--delay', '20ms']);
    if (up.status === 0) {
      const t = await transfer(await labOpen(name), 'h1', 'h2', 1000);
      expect(t.connectMs).toBeGreaterThanOrEqual(40); // SYN → SYN/ACK: one round trip
      await labDown(name);
    } else {
      expect(up).toMatchObject({
        status: 1,
        stderr:
          "smig lab: shape h1's link: this kernel has no tc netem (CONFIG_NET_SCH_NETEM), needed for --delay/--loss\n",
      });
    }
    expect(await listNamespaces(`smig-${name}-`)).toEqual([]);
    expect(existsSync(join(LAB_STATE_DIR, `${name}.json`))).toBe(false);
  });

  it('refuses without root (exit 2, one line) and rejects bad options before touching anything', async () => {
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'lab',
        'up',
        '--hosts',
        '2',
        '--name',
        labName('d'),
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('smig lab: smig lab up needs root (it creates network namespaces); run it with sudo\n');
    const badName = await runBin(['lab', 'up', '--hosts', '2', '--name', 'Bad-Name']);
    expect(badName).toMatchObject({
      status: 2,
      stderr: "smig lab: lab name 'Bad-Name': expected a lower-case letter then up to 9 letters or digits\n",
    });
    const badAction = await runBin(['lab', 'frob']);
    expect(badAction).toMatchObject({
      status: 2,
      stderr: "smig lab: lab: unknown action 'frob' (up, exec, status, down)\n",
    });
    const badLoss = await runBin(['lab', 'up', '--hosts', '2', '--loss', '150%']);
    expect(badLoss.status).toBe(2);
    expect(badLoss.stderr).toMatch(/--loss: '150%' is not a percentage/);
  });
});
