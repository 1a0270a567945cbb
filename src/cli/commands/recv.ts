/** `smig recv --listen HOST:PORT --key FILE --out DIR [--exec CMD]`: the destination daemon (docs/DESIGN.md §3, §6). */
import type { Command } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import { commandLogger, serveUntilSignal } from '../daemon.js';
import type { CliIO } from '../io.js';
import type { ChannelFlags, ListenerFlags } from '../options.js';
import {
  addChannelOptions,
  addListenerOptions,
  argParser,
  channelTimeouts,
  collect,
  durationOption,
  hostPortOption,
  listenerLimits,
  ms,
  parseCount,
} from '../options.js';
import type { CommandSpec } from '../spec.js';

interface RecvFlags extends ChannelFlags, ListenerFlags {
  listen: HostPort;
  identity?: string;
  trustSource?: string[];
  out: string;
  exec?: string;
  execTimeout: bigint;
  maxSessions: number;
  installVm?: string;
  maxSessionsPerAddress?: number;
  sessionIdle: bigint;
}

export const recvCommand: CommandSpec = {
  name: 'recv',
  summary:
    'run a destination daemon: verify each migrated payload (length, SHA-256), install it atomically in DIR, run --exec',
  examples: [
    'smig recv --listen 10.0.0.9:7100 --key cluster.key --identity h9.id --out /srv/incoming',
    'smig recv --listen 0.0.0.0:7100 --key cluster.key --out /srv/vm --exec \'virsh define "$1"\'',
    "smig recv --listen 0.0.0.0:7100 --key cluster.key --out /run/vms --install-vm 'exec qemu-system-x86_64 -m 1G -display none -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off'",
  ],
  configure(cmd: Command): void {
    cmd
      .requiredOption(
        '--listen <host:port>',
        'address to listen on (port 0: any free port, logged)',
        hostPortOption('--listen'),
      )
      .requiredOption(
        '--out <dir>',
        "directory to install payloads in (under the sender's name; NAME.1, NAME.2… if taken)",
      )
      .option(
        '--identity <file>',
        "this host's identity (smig keygen --identity): only sessions sealed to it are installed, and receipts are signed with it. Without it only sources without --dest-key are accepted, and any cluster-key holder can install files here",
      )
      .option(
        '--trust-source <file.pub>',
        'with --identity: install only sessions signed by this source identity (smig send --identity); repeatable',
        collect,
      );
    addListenerOptions(addChannelOptions(cmd), 64)
      .option(
        '--exec <cmd>',
        'after each install run `sh -c CMD smig-exec PATH` ($1 and $SMIG_FILE: the path); its exit status goes back to the sender',
      )
      .addOption(durationOption('--exec-timeout <dur>', 'kill --exec after this long', '10m'))
      .option(
        '--install-vm <cmd>',
        'restore sessions named *.vmstate into a VM: `sh -c CMD` must start QEMU with -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off (the stream on its stdin); DONE once it runs',
      )
      .option('--max-sessions <n>', 'payloads received at once; more are refused', argParser(parseCount(1)), 8)
      .option(
        '--max-sessions-per-address <n>',
        'payloads received at once from one leader address (default: half of --max-sessions, rounded up)',
        argParser(parseCount(1)),
      )
      .addOption(
        durationOption(
          '--session-idle <dur>',
          'drop a session that receives no data for this long before its end',
          '120s',
        ),
      );
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as RecvFlags;
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { DestinationDaemon } = await import('../../roles/destination.js');
    const { formatHostPort } = await import('../../net/address.js');
    const clusterKey = await loadKeyFile(opts.key);
    const { loadIdentityFile, fingerprint } = await import('../../crypto/identity.js');
    const identity = opts.identity === undefined ? undefined : await loadIdentityFile(opts.identity);
    if (opts.trustSource !== undefined && identity === undefined)
      throw smigError('SMIG_ERR_USAGE', '--trust-source needs --identity (signed sessions are sealed to this host)');
    const { loadPublicKeyFile } = await import('../../crypto/identity.js');
    const trustedSources = await Promise.all((opts.trustSource ?? []).map((f) => loadPublicKeyFile(f)));
    const log = await commandLogger(opts, io, 'recv');
    if (identity === undefined)
      io.stderr.write(
        'smig recv: warning: no --identity: accepting unsealed sessions, whose payload the leader can read and whose receipt it could forge\n',
      );
    const daemon = await DestinationDaemon.start({
      clusterKey,
      ...(identity === undefined ? {} : { identity }),
      ...(trustedSources.length === 0 ? {} : { trustedSources }),
      listen: opts.listen,
      outDir: opts.out,
      exec: opts.exec,
      execTimeoutMs: ms(opts.execTimeout),
      maxSessions: opts.maxSessions,
      ...(opts.installVm === undefined ? {} : { vm: { command: opts.installVm } }),
      ...(opts.maxSessionsPerAddress === undefined ? {} : { maxSessionsPerAddress: opts.maxSessionsPerAddress }),
      sessionIdleMs: ms(opts.sessionIdle),
      log,
      channel: channelTimeouts(opts),
      limits: listenerLimits(opts),
    });
    log.event('listening', {
      addr: formatHostPort(daemon.address),
      out: daemon.outDir,
      pid: process.pid,
      ...(identity === undefined ? {} : { identity: fingerprint(identity.public) }),
    });
    return serveUntilSignal(log, () => daemon.close());
  },
};
