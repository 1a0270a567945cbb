/**
 * `smig relay --listen HOST:PORT --key FILE`: the daemon that serves sessions as data relay, key relay
 * or leader (docs/DESIGN.md §3, §6).
 */

import type { Command } from 'commander';
import { Option } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import { parseSize } from '../../util/units.js';
import { checkOutDir, commandLogger, serveUntilSignal } from '../daemon.js';
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
    cmd.requiredOption(
      '--listen <host:port>',
      'address to listen on (port 0: any free port, logged)',
      hostPortOption('--listen'),
    );
    addListenerOptions(addChannelOptions(cmd))
      .option(
        '--max-sessions <n>',
        'sessions served at once (any role); more are refused',
        argParser(parseCount(1)),
        16,
      )
      .addOption(
        new Option('--max-window <size>', 'as leader: largest source window accepted (reorder buffer per session)')
          .argParser(argParser((t) => parseSize(t, '--max-window')))
          .default(64 * 1024 * 1024, '64MiB'),
      )
      .addOption(durationOption('--key-wait <dur>', 'as leader: how long to wait for enough key shares', '30s'))
      // the agent of smig control (src/control/agent.ts)
      .option(
        '--controller <host:port>',
        'take instructions from smig control at this address (register, heartbeats, available/busy)',
        hostPortOption('--controller'),
      )
      .option(
        '--name <name>',
        "with --controller: this host's inventory name (default: matched by the --listen address)",
      )
      .option(
        '--identity <file>',
        "with --controller: this host's identity (smig keygen --identity); registration is signed with it, the controller checks it against the inventory key; as a destination it installs only sessions sealed to it and signs its receipts",
      )
      .option('--out <dir>', 'with --controller: may serve as a destination, installing into DIR')
      .option(
        '--source <name=path|cmd>',
        'with --controller: data it may be told to migrate: NAME=PATH (a file), NAME=|CMD (stdout of sh -c CMD) or NAME=qmp:SOCKET (a running QEMU VM); repeatable',
        collect,
      )
      .option(
        '--install-vm <cmd>',
        'with --out: restore migrated VMs (*.vmstate) with this QEMU command template, as smig recv --install-vm',
      );
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as RelayFlags;
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { RelayDaemon } = await import('../../roles/relay.js');
    const { formatHostPort } = await import('../../net/address.js');
    if (opts.maxWindow < 1024 * 1024) throw smigError('SMIG_ERR_USAGE', '--max-window: at least 1MiB');
    if (opts.installVm !== undefined && opts.out === undefined)
      throw smigError('SMIG_ERR_USAGE', "--install-vm needs --out (the VM's monitor socket is published there)");
    if (
      opts.controller === undefined &&
      (opts.out !== undefined || opts.source !== undefined || opts.name !== undefined || opts.identity !== undefined)
    ) {
      throw smigError(
        'SMIG_ERR_USAGE',
        '--out, --source, --name and --identity need --controller (only the controller tells a relay to receive or send)',
      );
    }
    const control = opts.controller === undefined ? undefined : await import('../../control/agent.js');
    const sources = (opts.source ?? []).map((t) => control!.parseSourceSpec(t));
    if (opts.name !== undefined && !(await import('../../control/inventory.js')).NAME_PATTERN.test(opts.name)) {
      throw smigError(
        'SMIG_ERR_USAGE',
        `--name: '${opts.name}' is not an inventory name (letters, digits, '.', '_', '-')`,
      );
    }
    if (opts.out !== undefined) await checkOutDir(opts.out);
    const clusterKey = await loadKeyFile(opts.key);
    const identity =
      opts.identity === undefined
        ? undefined
        : await (await import('../../crypto/identity.js')).loadIdentityFile(opts.identity);
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
        clusterKey,
        controller: opts.controller!,
        listen: daemon.address,
        name: opts.name,
        identity,
        outDir: opts.out,
        sources,
        ...(opts.installVm === undefined ? {} : { installVm: opts.installVm }),
        log,
        channel: channelTimeouts(opts),
      });
    }
    return serveUntilSignal(log, async () => {
      await agent?.close();
      await daemon.close();
    });
  },
};
