/**
 * `smig control --key K --inventory FILE [--eve FILE] [--listen H:P] [--hook EVENT=CMD]...`: the controller
 * daemon (docs/DESIGN.md §3, §6), and its clients `smig control migrate HOST[:SOURCE]`, `smig control
 * status`, `smig control reinstate HOST`.
 *
 * The daemon's options sit on `control` itself, so none may be required there (commander would require them
 * of the subcommands too): `--key` and `--inventory` are checked in `run`. A subcommand reads `--key` wherever
 * it was written (`smig control status --key K` or `smig control --key K status`).
 */

import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { smigError } from '../../errors.js';
import type { HostPort } from '../../net/address.js';
import type { JsonObject } from '../../protocol/index.js';
import type { LogFormat } from '../../util/log.js';
import { parseLogFormat } from '../../util/log.js';
import { parseRate } from '../../util/units.js';
import { commandLogger, serveUntilSignal } from '../daemon.js';
import type { CliIO } from '../io.js';
import { ioOf } from '../io.js';
import type { ListenerFlags } from '../options.js';
import {
  addListenerOptions,
  addTimeoutOptions,
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
import { formatNumber, table } from '../table.js';

/** Where the daemon listens by default, and where its clients look for it. */
export const DEFAULT_CONTROL_ADDRESS = '127.0.0.1:7700';

interface DaemonFlags extends ListenerFlags {
  key?: string;
  inventory?: string;
  eve?: string;
  listen: HostPort;
  hook?: string[];
  journal?: string;
  operatorKey?: string[];
  insecureNoIdentities?: boolean;
  deadline: bigint;
  dataRelays: number;
  keyRelays: number;
  threshold: number;
  severity: number;
  cooldown: bigint;
  heartbeat: bigint;
  hostWait: bigint;
  prepareTimeout: bigint;
  recoverWait: bigint;
  hookTimeout: bigint;
  evePoll: bigint;
  retry: boolean;
  strategy: string;
  profile?: string;
  rate?: number;
  logFormat: LogFormat;
  idleTimeout: bigint;
  handshakeTimeout: bigint;
}

interface ClientFlags {
  key?: string;
  identity?: string;
  controller: HostPort;
  json?: boolean;
  dryRun?: boolean;
  wait: boolean;
  idleTimeout: bigint;
  handshakeTimeout: bigint;
}

function parseSeverity(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > 255)
    throw smigError('SMIG_ERR_USAGE', `'${text}' is not a severity from 1 (most severe) to 255`);
  return n;
}

function addClientOptions(cmd: Command): Command {
  cmd
    .option('--key <file>', 'cluster key file (smig keygen)')
    .option(
      '--identity <file>',
      "the operator's identity (smig keygen --identity): signs the request; the daemon checks it against its --operator-key",
    )
    .addOption(
      new Option('--controller <host:port>', "the daemon's --listen address")
        .argParser(hostPortOption('--controller'))
        .default(parseHostPortDefault(), DEFAULT_CONTROL_ADDRESS),
    )
    // `--listen` is the daemon's: a client that writes it means the controller's address, and must not be
    // sent to the default one silently
    .addOption(
      new Option('--listen <host:port>').hideHelp().argParser((t) => {
        throw new InvalidArgumentError(
          `--listen is where the daemon listens; a client names it with --controller ${t}`,
        );
      }),
    );
  return addTimeoutOptions(cmd);
}

function parseHostPortDefault(): HostPort {
  const [host, port] = DEFAULT_CONTROL_ADDRESS.split(':');
  return { host: host!, port: Number(port) };
}

