/** `smig recv --listen HOST:PORT --key FILE --out DIR [--exec CMD]`: the destination daemon (DESIGN §3, §6). */
import type { Command } from 'commander';
import type { HostPort } from '../../net/address.js';
import { argParser } from '../io.js';
import type { CliIO } from '../io.js';
import type { CommandSpec } from './index.js';
import { addChannelOptions, channelTimeouts, commandLogger, durationOption, hostPortOption, ms, parseCount, serveUntilSignal } from './relay.js';
import type { ChannelFlags } from './relay.js';

interface RecvFlags extends ChannelFlags {
  listen: HostPort;
  out: string;
  exec?: string;
  execTimeout: bigint;
  maxSessions: number;
  installVm?: string;
}

export const recvCommand: CommandSpec = {
  name: 'recv',
  summary: 'run a destination daemon: verify each migrated payload (length, SHA-256), install it atomically in DIR, run --exec',
  examples: [
    'smig recv --listen 10.0.0.9:7100 --key cluster.key --out /srv/incoming',
    'smig recv --listen 0.0.0.0:7100 --key cluster.key --out /srv/vm --exec \'virsh define "$1"\'',
    'smig recv --listen 0.0.0.0:7100 --key cluster.key --out /run/vms --install-vm \'exec qemu-system-x86_64 -m 1G -display none -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off\'',
  ],
  configure(cmd: Command): void {
    cmd
      .requiredOption('--listen <host:port>', 'address to listen on (port 0: any free port, logged)', hostPortOption('--listen'))
      .requiredOption('--out <dir>', 'directory to install payloads in (under the sender\'s name; NAME.1, NAME.2… if taken)');
    addChannelOptions(cmd)
      .option('--exec <cmd>', 'after each install run `sh -c CMD smig-exec PATH` ($1 and $SMIG_FILE: the path); its exit status goes back to the sender')
      .addOption(durationOption('--exec-timeout <dur>', 'kill --exec after this long', '10m'))
      .option('--install-vm <cmd>', 'restore sessions named *.vmstate into a VM: `sh -c CMD` must start QEMU with -S -incoming fd:0 -qmp unix:$SMIG_QMP,server=on,wait=off (the stream on its stdin); DONE once it runs')
      .option('--max-sessions <n>', 'payloads received at once; more are refused', argParser(parseCount(1)), 8);
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as RecvFlags;
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { DestinationDaemon } = await import('../../roles/destination.js');
    const { formatHostPort } = await import('../../net/address.js');
    const clusterKey = await loadKeyFile(opts.key);
    const log = await commandLogger(opts, io, 'recv');
    const daemon = await DestinationDaemon.start({
      clusterKey,
      listen: opts.listen,
      outDir: opts.out,
      exec: opts.exec,
      execTimeoutMs: ms(opts.execTimeout),
      maxSessions: opts.maxSessions,
      ...(opts.installVm === undefined ? {} : { vm: { command: opts.installVm } }),
      log,
      channel: channelTimeouts(opts),
    });
    log.event('listening', { addr: formatHostPort(daemon.address), out: daemon.outDir, pid: process.pid });
    return serveUntilSignal(log, () => daemon.close());
  },
};
