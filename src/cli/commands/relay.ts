/**
 * `smig relay --listen HOST:PORT --key FILE`: the daemon that serves sessions as data relay, key relay
 * or leader (DESIGN §3, §6). Also home of what the daemons (`relay`, `recv`) share on the command line.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import { parseHostPort } from '../../net/address.js';
import type { Logger, LogFormat } from '../../roles/log.js';
import { parseLogFormat } from '../../roles/log.js';
import { parseDuration, parseSize } from '../../util/units.js';
import { argParser, collect } from '../io.js';
import type { CliIO } from '../io.js';
import type { CommandSpec } from './index.js';

/** Options every migration command has. */
export interface ChannelFlags {
  key: string;
  logFormat: LogFormat;
  idleTimeout: bigint;
  handshakeTimeout: bigint;
}

/** A whole number ≥ min. */
export function parseCount(min: number): (text: string) => number {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw smigError('SMIG_ERR_USAGE', `'${text}' is not a whole number ≥ ${min}`);
    }
    return n;
  };
}

/** `--listen`, `--dest`, `--leader`. */
export function hostPortOption(what: string): (text: string) => HostPort {
  return argParser((text: string) => parseHostPort(text, what));
}

/** Adds `--key`, `--log-format` and the channel timeouts. */
export function addChannelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--key <file>', 'cluster key file (smig keygen); must not be readable by group or others')
    .option('--log-format <fmt>', 'session events on stderr as text or json lines', argParser(parseLogFormat), 'text')
    .addOption(durationOption('--idle-timeout <dur>', 'close a connection with no bytes either way for this long', '60s'))
    .addOption(durationOption('--handshake-timeout <dur>', 'TCP connect + TLS handshake limit', '10s'));
}

/** The listener caps of a daemon's flags. */
export interface ListenerFlags {
  maxConnections: number;
  maxHandshakes: number;
  maxPerAddress: number;
}

/**
 * Adds `--max-connections`, `--max-handshakes`, `--max-per-address`: what one daemon's listener holds at once
 * (memory per connection is bounded, so these bound the daemon's memory; docs/ARCHITECTURE.md "Resource bounds").
 */
export function addListenerOptions(cmd: Command, maxConnections = 256): Command {
  return cmd
    .option('--max-connections <n>', 'connections held at once (established or in the handshake); more are closed at once', argParser(parseCount(1)), maxConnections)
    .option('--max-handshakes <n>', 'TLS handshakes in progress at once; more are closed at once', argParser(parseCount(1)), 64)
    .option('--max-per-address <n>', 'connections held at once from one peer address', argParser(parseCount(1)), 32);
}

/** The listener caps from the flags. */
export function listenerLimits(f: ListenerFlags): { maxConnections: number; maxHandshakes: number; maxPerAddress: number } {
  return { maxConnections: f.maxConnections, maxHandshakes: f.maxHandshakes, maxPerAddress: f.maxPerAddress };
}

/** A duration option (nanoseconds as bigint) whose default is shown as written, e.g. `60s`. */
export function durationOption(flags: string, description: string, dflt: string): Option {
  const name = flags.split(' ')[0]!;
  return new Option(flags, description).argParser(argParser((t) => parseDuration(t, name))).default(parseDuration(dflt, name), dflt);
}

/** Milliseconds of a parsed duration, at least 1. */
export function ms(ns: bigint): number {
  return Math.max(1, Number(ns / 1_000_000n));
}

/** The channel timeouts from the flags. */
export function channelTimeouts(f: ChannelFlags): { idleTimeoutMs: number; handshakeTimeoutMs: number } {
  return { idleTimeoutMs: ms(f.idleTimeout), handshakeTimeoutMs: ms(f.handshakeTimeout) };
}

/** The logger of a command: one line per event on stderr. */
export async function commandLogger(f: ChannelFlags, io: CliIO, component: string): Promise<Logger> {
  const { createLogger } = await import('../../roles/log.js');
  return createLogger({ format: f.logFormat, sink: io.stderr, component });
}

/**
 * Runs a daemon until SIGINT or SIGTERM, then closes it and logs its resource usage (CPU seconds, peak
 * memory): the numbers `npm run bench:transfer` collects. An unexpected rejection anywhere is logged and
 * the daemon goes on (a bad peer must not take it down).
 */
export async function serveUntilSignal(log: Logger, close: () => Promise<void>): Promise<number> {
  const onInternal = (err: unknown): void => log.event('internal-error', { reason: err instanceof Error ? err.message : String(err) });
  process.on('unhandledRejection', onInternal);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.event('stopping', { signal });
  await close();
  process.off('unhandledRejection', onInternal);
  const ru = process.resourceUsage();
  log.event('stopped', {
    cpuUserSeconds: ru.userCPUTime / 1e6,
    cpuSystemSeconds: ru.systemCPUTime / 1e6,
    maxRssKiB: ru.maxRSS,
  });
  return 0;
}

/** `--out DIR` must be a writable directory (checked at start, not at the first session). */
async function checkOutDir(dir: string): Promise<void> {
  const { access, stat } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  try {
    if (!(await stat(dir)).isDirectory()) throw smigError('SMIG_ERR_FILE', `--out ${dir}: not a directory`);
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('SMIG_')) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw smigError('SMIG_ERR_FILE', `--out ${dir}: ${code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'not writable' : (code ?? 'error')}`, err);
  }
}