/** The client's connection settings; `--key` from the subcommand or from `control`. */
async function clientOf(
  sub: Command,
): Promise<{ flags: ClientFlags; client: import('../../control/client.js').ClientOptions }> {
  const flags = sub.opts() as ClientFlags;
  const parent = sub.parent;
  // the daemon's options written before the subcommand (`smig control --eve F status`) do nothing for a client
  const ignored =
    parent === null
      ? []
      : parent.options.filter(
          (o) => o.attributeName() !== 'key' && parent.getOptionValueSource(o.attributeName()) === 'cli',
        );
  if (ignored.length > 0) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `${ignored.map((o) => o.long).join(', ')}: an option of the daemon (smig control), not of ${sub.name()}`,
    );
  }
  const key = flags.key ?? (parent?.opts() as { key?: string } | undefined)?.key;
  if (key === undefined) throw smigError('SMIG_ERR_USAGE', '--key FILE is required (the cluster key)');
  const { loadKeyFile } = await import('../../crypto/keyfile.js');
  const clusterKey = await loadKeyFile(key);
  const idFile = flags.identity ?? (sub.parent?.opts() as { identity?: string } | undefined)?.identity;
  const identity =
    idFile === undefined ? undefined : await (await import('../../crypto/identity.js')).loadIdentityFile(idFile);
  return { flags, client: { clusterKey, identity, controller: flags.controller, channel: channelTimeouts(flags) } };
}

