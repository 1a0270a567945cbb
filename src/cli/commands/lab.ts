/**
 * `smig lab up|down|exec|status`: lab hosts as network namespaces on a bridge (docs/DESIGN.md §2, §6).
 *
 * One command with its own small dispatcher rather than commander subcommands: `exec` must hand back
 * the exit status of the command it ran, and only a command's `run` returns a status to main. Each
 * action has its own commander parser, run on the words after the action.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { Command, Option } from 'commander';
import { smigError } from '../../errors.js';
import { formatDuration, formatRate, parseDuration, parseRate } from '../../util/units.js';
import type { CliIO } from '../io.js';
import { configureCommandOutput } from '../io.js';
import { argParser, parseCount } from '../options.js';
import type { CommandSpec } from '../spec.js';
import { ParsedOnly, parseOnly } from '../spec.js';
import { table } from '../table.js';

interface UpFlags {
  hosts: number;
  name: string;
  subnet?: string;
  delay?: bigint;
  loss?: number;
  rate?: number;
  mtu?: number;
  tcpTimestamps?: 'on' | 'off';
  ipv6?: boolean;
  json?: boolean;
}

function parseLoss(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const v = m ? Number(m[1]) : NaN;
  if (!(v > 0 && v <= 100))
    throw smigError('SMIG_ERR_USAGE', `--loss: '${text}' is not a percentage in (0, 100] (e.g. 0.5%)`);
  return v;
}

const ACTIONS = `
Actions:
  up --hosts N [--name LAB] [--subnet 10.X.Y.0/24] [--delay DUR] [--loss PCT] [--rate RATE] [--json]
      N hosts h1..hN, each a network namespace smig-LAB-hI with eth0 (MTU 1500, TSO/GRO off so captures
      show wire packets, with ethtool and no shaping software GSO as a NIC's TSO: a write's segments leave
      back to back, no IPv6) at .1, .2, … of the subnet (default 10.77.0.0/24), all on bridge br0 in
      namespace smig-LAB-br (its port for hI is vhI). --delay/--loss (tc netem) and --rate (tc tbf) shape
      each host's egress: host-to-host one-way delay DUR, round trip 2×DUR. Default LAB: lab.
  exec LAB HOST -- CMD [ARG...]
      runs CMD in HOST's namespace (h3, its address, or br for the bridge), passing stdio and exit status.
  status [LAB] [--json]
      hosts, addresses, namespaces present, link states, processes; without LAB every lab and leftover.
  down LAB
      ends the processes in the lab's namespaces and deletes them (veths and bridge go with them) and the
      state file; finds everything by the smig-LAB- prefix, so it also cleans up after a crash. Idempotent.
All actions need root; the host's own interfaces and routes are never touched. State: /run/smig/labs/LAB.json.
`;

export const labCommand: CommandSpec = {
  name: 'lab',
  summary: 'lab hosts as network namespaces on a bridge (root): up, exec, status, down',
  examples: [
    'smig lab up --hosts 10 --name lab1',
    'smig lab up --hosts 4 --name wan --delay 20ms --loss 0.5% --rate 10Mbit/s',
    'smig lab exec lab1 h2 -- smig recv --listen 10.77.0.2:7100 --key k --out /tmp/in',
    'smig lab exec lab1 br -- smig capture -i vh2 -w h2.pcap --duration 30s',
    'smig lab status lab1',
    'smig lab down lab1',
  ],
  ownParser: true,
  configure(cmd: Command): void {
    cmd
      .argument('<action>', 'up | exec | status | down')
      .argument('[args...]', "the action's arguments and options (below)")
      .allowUnknownOption()
      .allowExcessArguments()
      .addHelpText('after', ACTIONS);
  },
  async run(args: string[], _opts: Record<string, unknown>, io: CliIO): Promise<number> {
    // commander hands over the action's words unparsed (unknown options allowed); the action's own parser reads them
    const [action = '', ...rest] = args;
    const parser = ACTION_PARSERS[action];
    if (!parser) throw smigError('SMIG_ERR_USAGE', `lab: unknown action '${action}' (up, exec, status, down)`);
    let status = 0;
    const sub = parser((s) => void (status = s), io).exitOverride();
    configureCommandOutput(sub, io);
    if (parseOnly()) {
      sub.hook('preAction', () => {
        throw new ParsedOnly();
      });
    }
    await sub.parseAsync(rest, { from: 'user' });
    return status;
  },
};

type Done = (status: number) => void;

const ACTION_PARSERS: Record<string, (done: Done, io: CliIO) => Command> = {
  up: (done, io) =>
    new Command('smig lab up')
      .requiredOption('--hosts <n>', `number of hosts, 1..250`, argParser(parseCount(1)))
      .option('--name <lab>', 'lab name: a lower-case letter then up to 9 letters or digits', 'lab')
      .option('--subnet <cidr>', 'IPv4 network of the hosts (default 10.77.0.0/24)')
      .option(
        '--delay <dur>',
        "one-way delay added on each host's egress (tc netem)",
        argParser((t) => parseDuration(t, '--delay')),
      )
      .addOption(
        new Option('--loss <pct>', "random loss on each host's egress, percent (tc netem)").argParser(
          argParser(parseLoss),
        ),
      )
      .option(
        '--rate <rate>',
        "egress rate limit of each host (tc tbf), as tc writes it: 10mbit, 1250kbps (= 10mbit: tc's bps is BYTES/s), 10Mbit/s",
        argParser((t) => parseRate(t, '--rate')),
      )
      .option(
        '--mtu <bytes>',
        'MTU of every host link, 576..65521 (default 1500): match a capture whose full segments are smaller (MTU = full frame - 14), or one made with receive offload or jumbo frames (MTU = its largest frame - 14)',
        argParser(parseCount(1)),
      )
      .addOption(
        new Option(
          '--tcp-timestamps <on|off>',
          'TCP timestamps in every host (net.ipv4.tcp_timestamps; default on): off gives 54-byte pure ACKs, as captures of Windows hosts show',
        ).choices(['on', 'off']),
      )
      .option(
        '--ipv6',
        'every host also gets an IPv6 address (fd77::N, no link-local address, no router solicitations): match a capture of TCP over IPv6; MTU at least 1280',
      )
      .option('--json', 'print the lab (hosts, namespaces, addresses) as JSON')
      .action(async (f: UpFlags) => {
        const { labUp } = await import('../../lab/lab.js');
        const lab = await labUp({
          name: f.name,
          hosts: f.hosts,
          ...(f.subnet !== undefined ? { subnet: f.subnet } : {}),
          ...(f.delay !== undefined ? { delayNs: f.delay } : {}),
          ...(f.loss !== undefined ? { lossPct: f.loss } : {}),
          ...(f.rate !== undefined ? { rateBps: f.rate } : {}),
          ...(f.mtu !== undefined ? { mtu: f.mtu } : {}),
          ...(f.tcpTimestamps !== undefined ? { tcpTimestamps: f.tcpTimestamps === 'on' } : {}),
          ...(f.ipv6 ? { ipv6: true } : {}),
        });
        if (f.json) {
          io.stdout.write(`${JSON.stringify(lab.state, null, 2)}\n`);
        } else {
          io.stdout.write(
            `lab ${lab.name}: ${lab.hosts.length} hosts on ${lab.state.subnet}, bridge ${lab.bridgeNs}/br0${linkText(lab.state)}${shapingText(lab.state.shaping)}\n`,
          );
          io.stdout.write(
            table(
              ['HOST', 'NAMESPACE', 'ADDRESS', 'BRIDGE PORT'],
              lab.hosts.map((h) => [h.name, h.ns, [h.address, h.address6].filter(Boolean).join(' '), h.bridgePort]),
            ),
          );
        }
        done(0);
      }),

  exec: (done) =>
    new Command('smig lab exec')
      .argument('<lab>', 'lab name')
      .argument('<host>', 'h1…hN, a host address, or br (the bridge namespace)')
      .argument('<cmd...>', 'command and arguments (after --)')
      .passThroughOptions()
      .action(async (name: string, host: string, argv: string[]) => {
        const { labOpen, requireRoot } = await import('../../lab/lab.js');
        requireRoot('smig lab exec');
        const lab = await labOpen(name);
        lab.namespaceOf(host);
        done(await execInherit(lab.exec(host, argv, { stdio: 'inherit' }), argv[0]!));
      }),

  status: (done, io) =>
    new Command('smig lab status')
      .argument('[lab]', 'lab name (default: every lab, and leftovers)')
      .option('--json', 'print as JSON')
      .action(async (name: string | undefined, f: { json?: boolean }) => {
        const { labStatus } = await import('../../lab/lab.js');
        const labs = await labStatus(name);
        if (f.json) {
          io.stdout.write(`${JSON.stringify(name === undefined ? labs : labs[0], null, 2)}\n`);
        } else if (labs.length === 0) {
          io.stdout.write('no labs\n');
        } else {
          for (const l of labs) {
            const s = l.state;
            const head = s
              ? `${s.hosts.length} hosts on ${s.subnet}${linkText(s)}${shapingText(s.shaping)}`
              : 'no state file';
            const missing = l.namespaces.length === 0 ? ' (not up)' : '';
            io.stdout.write(
              `lab ${l.name}: ${head}; bridge ${l.bridge.ns} ${l.bridge.present ? `br0 ${l.bridge.link}, ${l.bridge.ports.length} ports` : 'missing'}${missing}\n`,
            );
            const port = new Map(l.bridge.ports.map((p) => [p.name, p.link]));
            io.stdout.write(
              table(
                ['HOST', 'NAMESPACE', 'ADDRESS', 'ETH0', 'PORT', 'PROCS'],
                l.hosts.map((h) => [
                  h.name,
                  `${h.ns}${h.present ? '' : ' (missing)'}`,
                  h.addresses.join(' ') || h.address,
                  h.link,
                  `${h.bridgePort} ${port.get(h.bridgePort) ?? '-'}`,
                  h.processes,
                ]),
              ),
            );
          }
        }
        done(name !== undefined && labs[0]!.namespaces.length === 0 && labs[0]!.state === null ? 1 : 0);
      }),

  down: (done, io) =>
    new Command('smig lab down').argument('<lab>', 'lab name').action(async (name: string) => {
      const { labDown } = await import('../../lab/lab.js');
      const r = await labDown(name);
      const what =
        r.namespaces.length === 0 && !r.stateFile
          ? 'nothing to remove'
          : `removed ${r.namespaces.length} namespaces${r.killed.length ? `, ended ${r.killed.length} processes` : ''}${r.stateFile ? ', state file' : ''}`;
      io.stdout.write(`lab ${name}: ${what}\n`);
      done(0);
    }),
};

function linkText(s: { mtu?: number; tcpTimestamps?: boolean; ipv6?: boolean }): string {
  return `${s.ipv6 ? ' and fd77::/64' : ''}${s.mtu !== undefined ? `, MTU ${s.mtu}` : ''}${s.tcpTimestamps === false ? ', TCP timestamps off' : ''}`;
}

function shapingText(s: { delayNs?: string; lossPct?: number; rateBps?: number }): string {
  const parts: string[] = [];
  if (s.delayNs !== undefined) parts.push(`delay ${formatDuration(BigInt(s.delayNs))}`);
  if (s.lossPct !== undefined) parts.push(`loss ${s.lossPct}%`);
  if (s.rateBps !== undefined) parts.push(`rate ${formatRate(s.rateBps, { tc: true })}`);
  return parts.length ? `, ${parts.join(', ')} per host egress` : '';
}

/** Waits for a child run with inherited stdio; SIGINT/SIGTERM to smig are passed on. Exit status as a shell gives it. */
function execInherit(child: ChildProcess, what: string): Promise<number> {
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(smigError('SMIG_ERR_LAB', `exec ${what}: ${e.message}`, e)));
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  }).finally(() => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  });
}
