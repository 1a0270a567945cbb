/**
 * `smig send FILE|- --key K --dest H:P --data-relays LIST --key-relays LIST [--strategy S --profile P]`:
 * migrates a file or stdin (docs/DESIGN.md §3, §4, §6), every hop paced by the plan. Exits 0 only once the destination
 * has confirmed; 1 with one line when the migration failed; 2 for bad usage or input. `--dry-run` prints the
 * pacing plan per link (expected time, lower bound) and exits 0 without connecting.
 */

import type { Command } from 'commander';
import { Option } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import { parseHostList } from '../../net/address.js';
import type { PacingPlan, Strategy } from '../../pacing/plan.js';
import { traceRepeatWarning } from '../../pacing/plan.js';
import type { HopPacingReport } from '../../roles/pace.js';
import { hasControlChar } from '../../util/text.js';
import { formatRate, parseDuration, parseRate, parseSize } from '../../util/units.js';
import { commandLogger } from '../daemon.js';
import { dryRun } from '../dry-run.js';
import type { CliIO } from '../io.js';
import type { ChannelFlags } from '../options.js';
import { addChannelOptions, argParser, channelTimeouts, hostPortOption, parseCount, parseSeed } from '../options.js';
import { Progress } from '../progress.js';
import type { CommandSpec } from '../spec.js';

const STRATEGIES = ['bulk', 'constant', 'profile', 'replay'] as const;

interface SendFlags extends ChannelFlags {
  dest: HostPort;
  destKey?: string;
  identity?: string;
  dataRelays: HostPort[];
  keyRelays: HostPort[];
  leader?: HostPort;
  threshold?: number;
  strategy: string;
  profile?: string;
  rate?: number;
  seed?: number;
  matchLink?: boolean;
  dryRun?: boolean;
  name?: string;
  window: number;
  chunkSize?: number;
  json?: boolean;
  vmMode: string;
  vmAfter: string;
  interval: bigint;
}

/** A plain file name as the protocol carries it (docs/DESIGN.md §3 envelope header; messages.ts SESSION.name). */
function checkName(name: string, where: string): string {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    /[/\\]/.test(name) ||
    hasControlChar(name) ||
    Buffer.byteLength(name) > 255
  ) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `${where}: '${name}' is not a plain file name (no /, \\, control characters; at most 255 bytes)`,
    );
  }
  return name;
}

/** The session name of a VM: NAME.vmstate, which a destination with --install-vm restores into a VM. */
function vmName(name: string, where: string): string {
  return checkName(name.endsWith('.vmstate') ? name : `${name}.vmstate`, where);
}

/** Ciphertext bytes of the envelope of a LENGTH-byte payload in SEGMENT-byte segments. */
function envelopeBytes(length: number, segment: number, prefix: number, tag: number, trailer: number): number {
  return prefix + length + tag * Math.ceil(length / segment) + trailer;
}

/** The session's pacing plan from the flags (docs/DESIGN.md §4). */
async function planOf(opts: SendFlags): Promise<PacingPlan> {
  if (!(STRATEGIES as readonly string[]).includes(opts.strategy)) {
    throw smigError('SMIG_ERR_USAGE', `--strategy: '${opts.strategy}' is not one of ${STRATEGIES.join(', ')}`);
  }
  const strategy = opts.strategy as Strategy;
  if (strategy === 'bulk' && (opts.profile !== undefined || opts.rate !== undefined)) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `--strategy bulk: no pacing, so ${opts.profile !== undefined ? '--profile' : '--rate'} has no use (pick constant, profile or replay)`,
    );
  }
  if (opts.rate !== undefined && strategy !== 'constant')
    throw smigError(
      'SMIG_ERR_USAGE',
      `--rate: only for --strategy constant (${strategy} takes its rates from the profile)`,
    );
  const { createPlan } = await import('../../pacing/plan.js');
  const { shapeLink } = await import('../../pacing/link.js');
  const matched = (shape: {
    trace: { sizes: number[] };
    ipVersion?: 6;
    tcpTimestamps?: boolean;
  }): { segment: number; overheads: { tcpip: number } } => {
    const link = shapeLink(shape);
    return { segment: link.segment, overheads: { tcpip: link.tcpip } };
  };
  const { loadProfile } = await import('../../profile/model.js');
  const profile = opts.profile === undefined ? undefined : await loadProfile(opts.profile);
  if (opts.matchLink && (strategy !== 'profile' || profile?.shape === undefined))
    throw smigError('SMIG_ERR_USAGE', '--match-link: only for --strategy profile with a version 2 profile');
  return createPlan({
    strategy,
    profile,
    rate: opts.rate,
    seed: opts.seed,
    // a link like the capture's: its full segment and TCP/IP headers (pacing/link.ts)
    ...(opts.matchLink && profile?.shape ? matched(profile.shape) : {}),
  });
}