export const controlCommand: CommandSpec = {
  name: 'control',
  summary: "run the controller: IDS alerts (Suricata EVE) trigger randomized migrations, then the operator's hooks",
  examples: [
    'smig control --key cluster.key --inventory hosts.yaml --operator-key operator.id.pub --eve /var/log/suricata/eve.json --listen 10.9.0.1:7700 \\\n' +
      '      --hook make-honeypot=\'./honeypot.sh "$SMIG_SOURCE_HOST"\' --hook disconnect=\'./cut.sh "$SMIG_SOURCE_HOST"\'',
    'smig control migrate h3 --key cluster.key --identity operator.id --controller 10.9.0.1:7700',
    'smig control migrate h3:vm --dry-run --key cluster.key --identity operator.id',
    'smig control status --json --key cluster.key --identity operator.id',
  ],
  configure(cmd: Command): void {
    cmd
      .option('--key <file>', 'cluster key file (smig keygen); required')
      .option('--inventory <file>', 'hosts, their agent addresses, IDS addresses and roles (JSON or YAML); required')
      .option('--eve <file>', 'Suricata EVE JSON file to follow (across rotation and truncation)')
      .addOption(
        new Option(
          '--listen <host:port>',
          'where agents (smig relay --controller) and smig control migrate|status connect',
        )
          .argParser(hostPortOption('--listen'))
          .default(parseHostPortDefault(), DEFAULT_CONTROL_ADDRESS),
      )
      .option(
        '--hook <event=cmd>',
        'run CMD (sh -c) on EVENT: make-honeypot, disconnect, connect, notify-ids (after DONE ok, in this order), failed; repeatable',
        collect,
      )
      .option(
        '--journal <file>',
        'session journal (JSON lines, fsynced; replayed on restart); default control.journal in the state directory: /var/lib/smig as root, else $XDG_STATE_HOME/smig or ~/.local/state/smig (made with mode 0700)',
      )
      .option(
        '--operator-key <file.pub>',
        'public identity of an operator allowed to send migrate|status|reinstate (smig keygen --identity); repeatable; required unless --insecure-no-identities',
        collect,
      )
      .option(
        '--insecure-no-identities',
        'accept inventory hosts without a key and, without --operator-key, unsigned operator requests: anyone with the cluster key may then act as such a host or as the operator (logged loudly)',
      )
      .addOption(durationOption('--deadline <dur>', 'a session not done this long after its trigger fails', '1h'))
      .option('--data-relays <n>', 'data relays per session', argParser(parseCount(1)), 5)
      .option('--key-relays <n>', 'key relays (key shares) per session', argParser(parseCount(1)), 3)
      .option('--threshold <k>', 'key shares needed', argParser(parseCount(1)), 2)
      .option(
        '--severity <n>',
        'act on alerts with alert.severity ≤ N (1 is the most severe)',
        argParser(parseSeverity),
        2,
      )
      .addOption(durationOption('--cooldown <dur>', "ignore a host's alerts for this long after it was flagged", '5m'))
      .addOption(durationOption('--heartbeat <dur>', "agents' heartbeat interval (3 missed: not chosen)", '5s'))
      .addOption(
        durationOption(
          '--host-wait <dur>',
          'how long a trigger waits for enough available hosts before it is refused',
          '30s',
        ),
      )
      .addOption(durationOption('--prepare-timeout <dur>', 'how long chosen hosts have to acknowledge', '15s'))
      .addOption(
        durationOption(
          '--recover-wait <dur>',
          "how long to wait for a source's agent after a restart or a disconnect",
          '30s',
        ),
      )
      .addOption(durationOption('--hook-timeout <dur>', 'time limit of one hook', '5m'))
      .addOption(durationOption('--eve-poll <dur>', 'how often the EVE file is checked', '250ms'))
      .option('--no-retry', 'do not retry a failed session with fresh hosts')
      .option('--strategy <name>', 'pacing of every hop: bulk | constant | profile | replay', 'bulk')
      .option('--profile <file>', 'normal-traffic profile (smig profile learn) for constant, profile, replay')
      .option(
        '--rate <rate>',
        "constant strategy: wire rate as tc writes it: 128kbit (bits/s), 16kbps = 16 kB/s (tc's bps is BYTES/s), a bare number bits/s; or 16kB/s, 10Mbit/s",
        argParser((t) => parseRate(t, '--rate')),
      )
      .option('--log-format <fmt>', 'events on stderr as text or json lines', argParser(parseLogFormat), 'text')
      .enablePositionalOptions();
    addTimeoutOptions(cmd);
    addListenerOptions(cmd, 1024);

    addClientOptions(cmd.command('migrate'))
      .description(
        'migrate HOST now (its SOURCE, or its default source): the daemon picks the hosts and runs the session',
      )
      .argument('<host[:source]>', 'inventory host name, optionally with the --source name of its agent')
      .option(
        '--dry-run',
        'print one sample draw of the hosts from those available now (nothing is reserved or run; a real run draws again, so its hosts differ)',
      )
      .option('--no-wait', 'return once the daemon accepted the trigger')
      .option('--json', 'print the result as JSON')
      .action(async (target: string, _flags: unknown, sub: Command) => migrateAction(target, sub));
    addClientOptions(cmd.command('status'))
      .description('show hosts (available, busy, offline, honeypot), recent sessions and the EVE counters')
      .option('--json', 'print the status as JSON')
      .action(async (_flags: unknown, sub: Command) => statusAction(sub));
    addClientOptions(cmd.command('reinstate'))
      .description('return a honeypot host (migrated away from) to service')
      .argument('<host>', 'inventory host name')
      .action(async (host: string, _flags: unknown, sub: Command) => reinstateAction(host, sub));
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const o = rawOpts as unknown as DaemonFlags;
    if (o.key === undefined) throw smigError('SMIG_ERR_USAGE', '--key FILE is required (the cluster key)');
    if (o.inventory === undefined) throw smigError('SMIG_ERR_USAGE', '--inventory FILE is required');
    const { parseHookSpec } = await import('../../control/hooks.js');
    const { checkCounts } = await import('../../control/selection.js');
    const hooks = (o.hook ?? []).map(parseHookSpec);
    const counts = checkCounts({ dataRelays: o.dataRelays, keyRelays: o.keyRelays, threshold: o.threshold });
    const plan = await planFactory(o);
    const { loadKeyFile } = await import('../../crypto/keyfile.js');
    const { loadInventory } = await import('../../control/inventory.js');
    const { Controller } = await import('../../control/controller.js');
    const { formatHostPort } = await import('../../net/address.js');
    const clusterKey = await loadKeyFile(o.key);
    const inventory = await loadInventory(o.inventory);
    const { loadPublicKeyFile } = await import('../../crypto/identity.js');
    const operatorKeys = await Promise.all((o.operatorKey ?? []).map((f) => loadPublicKeyFile(f)));
    const journal = await (await import('../../control/state.js')).journalPath(o.journal);
    const log = await commandLogger(o, io, 'control');
    const c = await Controller.start({
      clusterKey,
      inventory,
      operatorKeys,
      insecureNoIdentities: o.insecureNoIdentities === true,
      listen: o.listen,
      journal,
      eve: o.eve,
      evePollMs: ms(o.evePoll),
      maxSeverity: o.severity,
      cooldownMs: ms(o.cooldown),
      hooks,
      hookTimeoutMs: ms(o.hookTimeout),
      counts,
      deadlineMs: ms(o.deadline),
      heartbeatMs: ms(o.heartbeat),
      hostWaitMs: ms(o.hostWait),
      prepareTimeoutMs: ms(o.prepareTimeout),
      recoverWaitMs: ms(o.recoverWait),
      retry: o.retry,
      plan,
      log,
      channel: channelTimeouts(o),
      limits: listenerLimits(o),
    });
    log.event('listening', {
      addr: formatHostPort(c.address),
      pid: process.pid,
      hosts: inventory.hosts.length,
      eve: o.eve,
      journal,
      dataRelays: counts.dataRelays,
      keyRelays: counts.keyRelays,
      threshold: counts.threshold,
      strategy: o.strategy,
    });
    return serveUntilSignal(log, () => c.close());
  },
};

