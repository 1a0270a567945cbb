/**
 * `smig send FILE|- --key K --dest H:P --data-relays LIST --key-relays LIST`: migrates a file or stdin
 * (DESIGN §3, §6). Exits 0 only once the destination has confirmed; 1 with one line when the migration
 * failed; 2 for bad usage or input.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import { parseHostList } from '../../net/address.js';
import { parseSize } from '../../util/units.js';
import { argParser } from '../io.js';
import type { CliIO } from '../io.js';
import type { CommandSpec } from './index.js';
import { addChannelOptions, channelTimeouts, commandLogger, hostPortOption, parseCount } from './relay.js';
import type { ChannelFlags } from './relay.js';

const STRATEGIES = ['bulk', 'constant', 'profile', 'replay'] as const;

interface SendFlags extends ChannelFlags {
  dest: HostPort;
  dataRelays: HostPort[];
  keyRelays: HostPort[];
  leader?: HostPort;
  threshold?: number;
  strategy: string;
  name?: string;
  window: number;
  chunkSize: number;
  json?: boolean;
}

/** A plain file name as the protocol carries it (DESIGN §3 envelope header; messages.ts SESSION.name). */
function checkName(name: string, where: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f-\u009f]/.test(name) || Buffer.byteLength(name) > 255) {
    throw smigError('SMIG_ERR_USAGE', `${where}: '${name}' is not a plain file name (no /, \\, control characters; at most 255 bytes)`);
  }
  return name;
}

function mbps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

export const sendCommand: CommandSpec = {
  name: 'send',
  summary: 'migrate a file or stdin: encrypted, spread over data relays, key split over key relays; exits 0 once the destination confirmed',
  examples: [
    'smig send vm.img --key cluster.key --dest 10.0.0.9:7100 --data-relays 10.0.0.2:7000,10.0.0.3:7000,10.0.0.4:7000 --key-relays 10.0.0.5:7000,10.0.0.6:7000',
    'virsh dump vm /dev/stdout | smig send - --name vm.core --key cluster.key --dest d:7100 --data-relays a:7000,b:7000 --key-relays c:7000 --threshold 1 --json',
  ],
  configure(cmd: Command): void {
    cmd
      .argument('<file>', 'what to migrate: a file, or - for standard input')
      .requiredOption('--dest <host:port>', 'the destination (smig recv); only the leader learns it', hostPortOption('--dest'))
      .requiredOption('--data-relays <list>', 'comma-separated HOST:PORT of the data relays (smig relay)', argParser((t) => parseHostList(t, '--data-relays')))
      .requiredOption('--key-relays <list>', 'comma-separated HOST:PORT of the key relays, one key share each', argParser((t) => parseHostList(t, '--key-relays')))
      .option('--leader <host:port>', 'the relay that rebuilds the key and forwards (default: a random data relay)', hostPortOption('--leader'))
      .option('--threshold <k>', 'key shares needed to rebuild the key (default: 2, or 1 with a single key relay)', argParser(parseCount(1)))
      .option('--strategy <name>', `pacing strategy: ${STRATEGIES.join('|')} (only bulk so far)`, 'bulk')
      .option('--name <name>', 'name to install under (default: the file\'s base name; "stdin" for -)')
      .addOption(new Option('--window <size>', 'ciphertext sent and not yet acknowledged, at most (must not exceed the leader\'s --max-window)')
        .argParser(argParser((t) => parseSize(t, '--window'))).default(32 * 1024 * 1024, '32MiB'))
      .addOption(new Option('--chunk-size <size>', 'ciphertext per DATA frame (whole 64 KiB segments)')
        .argParser(argParser((t) => parseSize(t, '--chunk-size'))).default(256 * 1024, '256KiB'))
      .option('--json', 'print the summary as JSON');
    addChannelOptions(cmd);
  },
  async run(args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as SendFlags;
    const file = args[0]!;
    if (!(STRATEGIES as readonly string[]).includes(opts.strategy)) {
      throw smigError('SMIG_ERR_USAGE', `--strategy: '${opts.strategy}' is not one of ${STRATEGIES.join(', ')}`);
    }
    if (opts.strategy !== 'bulk') throw smigError('SMIG_ERR_USAGE', `--strategy ${opts.strategy}: not available yet (only bulk)`);
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { runSource } = await import('../../roles/source.js');
    const { createReadStream } = await import('node:fs');
    const { open } = await import('node:fs/promises');
    const { basename } = await import('node:path');

    const threshold = opts.threshold ?? Math.min(2, opts.keyRelays.length);
    const name = checkName(opts.name ?? (file === '-' ? 'stdin' : basename(file)), opts.name === undefined ? 'file name' : '--name');
    const clusterKey = await loadKeyFile(opts.key);

    let input: NodeJS.ReadableStream & AsyncIterable<Uint8Array>;
    let length: number | null = null;
    if (file === '-') {
      input = process.stdin;
    } else {
      const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
        throw smigError('SMIG_ERR_FILE', `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message)}`);
      });
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        throw smigError('SMIG_ERR_FILE', `${file}: is a directory`);
      }
      if (st.isFile()) length = st.size;
      input = createReadStream('', { fd: fh, highWaterMark: 1024 * 1024 });
    }
    const log = await commandLogger(opts, io, 'send');
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const r = await runSource({
        clusterKey, input, length, name,
        destination: opts.dest, dataRelays: opts.dataRelays, keyRelays: opts.keyRelays,
        ...(opts.leader === undefined ? {} : { leader: opts.leader }),
        threshold, window: opts.window, chunkSize: opts.chunkSize,
        log, channel: channelTimeouts(opts), signal: abort.signal,
      });
      if (opts.json) {
        const ru = process.resourceUsage();
        io.stdout.write(`${JSON.stringify({
          ...r,
          resources: { cpuUserSeconds: ru.userCPUTime / 1e6, cpuSystemSeconds: ru.systemCPUTime / 1e6, maxRssKiB: ru.maxRSS },
        }, null, 2)}\n`);
      } else {
        const exec = r.done.exitStatus === null ? '' : `, --exec exit status ${r.done.exitStatus}`;
        io.stdout.write(
          `migrated ${r.name}: ${r.bytes} bytes in ${r.seconds.toFixed(3)} s (${mbps(r.throughput)})\n` +
          `session      ${r.session}\n` +
          `leader       ${r.hosts.leader}\n` +
          `data relays  ${r.hosts.dataRelays.join(', ')}\n` +
          `key relays   ${r.hosts.keyRelays.join(', ')} (threshold ${r.threshold})\n` +
          `destination  ${r.hosts.destination}: ${r.done.message} (sha256 ${r.done.sha256}${exec})\n` +
          (r.lostRelays.length > 0 ? `lost relays  ${r.lostRelays.join(', ')} (${r.resentChunks} chunks re-sent)\n` : ''),
        );
      }
      return 0;
    } catch (err) {
      if (err instanceof Error && (err as { code?: string }).code === 'SMIG_ERR_MIGRATION') {
        throw smigError('SMIG_ERR_MIGRATION', `migration failed: ${err.message}`, err);
      }
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if ('destroy' in input && typeof input.destroy === 'function') (input as { destroy(): void }).destroy();
    }
  },
};
