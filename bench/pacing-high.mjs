#!/usr/bin/env node
// `npm run bench:pacing-high`: a paced migration at tens of MB/s with a profile learned from a real high-rate
// capture, through separate `smig` processes on a lab of network namespaces (root):
//
//   h1 source ──▶ h2 data relay ──▶ h3 leader ──▶ h5 destination          h4 key relay ──▶ h3 (a share)
//
// every host's egress a 300 Mbit/s tbf link (`smig lab up --rate`, MTU 1500, offloads off: captures show wire
// packets), as the link the normal capture was made on. The normal capture is made by scripts/make-bulk-capture.sh
// (curl downloads at varied rates from python3 -m http.server over such a link, tcpdump -s 96) unless --capture
// names one; the profile is learned from its even 5 s blocks (data direction), the odd blocks are the hold-out.
// tcpdump (-s 96) records the data direction of each paced link on the bridge ports. Per run it prints:
//   - the migration's time ÷ its lower bound (size ÷ the profile's mean byte rate);
//   - each hop's achieved wire rate and the lateness of its paced writes, p50 / p99 / max (ms);
//   - per link, KS of packets and bytes per bin against the hold-out (the verdict), and, for information, KS of
//     packet sizes and gaps (the per-packet tests).
//
// Options: --size BYTES (default 1000000000), --runs N (1), --capture FILE (default: make one, 40 s),
// --capture-seconds S (40), --bin DUR (500ms), --rate RATE (lab links, 300mbit), --strategy NAME (profile; bulk for
// the unpaced throughput of the same lab), --offload (senders hand tbf GSO packets, which it cuts to wire size;
// receivers do GRO: less kernel CPU, same captures), --pacer-only SECONDS (the shaped pacer alone on a plain TCP
// socket h1 → h2: bench/pacer-sink.mjs), --json, --keep.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// process helpers of its own (the loopback benches' helpers live in smig/bench and take other arguments)
const lib = {
  ROOT: fileURLToPath(new URL('..', import.meta.url)),
  BIN: fileURLToPath(new URL('../bin/smig', import.meta.url)),
  /** A child process with its output collected (`cmd` default: node running bin/smig). */
  run(argv, opts = {}) {
    const child = spawn(opts.cmd ?? process.execPath, opts.cmd ? argv : [lib.BIN, ...argv], {
      cwd: lib.ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = { child, stdout: '', stderr: '', exited: once(child, 'exit').then(([code, signal]) => code ?? signal) };
    child.stdout.setEncoding('utf8').on('data', (x) => (p.stdout += x));
    child.stderr.setEncoding('utf8').on('data', (x) => (p.stderr += x));
    return p;
  },
  /** Resolves with the first match of `re` in the process's stderr or stdout. */
  async waitFor(p, re, ms = 20_000) {
    const t0 = Date.now();
    for (;;) {
      const m = p.stderr.match(re) ?? p.stdout.match(re);
      if (m) return m;
      if (Date.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms:\n${p.stderr}`);
      if (p.child.exitCode !== null) throw new Error(`exited (${p.child.exitCode}) before ${re}:\n${p.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  },
  async stop(p, signal = 'SIGTERM') {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
    await p.exited;
  },
  /** Events of one session (its 16-hex-digit prefix) from a daemon's JSON log. */
  events(p, session) {
    return p.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((e) => e.session === session.slice(0, 16));
  },
  async splitBlocks(capture, blockNs, evenPath, oddPath) {
    const { splitBlocks } = await import('smig/bench');
    return splitBlocks(capture, blockNs, evenPath, oddPath);
  },
};

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZE = Number(opt('--size', '1000000000'));
const RUNS = Number(opt('--runs', '1'));
const BIN = opt('--bin', '500ms');
const RATE = opt('--rate', '300mbit');
const CAPTURE_SECONDS = opt('--capture-seconds', '40');
const STRATEGY = opt('--strategy', 'profile');
const JSON_OUT = args.includes('--json');
const OFFLOAD = args.includes('--offload');
const PACER_ONLY = opt('--pacer-only', undefined);
const KEEP = args.includes('--keep');
const LAB = 'hirate';
const SUBNET = '10.78.0';
const NORMAL_FILTER = 'src host 10.79.0.1'; // the data direction of scripts/make-bulk-capture.sh
const say = (s) => process.stderr.write(`${s}\n`);

if (process.getuid?.() !== 0) {
  say('bench:pacing-high: needs root (network namespaces, tcpdump)');
  process.exit(2);
}
const dir = mkdtempSync(join(process.env.SMIG_BENCH_DIR ?? '/tmp', 'smig-bench-pacing-high-'));
const smig = (argv) => lib.run(argv);
const inNs = (host, argv, cmd = process.execPath) =>
  lib.run(['netns', 'exec', `smig-${LAB}-${host}`, cmd, ...(cmd === process.execPath ? [lib.BIN] : []), ...argv], {
    cmd: 'ip',
  });
const must = async (p, what) => {
  const code = await p.exited;
  if (code !== 0) throw new Error(`${what} exited ${code}: ${p.stderr.trim().split('\n').slice(-5).join('\n')}`);
  return p;
};

// 1. the normal capture, its halves, the profile
let capture = opt('--capture', undefined);
if (capture === undefined) {
  capture = join(dir, 'bulk.pcap.gz');
  say(`making a ${CAPTURE_SECONDS} s bulk capture (scripts/make-bulk-capture.sh) …`);
  const r = spawnSync(join(lib.ROOT, 'scripts', 'make-bulk-capture.sh'), [capture, CAPTURE_SECONDS, '1'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`make-bulk-capture.sh exited ${r.status}`);
}
const learn = join(dir, 'learn.pcap');
const holdout = join(dir, 'holdout.pcap');
const profile = join(dir, 'profile.json');
await lib.splitBlocks(capture, 5_000_000_000n, learn, holdout);
await must(smig(['profile', 'learn', learn, '--bin', BIN, '--filter', NORMAL_FILTER, '-o', profile]), 'profile learn');
const { createPlan, planDuration, parseProfile } = await import('smig/bench');
const prof = parseProfile(readFileSync(profile, 'utf8'));
const plan = createPlan({ strategy: 'profile', profile: prof, seed: 1 });
const lowerBound = SIZE / prof.rates.bytesPerSecond;
say(
  `profile: mean ${(prof.rates.bytesPerSecond / 1e6).toFixed(2)} MB/s, ${prof.bins} bins; plan: trace ${plan.profile.trace.sizes.length} packets, envelope ${plan.profile.chain ? 'yes' : 'no'}, expected ${planDuration(plan, SIZE).expectedSeconds.toFixed(1)} s, lower bound ${lowerBound.toFixed(1)} s`,
);

// 2. the payload (random: nothing compresses) and the lab
const payload = join(dir, 'payload.bin');
if (PACER_ONLY === undefined) {
  const w = createWriteStream(payload);
  for (let left = SIZE; left > 0; left -= 1 << 24)
    if (!w.write(randomBytes(Math.min(left, 1 << 24)))) await once(w, 'drain');
  w.end();
  await once(w, 'finish');
}
await smig(['lab', 'down', LAB]).exited;
await must(smig(['lab', 'up', '--hosts', '5', '--name', LAB, '--subnet', `${SUBNET}.0/24`, '--rate', RATE]), 'lab up');
const ip = (i) => `${SUBNET}.${i}`;
if (OFFLOAD) {
  for (let i = 1; i <= 5; i++) {
    await must(inNs(`h${i}`, ['-K', 'eth0', 'gro', 'on', 'tx', 'on', 'gso', 'on', 'tso', 'on'], 'ethtool'), 'ethtool');
    await must(
      inNs(
        `h${i}`,
        ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', RATE, 'burst', '3028', 'latency', '100ms'],
        'tc',
      ),
      'tc',
    );
  }
}
const links = [
  { link: 'source → data relay', port: 'vh1', from: 1, to: 2 },
  { link: 'data relay → leader', port: 'vh2', from: 2, to: 3 },
  { link: 'leader → destination', port: 'vh3', from: 3, to: 5 },
];

const results = [];
if (PACER_ONLY !== undefined) {
  try {
    for (let run = 1; run <= RUNS; run++) results.push(await pacerOnly(run, Number(PACER_ONLY)));
  } finally {
    await smig(['lab', 'down', LAB]).exited;
    rmSync(payload, { force: true });
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
  }
  printPacerOnly();
  process.exit(0);
}
try {
  const key = join(dir, 'cluster.key');
  await must(smig(['keygen', '--force', '-o', key]), 'keygen');
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const daemon = async (host, argv) => {
    const p = inNs(host, [...argv, '--key', key, '--log-format', 'json']);
    await lib.waitFor(p, /"event":"listening"/, 30_000);
    return p;
  };
  const [R, D, L, K] = await Promise.all([
    daemon('h5', ['recv', '--listen', `${ip(5)}:7100`, '--out', out]),
    daemon('h2', ['relay', '--listen', `${ip(2)}:7000`]),
    daemon('h3', ['relay', '--listen', `${ip(3)}:7000`]),
    daemon('h4', ['relay', '--listen', `${ip(4)}:7000`]),
  ]);
  try {
    for (let run = 1; run <= RUNS; run++) {
      const dumps = [];
      for (const k of links) {
        const file = join(dir, `run${run}-${k.port}.pcap`);
        const p = inNs(
          'br',
          [
            '-i',
            k.port,
            '-s',
            '96',
            '-B',
            '32768',
            '-U',
            '-w',
            file,
            `tcp and src host ${ip(k.from)} and dst host ${ip(k.to)}`,
          ],
          'tcpdump',
        );
        await lib.waitFor(p, /listening on/, 10_000);
        dumps.push({ ...k, file, p });
      }
      const uptime = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      say(`run ${run}: migrating ${SIZE} bytes (load ${uptime}) …`);
      const cpu0 = [R, D, L].map(cpuOf);
      const send = inNs(
        'h1',
        [
          '-f',
          'cpu %U %S',
          process.execPath,
          lib.BIN,
          'send',
          payload,
          '--key',
          key,
          '--dest',
          `${ip(5)}:7100`,
          '--data-relays',
          `${ip(2)}:7000`,
          '--key-relays',
          `${ip(4)}:7000`,
          '--leader',
          `${ip(3)}:7000`,
          '--threshold',
          '1',
          '--strategy',
          STRATEGY,
          ...(STRATEGY === 'bulk' ? [] : ['--profile', profile]),
          '--json',
          '-i',
          '0',
        ],
        '/usr/bin/time',
      );
      const code = await send.exited;
      const cpuSend = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(send.stderr);
      const cpu = {
        source: cpuSend ? Number(cpuSend[1]) + Number(cpuSend[2]) : null,
        ...Object.fromEntries(['destination', 'relay', 'leader'].map((k, i) => [k, cpuOf([R, D, L][i]) - cpu0[i]])),
        tcpdump: dumps.map((d) => cpuOf(d.p)),
      };
      await new Promise((r) => setTimeout(r, 500));
      for (const d of dumps) await lib.stop(d.p, 'SIGINT');
      if (code !== 0)
        throw new Error(`smig send exited ${code}: ${send.stderr.trim().split('\n').slice(-5).join('\n')}`);
      const summary = JSON.parse(send.stdout);
      await new Promise((r) => setTimeout(r, 300));
      const installed = readdirSize(out);
      const ev = (p) => lib.events(p, summary.session).filter((e) => e.event === 'pacing');
      const hops = [
        ...summary.pacing.hops.map((h) => ({
          hop: 'source → data relay',
          writes: h.writes,
          rate: h.rate,
          p50: h.lateness.p50,
          p99: h.lateness.p99,
          max: h.lateness.max,
          late: h.lateness.n,
          padBytes: h.padBytes,
          paused: h.pausedSeconds,
        })),
        ...[...ev(D), ...ev(L)].map((e) => ({
          hop: e.role === 'leader' ? 'leader → destination' : 'data relay → leader',
          writes: e.writes,
          rate: e.rate,
          p50: e.lateP50,
          p99: e.lateP99,
          max: e.lateMax,
          late: e.lateN,
          padBytes: e.padBytes,
          paused: e.pausedSeconds,
        })),
      ];
      const linkResults = [];
      for (const d of dumps) {
        const dropped = /(\d+) packets? dropped by kernel/.exec(d.p.stderr)?.[1];
        linkResults.push({ link: d.link, dropped: Number(dropped ?? 0), ...(await analyze(d.file)) });
        if (!KEEP) rmSync(d.file, { force: true });
      }
      const r = {
        run,
        load: uptime,
        seconds: summary.seconds,
        lowerBound,
        ratio: summary.seconds / lowerBound,
        installedBytes: installed,
        cpu,
        hops,
        links: linkResults,
      };
      results.push(r);
      say(
        `run ${run}: ${r.seconds.toFixed(1)} s = ${r.ratio.toFixed(3)} × bound; ${linkResults.map((k) => `${k.link} p ${k.packets.p.toPrecision(2)}/${k.bytes.p.toPrecision(2)}`).join(', ')}`,
      );
      say(`run ${run}: CPU s ${JSON.stringify(cpu)}`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
    }
  } finally {
    for (const p of [R, D, L, K]) await lib.stop(p);
  }
} finally {
  await smig(['lab', 'down', LAB]).exited;
  rmSync(payload, { force: true });
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
  else say(`kept ${dir}`);
}

/** The pacer alone for `seconds` on h1 → h2 (bench/pacer-sink.mjs into a plain TCP sink), captured on vh1. */
async function pacerOnly(run, seconds) {
  const sink = lib.run(
    [
      'netns',
      'exec',
      `smig-${LAB}-h2`,
      process.execPath,
      '-e',
      `require('node:net').createServer((s) => s.resume()).listen(7200, '${ip(2)}', () => console.log('listening'))`,
    ],
    { cmd: 'ip' },
  );
  await lib.waitFor(sink, /listening/, 30_000);
  const file = join(dir, `pacer${run}-vh1.pcap`);
  const dump = inNs(
    'br',
    ['-i', 'vh1', '-s', '96', '-B', '32768', '-U', '-w', file, `tcp and src host ${ip(1)} and dst host ${ip(2)}`],
    'tcpdump',
  );
  await lib.waitFor(dump, /listening on/, 10_000);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  say(`pacer-only run ${run}: ${seconds} s (load ${load}) …`);
  const child = lib.run(
    [
      'netns',
      'exec',
      `smig-${LAB}-h1`,
      process.execPath,
      join(lib.ROOT, 'bench', 'pacer-sink.mjs'),
      profile,
      `${ip(2)}:7200`,
      String(seconds),
      String(run),
    ],
    { cmd: 'ip' },
  );
  const code = await child.exited;
  const cpu = cpuOf(sink);
  await new Promise((r) => setTimeout(r, 300));
  await lib.stop(dump, 'SIGINT');
  await lib.stop(sink);
  if (code !== 0) throw new Error(`pacer-sink exited ${code}: ${child.stderr}`);
  const stats = JSON.parse(child.stdout);
  const dropped = Number(/(\d+) packets? dropped by kernel/.exec(dump.stderr)?.[1] ?? 0);
  const k = await analyze(file);
  if (!KEEP) rmSync(file, { force: true });
  say(
    `pacer-only run ${run}: ${(((stats.bytes / (stats.last - stats.start)) * 1000) / 1e6).toFixed(2)} MB/s, late p99 ${stats.lateness.p99.toFixed(3)} ms; KS p ${k.packets.p.toPrecision(2)}/${k.bytes.p.toPrecision(2)}`,
  );
  return { run, load, seconds, stats, sinkCpu: cpu, dropped, link: k };
}

function printPacerOnly() {
  if (JSON_OUT) {
    process.stdout.write(
      `${JSON.stringify({ mode: 'pacer-only', bin: BIN, rate: RATE, profileBytesPerSecond: prof.rates.bytesPerSecond, results }, null, 2)}\n`,
    );
    return;
  }
  const pv = (p) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));
  const lines = [
    `The shaped pacer alone, h1 → h2 over ${RATE} (plain TCP, no TLS or relays); profile mean ${(prof.rates.bytesPerSecond / 1e6).toFixed(2)} MB/s; bins ${BIN}.`,
    '',
    '| run | load | s | wire MB/s | ÷ profile | writes | paused s | late p50 / p99 / max ms | KS pkts/bin D / p | KS bytes/bin D / p | bins n / m | KS size D / p | KS gap D / p | drops |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const s = r.stats;
    const rate = (s.bytes / (s.last - s.start)) * 1000;
    const k = r.link;
    lines.push(
      `| ${r.run} | ${r.load} | ${r.seconds} | ${(rate / 1e6).toFixed(2)} | ${(rate / prof.rates.bytesPerSecond).toFixed(3)} | ${s.writes} | ${(s.paused / 1000).toFixed(2)} | ${s.lateness.p50.toFixed(3)} / ${s.lateness.p99.toFixed(3)} / ${s.lateness.max.toFixed(1)} | ${k.packets.D.toFixed(3)} / ${pv(k.packets.p)} | ${k.bytes.D.toFixed(3)} / ${pv(k.bytes.p)} | ${k.packets.n} / ${k.packets.m} | ${k.size.D.toFixed(3)} / ${pv(k.size.p)} | ${k.iat.D.toFixed(3)} / ${pv(k.iat.p)} | ${r.dropped} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** CPU seconds (user + system) a live process has used so far (/proc/PID/stat; 0 once gone). */
function cpuOf(p) {
  try {
    const f = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function readdirSize(d) {
  let n = 0;
  for (const f of readdirSyncSafe(d)) n += statSync(join(d, f)).size;
  return n;
}
function readdirSyncSafe(d) {
  return existsSync(d) ? readdirSync(d) : [];
}

/** KS per bin (verdict) and per packet (sizes, gaps) of a link against the hold-out's data direction. */
async function analyze(file) {
  const p = await must(
    smig([
      'analyze',
      '--json',
      '--no-progress',
      '--bin',
      BIN,
      '--class',
      `normal=${holdout}@${NORMAL_FILTER}`,
      '--class',
      `stealth=${file}`,
    ]),
    'analyze',
  );
  const j = JSON.parse(p.stdout);
  const ks = (feature) => {
    const c = j.comparisons.find((x) => x.feature === feature && x.subject === 'stealth');
    return { D: c.statistic, p: c.pvalue, n: c.n, m: c.m, distinguishable: c.distinguishable };
  };
  const st = j.captures.find((c) => c.name === 'stealth');
  return {
    packetsCaptured: st.packets,
    bytesCaptured: st.bytes,
    full: null,
    packets: ks('packets_per_bin'),
    bytes: ks('bytes_per_bin'),
    size: ks('size'),
    iat: ks('iat'),
  };
}

if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ size: SIZE, bin: BIN, rate: RATE, profileBytesPerSecond: prof.rates.bytesPerSecond, lowerBound, results }, null, 2)}\n`,
  );
} else {
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  const pv = (p) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));
  const lines = [
    `Paced migration of ${SIZE} bytes, source → data relay → leader → destination on a lab of network namespaces (${RATE} per host); profile mean ${(prof.rates.bytesPerSecond / 1e6).toFixed(2)} MB/s, lower bound ${lowerBound.toFixed(1)} s; bins ${BIN}; hold-out = odd 5 s blocks of the normal capture (data direction).`,
    '',
    '| run | load (1/5/15 min) | time s | ÷ bound | link | hop rate MB/s | writes | paused s | PAD MB | late p50 / p99 / max ms | KS pkts/bin D / p | KS bytes/bin D / p | bins n / m | KS size D / p | KS gap D / p | drops |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const [j, k] of r.links.entries()) {
      const h = r.hops.find((x) => x.hop === k.link);
      lines.push(
        `| ${j === 0 ? r.run : ''} | ${j === 0 ? r.load : ''} | ${j === 0 ? f(r.seconds, 1) : ''} | ${j === 0 ? f(r.ratio, 3) : ''} | ${k.link} | ${h ? f(h.rate / 1e6) : '-'} | ${h?.writes ?? '-'} | ${f(h?.paused, 1)} | ${h ? f(h.padBytes / 1e6, 1) : '-'} | ${h ? `${f(h.p50, 3)} / ${f(h.p99, 3)} / ${f(h.max, 1)}` : '-'} | ${f(k.packets.D, 3)} / ${pv(k.packets.p)} | ${f(k.bytes.D, 3)} / ${pv(k.bytes.p)} | ${k.packets.n} / ${k.packets.m} | ${f(k.size.D, 3)} / ${pv(k.size.p)} | ${f(k.iat.D, 3)} / ${pv(k.iat.p)} | ${k.dropped} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