/** A fresh pacing plan per session from --strategy/--profile/--rate (each with its own random seed). */
async function planFactory(o: DaemonFlags): Promise<() => import('../../pacing/plan.js').PacingPlan | undefined> {
  const { STRATEGIES, createPlan } = await import('../../pacing/plan.js');
  if (!(STRATEGIES as readonly string[]).includes(o.strategy))
    throw smigError('SMIG_ERR_USAGE', `--strategy: '${o.strategy}' is not one of ${STRATEGIES.join(', ')}`);
  if (o.strategy === 'bulk') {
    if (o.profile !== undefined || o.rate !== undefined)
      throw smigError('SMIG_ERR_USAGE', '--strategy bulk: no pacing, so --profile and --rate have no use');
    return () => undefined;
  }
  if (o.rate !== undefined && o.strategy !== 'constant')
    throw smigError('SMIG_ERR_USAGE', `--rate: only for --strategy constant`);
  const { loadProfile } = await import('../../profile/model.js');
  const profile = o.profile === undefined ? undefined : await loadProfile(o.profile);
  const strategy = o.strategy as import('../../pacing/plan.js').Strategy;
  createPlan({ strategy, profile, rate: o.rate }); // refuse bad combinations now, not at the first alert
  return () => createPlan({ strategy, profile, rate: o.rate });
}

async function migrateAction(target: string, sub: Command): Promise<void> {
  const io = ioOf(sub);
  const { flags, client } = await clientOf(sub);
  const colon = target.indexOf(':');
  const host = colon < 0 ? target : target.slice(0, colon);
  const source = colon < 0 ? null : target.slice(colon + 1);
  const { NAME_PATTERN } = await import('../../control/inventory.js');
  if (!NAME_PATTERN.test(host) || (source !== null && !NAME_PATTERN.test(source))) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `'${target}' is not HOST or HOST:SOURCE (names of letters, digits, '.', '_', '-')`,
    );
  }
  const { migrate } = await import('../../control/client.js');
  const updates: JsonObject[] = [];
  const result = await migrate(client, {
    host,
    source,
    dryRun: flags.dryRun,
    wait: flags.wait,
    onUpdate: (m) => {
      updates.push(m);
      if (!flags.json && m.type !== 'finished' && m.type !== 'plan' && m.type !== 'refused')
        io.stderr.write(`smig control migrate: ${describe(m)}\n`);
    },
  });
  // a dry run's hosts are one sample draw: the real run draws again (`sample: true` says so to a script)
  const shown =
    result.type === 'plan'
      ? { ...result, sample: true }
      : flags.dryRun || !flags.wait
        ? result
        : { ...result, updates };
  if (flags.json) io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  else if (result.type === 'plan') {
    io.stdout.write('A sample draw of the hosts (nothing reserved; a real run draws again with fresh randomness):\n');
    io.stdout.write(
      table(
        ['ROLE', 'HOSTS'],
        [
          ['source', `${String(result.host)}:${String(result.source)}`],
          ['destination', String(result.destination)],
          ['leader', String(result.leader)],
          ['data relays', (result.dataRelays as string[]).join(', ')],
          ['key relays', `${(result.keyRelays as string[]).join(', ')} (${String(result.threshold)} needed)`],
        ],
      ),
    );
  } else if (result.type === 'accepted') io.stdout.write(`accepted: trigger ${String(result.trigger)}\n`);
  else io.stdout.write(`${describe(result)}\n`);
  if (result.type === 'finished' && result.ok !== true) {
    throw smigError('SMIG_ERR_MIGRATION', `migration of ${host} failed: ${String(result.error)}`);
  }
}