/** The pacing lines of the text summary. */
function pacingLines(hops: HopPacingReport[]): string {
  return hops
    .map(
      (h) =>
        `pacing       ${h.hop}: ${h.writes} writes, ${h.wireBytes} wire bytes in ${h.seconds.toFixed(3)} s` +
        (h.rate === null
          ? ''
          : ` (${formatRate(h.rate)}${h.targetRate === null ? '' : ` of ${formatRate(h.targetRate)} allowed`})`) +
        (h.lateness.n > 0 ? `, lateness p50 ${h.lateness.p50.toFixed(3)} ms p99 ${h.lateness.p99.toFixed(3)} ms` : '') +
        '\n',
    )
    .join('');
}

export const sendCommand: CommandSpec = {
  name: 'send',
  summary:
    'migrate a file or stdin: encrypted, spread over data relays, key split over key relays; exits 0 once the destination confirmed',
  examples: [
    'smig send vm.img --key cluster.key --dest 10.0.0.9:7100 --dest-key h9.id.pub --data-relays 10.0.0.2:7000,10.0.0.3:7000,10.0.0.4:7000 --key-relays 10.0.0.5:7000,10.0.0.6:7000',
    'smig send qmp:/run/vm1.qmp --key cluster.key --dest d:7100 --dest-key d.id.pub --data-relays a:7000,b:7000 --key-relays c:7000,e:7000,f:7000 --json',
    'pg_dump appdb | smig send - --name appdb.sql --key cluster.key --dest d:7100 --data-relays a:7000,b:7000 --key-relays c:7000 --threshold 1 --json',
  ],
  configure(cmd: Command): void {
    cmd
      .argument(
        '<file>',
        'what to migrate: a file, - for standard input, or qmp:SOCKET for a running QEMU VM (its QMP monitor)',
      )
      .requiredOption(
        '--dest <host:port>',
        'the destination (smig recv); only the leader learns it',
        hostPortOption('--dest'),
      )
      .option(
        '--identity <file>',
        "with --dest-key: this host's identity (smig keygen --identity); the sealed session is signed with it, for a destination that trusts only known sources (smig recv --trust-source)",
      )
      .option(
        '--dest-key <file.pub>',
        "the destination's public key (smig keygen --identity): the payload is sealed to it, so the leader cannot read it, and only a receipt signed by it counts as success. Without it the leader can read the payload and could forge the confirmation",
      )
      .requiredOption(
        '--data-relays <list>',
        'comma-separated HOST:PORT of the data relays (smig relay)',
        argParser((t) => parseHostList(t, '--data-relays')),
      )
      .requiredOption(
        '--key-relays <list>',
        'comma-separated HOST:PORT of the key relays, one key share each',
        argParser((t) => parseHostList(t, '--key-relays')),
      )
      .option(
        '--leader <host:port>',
        'the relay that rebuilds the key and forwards (default: a random data relay)',
        hostPortOption('--leader'),
      )
      .option(
        '--threshold <k>',
        'key shares needed to rebuild the key (default: 2, or 1 with a single key relay)',
        argParser(parseCount(1)),
      )
      .option(
        '--strategy <name>',
        `pacing of every hop: ${STRATEGIES.join('|')} (bulk: none; constant: --rate or the profile's mean; profile, replay: need --profile)`,
        'bulk',
      )
      .option('--profile <file>', 'normal-traffic profile (smig profile learn) the pacing follows')
      .option(
        '--rate <rate>',
        "constant strategy: wire rate as tc writes it: 128kbit (bits/s), 16kbps = 16 kB/s (tc's bps is BYTES/s), a bare number bits/s; or 16kB/s, 10Mbit/s (default: the profile's mean byte rate)",
        argParser((t) => parseRate(t, '--rate')),
      )
      .option(
        '--seed <n>',
        'session seed of the pacing draws (mixed with the session id per hop; default random)',
        argParser(parseSeed),
      )
      .option(
        '--match-link',
        "profile strategy: shape packets for a link like the capture's (its full segment and TCP timestamps, seen in the profile's packets) instead of Ethernet, MTU 1500, timestamps on; the hosts must be set so (smig lab up --mtu --tcp-timestamps)",
      )
      .option(
        '--dry-run',
        'print the pacing plan per link and the expected session time (a simulated range) and exit without connecting',
      )
      .option('--name <name>', 'name to install under (default: the file\'s base name; "stdin" for -)')
      .addOption(
        new Option(
          '--window <size>',
          "ciphertext sent and not yet acknowledged, at most (must not exceed the leader's --max-window)",
        )
          .argParser(argParser((t) => parseSize(t, '--window')))
          .default(32 * 1024 * 1024, '32MiB'),
      )
      .addOption(
        new Option(
          '--chunk-size <size>',
          'ciphertext per chunk, in whole envelope segments (default 256KiB; paced: 16KiB at kB/s, growing with the plan rate to 256KiB)',
        ).argParser(argParser((t) => parseSize(t, '--chunk-size'))),
      )
      .option('--json', 'print the summary as JSON')
      .option(
        '--vm-mode <mode>',
        'for qmp:SOCKET: live (pre-copy while the VM runs), stop (pause first: a snapshot), or auto (live for bulk, stop when paced)',
        'auto',
      )
      .option(
        '--vm-after <what>',
        'for qmp:SOCKET, once the destination confirmed: pause (the source VM stays paused) or quit',
        'pause',
      )
      .addOption(
        new Option(
          '-i, --interval <dur>',
          'progress on stderr every DUR, as iperf3 -i: bytes the leader acknowledged, rate, % done, ETA (a live line on a terminal, progress events with --log-format json; 0: none)',
        )
          .argParser(argParser((t) => parseDuration(t, '--interval')))
          .default(1_000_000_000n, '1s'),
      );
    addChannelOptions(cmd);
  },
  async run(args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as SendFlags;
    const file = args[0]!;
    const plan = await planOf(opts);
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { runSource } = await import('../../roles/source.js');
    const { createReadStream } = await import('node:fs');
    const { open } = await import('node:fs/promises');
    const { basename } = await import('node:path');

    const threshold = opts.threshold ?? Math.min(2, opts.keyRelays.length);
    const qmp = file.startsWith('qmp:') ? file.slice(4) : null;
    if (qmp === '') throw smigError('SMIG_ERR_USAGE', `'${file}': qmp: needs the path of the VM's QMP socket`);
    if (!['auto', 'live', 'stop'].includes(opts.vmMode))
      throw smigError('SMIG_ERR_USAGE', `--vm-mode: '${opts.vmMode}' is not auto, live or stop`);
    if (!['pause', 'quit'].includes(opts.vmAfter))
      throw smigError('SMIG_ERR_USAGE', `--vm-after: '${opts.vmAfter}' is not pause or quit`);
    const name =
      qmp !== null
        ? vmName(
            opts.name ?? basename(qmp).replace(/\.(qmp|sock)$/, ''),
            opts.name === undefined ? 'VM name' : '--name',
          )
        : checkName(
            opts.name ?? (file === '-' ? 'stdin' : basename(file)),
            opts.name === undefined ? 'file name' : '--name',
          );
    if (opts.dryRun && qmp !== null) {
      await dryRun(opts, plan, null, '-', io); // a VM's stream has no length known in advance
      return 0;
    }
    if (opts.dryRun) {
      let length: number | null = null;
      if (file !== '-') {
        const { stat } = await import('node:fs/promises');
        const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
          throw smigError(
            'SMIG_ERR_FILE',
            `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message)}`,
          );
        });
        if (st.isDirectory()) throw smigError('SMIG_ERR_FILE', `${file}: is a directory`);
        if (st.isFile()) length = st.size;
      }
      await dryRun(opts, plan, length, file, io);
      return 0;
    }
    const clusterKey = await loadKeyFile(opts.key);
    const { loadPublicKeyFile } = await import('../../crypto/identity.js');
    const destKey = opts.destKey === undefined ? undefined : await loadPublicKeyFile(opts.destKey);
    if (opts.identity !== undefined && destKey === undefined)
      throw smigError('SMIG_ERR_USAGE', '--identity needs --dest-key (only a sealed session is signed)');
    const identity =
      opts.identity === undefined
        ? undefined
        : await (await import('../../crypto/identity.js')).loadIdentityFile(opts.identity);

    let input: AsyncIterable<Uint8Array>;
    let length: number | null = null;
    const progress = new Progress({
      label: 'smig send',
      total: null,
      intervalMs: Number(opts.interval / 1_000_000n),
      sink: io.stderr,
      live: io.stderr.isTTY === true && opts.logFormat !== 'json',
    });
    const log = await commandLogger(opts, { stdout: io.stdout, stderr: progress.wrap(io.stderr) }, 'send');
    let vm: import('../../vm/source.js').VmSource | undefined;
    if (qmp !== null) {
      const { VmSource } = await import('../../vm/source.js');
      const { vmModeFor } = await import('../../vm/source.js');
      vm = await VmSource.open({
        qmp,
        mode: opts.vmMode === 'auto' ? vmModeFor(plan.strategy) : (opts.vmMode as 'live' | 'stop'),
        after: opts.vmAfter as 'pause' | 'quit',
        log,
      });
      input = vm.stream();
    } else if (file === '-') {
      input = process.stdin;
    } else {
      const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
        throw smigError(
          'SMIG_ERR_FILE',
          `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message)}`,
        );
      });
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        throw smigError('SMIG_ERR_FILE', `${file}: is a directory`);
      }
      if (st.isFile()) length = st.size;
      input = createReadStream('', { fd: fh, highWaterMark: 1024 * 1024 });
    }
    const repeats = length === null ? undefined : traceRepeatWarning(plan, length);
    if (repeats !== undefined) io.stderr.write(`smig send: warning: ${repeats}\n`);
    if (destKey === undefined) {
      io.stderr.write(
        "smig send: warning: no --dest-key: the leader can read the payload and could forge the destination's confirmation (success is not proven end to end)\n",
      );
    }
    const { PREFIX_BYTES, TAG_BYTES, TRAILER_BYTES, DEFAULT_SEGMENT_SIZE } = await import('../../crypto/envelope.js');
    const { pacedCutSizes } = await import('../../pacing/cut-sizes.js');
    // the leader acknowledges ciphertext: the envelope of the payload (paced: segments by the plan's rate, else 64 KiB)
    progress.setTotal(
      length === null
        ? null
        : envelopeBytes(
            length,
            plan.strategy === 'bulk' ? DEFAULT_SEGMENT_SIZE : pacedCutSizes(plan).segment,
            PREFIX_BYTES,
            TAG_BYTES,
            TRAILER_BYTES,
          ),
    );
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (opts.logFormat === 'json') progress.setLog(log);
    progress.start();
    try {
      const r = await runSource({
        clusterKey,
        input,
        length,
        name,
        destination: opts.dest,
        dataRelays: opts.dataRelays,
        keyRelays: opts.keyRelays,
        ...(destKey === undefined ? {} : { destKey }),
        ...(identity === undefined ? {} : { identity }),
        ...(opts.leader === undefined ? {} : { leader: opts.leader }),
        threshold,
        window: opts.window,
        plan,
        ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }),
        log,
        channel: channelTimeouts(opts),
        signal: abort.signal,
        onProgress: (acked) => progress.update(acked),
      }).catch(async (err: unknown) => {
        if (vm !== undefined) await vm.abort((err as Error).message ?? String(err));
        throw err;
      });
      const vmReport = vm === undefined ? undefined : await vm.confirm();
      progress.stop();
      if (opts.json) {
        const ru = process.resourceUsage();
        io.stdout.write(
          `${JSON.stringify(
            {
              ...r,
              ...(vmReport === undefined ? {} : { vm: vmReport }),
              throughputUnit: 'B/s',
              resources: {
                cpuUserSeconds: ru.userCPUTime / 1e6,
                cpuSystemSeconds: ru.systemCPUTime / 1e6,
                maxRssKiB: ru.maxRSS,
              },
            },
            null,
            2,
          )}\n`,
        );
      } else {
        const exec = r.done.exitStatus === null ? '' : `, --exec exit status ${r.done.exitStatus}`;
        const confirmed =
          r.receipt.kind === 'signed'
            ? `${r.done.message} (sha256 ${r.done.sha256}${exec}); receipt signed by ${r.receipt.fingerprint}`
            : `confirmed ${r.done.length} bytes (sha256 ${r.done.sha256}${exec}) by a receipt the leader could have forged (no --dest-key)`;
        io.stdout.write(
          `migrated ${r.name}: ${r.bytes} bytes in ${r.seconds.toFixed(3)} s\n` +
            `throughput   ${formatRate(r.throughput)} (payload bytes ÷ time)\n` +
            `installed as ${r.name} in the destination's --out directory, or ${r.name}.1, ${r.name}.2 … if that name was taken (its log line 'installed' names the file)\n` +
            `session      ${r.session}\n` +
            `leader       ${r.hosts.leader}\n` +
            `data relays  ${r.hosts.dataRelays.join(', ')}\n` +
            `key relays   ${r.hosts.keyRelays.join(', ')} (threshold ${r.threshold})\n` +
            `destination  ${r.hosts.destination}: ${confirmed}\n` +
            (r.lostRelays.length > 0
              ? `lost relays  ${r.lostRelays.join(', ')} (${r.resentChunks} chunks re-sent)\n`
              : '') +
            (r.pacing.strategy === 'bulk' ? '' : pacingLines(r.pacing.hops)) +
            (vmReport === undefined
              ? ''
              : `vm           ${vmReport.mode} migration: ${vmReport.streamBytes} stream bytes, total ${vmReport.totalSeconds.toFixed(3)} s, ` +
                `downtime ${vmReport.downtimeSeconds.toFixed(3)} s (paused at the source → running at the destination); source VM ${vmReport.after === 'quit' ? 'quit' : 'left paused'}\n`),
        );
      }
      return 0;
    } catch (err) {
      if (err instanceof Error && (err as { code?: string }).code === 'SMIG_ERR_MIGRATION') {
        const exec = /--exec (exited with status (\d+)|timed out)/.exec(err.message);
        if (exec) {
          throw smigError(
            'SMIG_ERR_MIGRATION',
            `--exec failed at the destination (${exec[2] === undefined ? 'timed out' : `exit status ${exec[2]}`}), after the payload was verified and installed there: ` +
              `the file stays installed as ${name} (or ${name}.N); sending again installs a second copy (${name}.1, …) and runs --exec on that one`,
            err,
          );
        }
        throw smigError('SMIG_ERR_MIGRATION', `migration failed: ${err.message}`, err);
      }
      throw err;
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (vm === undefined && 'destroy' in input && typeof input.destroy === 'function')
        (input as { destroy(): void }).destroy();
    }
  },
};