interface RelayFlags extends ChannelFlags, ListenerFlags {
  listen: HostPort;
  maxSessions: number;
  maxWindow: number;
  keyWait: bigint;
  controller?: HostPort;
  name?: string;
  out?: string;
  source?: string[];
  identity?: string;
  installVm?: string;
}

export const relayCommand: CommandSpec = {
  name: 'relay',
  summary: 'run a relay daemon: data relay, key relay or leader for any number of sessions (nothing touches the disk)',
  examples: [
    'smig relay --listen 10.0.0.2:7000 --key cluster.key',
    'smig relay --listen 127.0.0.1:0 --key cluster.key --log-format json   # prints the port it got',
    'smig relay --listen 10.9.0.2:7000 --key cluster.key --controller 10.9.0.1:7700 --out /srv/in --source vm=/var/lib/vm.img',
  ],
  configure(cmd: Command): void {
    cmd.requiredOption('--listen <host:port>', 'address to listen on (port 0: any free port, logged)', hostPortOption('--listen'));
    addListenerOptions(addChannelOptions(cmd))
      .option('--max-sessions <n>', 'sessions served at once (any role); more are refused', argParser(parseCount(1)), 16)
      .addOption(new Option('--max-window <size>', 'as leader: largest source window accepted (reorder buffer per session)')
        .argParser(argParser((t) => parseSize(t, '--max-window'))).default(64 * 1024 * 1024, '64MiB'))
      .addOption(durationOption('--key-wait <dur>', 'as leader: how long to wait for enough key shares', '30s'))
      // issue 5: the agent of smig control (src/control/agent.ts)
      .option('--controller <host:port>', 'take instructions from smig control at this address (register, heartbeats, available/busy)', hostPortOption('--controller'))
      .option('--name <name>', 'with --controller: this host\'s inventory name (default: matched by the --listen address)')
      .option('--identity <file>', 'with --controller: this host\'s identity (smig keygen --identity); registration is signed with it, the controller checks it against the inventory key; as a destination it installs only sessions sealed to it and signs its receipts')
      .option('--out <dir>', 'with --controller: may serve as a destination, installing into DIR')
      .option('--source <name=path|cmd>', 'with --controller: data it may be told to migrate: NAME=PATH (a file), NAME=|CMD (stdout of sh -c CMD) or NAME=qmp:SOCKET (a running QEMU VM); repeatable', collect)
      .option('--install-vm <cmd>', 'with --out: restore migrated VMs (*.vmstate) with this QEMU command template, as smig recv --install-vm');
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as RelayFlags;
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { RelayDaemon } = await import('../../roles/relay.js');
    const { formatHostPort } = await import('../../net/address.js');
    if (opts.maxWindow < 1024 * 1024) throw smigError('SMIG_ERR_USAGE', '--max-window: at least 1MiB');
    if (opts.installVm !== undefined && opts.out === undefined) throw smigError('SMIG_ERR_USAGE', '--install-vm needs --out (the VM\'s monitor socket is published there)');
    if (opts.controller === undefined && (opts.out !== undefined || opts.source !== undefined || opts.name !== undefined || opts.identity !== undefined)) {
      throw smigError('SMIG_ERR_USAGE', '--out, --source, --name and --identity need --controller (only the controller tells a relay to receive or send)');
    }
    const control = opts.controller === undefined ? undefined : await import('../../control/agent.js');
    const sources = (opts.source ?? []).map((t) => control!.parseSourceSpec(t));
    if (opts.name !== undefined && !(await import('../../control/inventory.js')).NAME_PATTERN.test(opts.name)) {
      throw smigError('SMIG_ERR_USAGE', `--name: '${opts.name}' is not an inventory name (letters, digits, '.', '_', '-')`);
    }
    if (opts.out !== undefined) await checkOutDir(opts.out);
    const clusterKey = await loadKeyFile(opts.key);
    const identity = opts.identity === undefined ? undefined : await (await import('../../crypto/identity.js')).loadIdentityFile(opts.identity);
    const log = await commandLogger(opts, io, 'relay');
    let agent: import('../../control/agent.js').ControlAgent | undefined;
    const daemon = await RelayDaemon.start({
      clusterKey,
      listen: opts.listen,
      log,
      maxSessions: opts.maxSessions,
      maxWindow: opts.maxWindow,
      keyWaitMs: ms(opts.keyWait),
      channel: channelTimeouts(opts),
      limits: listenerLimits(opts),
      onSession: (event, id) => agent?.relaySession(event, id),
    });
    log.event('listening', { addr: formatHostPort(daemon.address), pid: process.pid });
    if (control !== undefined) {
      agent = control.ControlAgent.start({
        clusterKey, controller: opts.controller!, listen: daemon.address, name: opts.name, identity, outDir: opts.out, sources, ...(opts.installVm === undefined ? {} : { installVm: opts.installVm }), log, channel: channelTimeouts(opts),
      });
    }
    return serveUntilSignal(log, async () => {
      await agent?.close();
      await daemon.close();
    });
  },
};