/** One line for a reply of the daemon. */
function describe(m: JsonObject): string {
  const id = typeof m.session === 'string' ? m.session.slice(0, 16) : '';
  switch (m.type) {
    case 'accepted':
      return `accepted: trigger ${String(m.trigger)}`;
    case 'progress': {
      const p = m.plan as { destination?: string; leader?: string } | null | undefined;
      const hosts = p && m.state === 'planned' ? ` (destination ${p.destination}, leader ${p.leader})` : '';
      return `session ${id} attempt ${String(m.attempt)}: ${String(m.state)}${hosts}${m.error ? `: ${String(m.error)}` : ''}`;
    }
    case 'hook':
      return `session ${id}: hook ${String(m.hook)}#${String(m.index)} ${m.error === null ? 'ok' : `failed: ${String(m.error)}`}`;
    case 'finished': {
      const o = m.outcome as { bytes?: number; seconds?: number; sha256?: string } | null;
      return m.ok === true && o
        ? `done: session ${id}, ${o.bytes} bytes in ${formatNumber(o.seconds ?? 0)} s, SHA-256 ${o.sha256}`
        : `failed: session ${id}: ${String(m.error)}`;
    }
    default:
      return JSON.stringify(m);
  }
}

async function statusAction(sub: Command): Promise<void> {
  const io = ioOf(sub);
  const { flags, client } = await clientOf(sub);
  const { fetchStatus } = await import('../../control/client.js');
  const s = await fetchStatus(client);
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const seen = (v: number | null): string => (v === null ? 'never' : `${formatNumber(v / 1000)}s ago`);
  io.stdout.write(
    `controller ${s.listen}  journal ${s.journal}  sessions: ${s.counts.dataRelays} data relays, ${s.counts.keyRelays} key relays, ${s.counts.threshold} shares needed\n\n`,
  );
  io.stdout.write(
    table(
      ['HOST', 'ADDRESS', 'STATE', 'ROLES', 'OUT', 'SOURCES', 'BUSY WITH', 'SEEN'],
      s.hosts.map((h) => [
        h.name,
        h.address,
        h.state,
        h.roles.join(','),
        h.out ? 'yes' : 'no',
        h.sources.join(',') || '-',
        h.sessions.map((x) => x.slice(0, 8)).join(',') || '-',
        seen(h.lastSeenMs),
      ]),
    ),
  );
  io.stdout.write('\n');
  if (s.sessions.length === 0) io.stdout.write('no sessions yet\n');
  else {
    io.stdout.write(
      table(
        ['SESSION', 'CREATED', 'REASON', 'SOURCE', 'DESTINATION', 'LEADER', 'TRY', 'STATE', 'DETAIL'],
        s.sessions.map((x) => [
          x.id.slice(0, 16),
          x.created,
          x.reason.kind,
          `${x.source}${x.sourceName ? `:${x.sourceName}` : ''}`,
          x.destination ?? '-',
          x.leader ?? '-',
          x.attempt,
          x.closed ? x.state : `${x.state}…`,
          x.outcome ? `${x.outcome.bytes} bytes, ${formatNumber(x.outcome.seconds)} s` : (x.error ?? ''),
        ]),
        ['l', 'l', 'l', 'l', 'l', 'l', 'r', 'l', 'l'],
      ),
    );
  }
  if (s.eve !== null) {
    const e = s.eve;
    io.stdout.write(
      `\neve ${e.path}: ${e.lines} lines, ${e.alerts} alerts, ${e.triggered} triggered, ${e.suppressed} suppressed, ` +
        `${e.unknown} for unknown addresses, ${e.malformed} malformed, ${e.truncated} cut short, ${e.oversized} too long, ` +
        `${e.rotations} rotations, ${e.truncations} truncations\n`,
    );
  }
}

async function reinstateAction(host: string, sub: Command): Promise<void> {
  const io = ioOf(sub);
  const { client } = await clientOf(sub);
  const { reinstate } = await import('../../control/client.js');
  const r = await reinstate(client, host);
  io.stdout.write(`${String(r.host)}: back in service (was ${String(r.was)})\n`);
}
