/**
 * Option parsers and option groups every command shares: how a flag's text becomes a value, and the flags
 * the migration commands (`send`, `relay`, `recv`, `control`) have in common. A parser throws a SmigError;
 * {@link argParser} turns it into commander's InvalidArgumentError so the message names the option.
 */

import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { isSmigError, smigError } from '../errors.js';
import type { HostPort } from '../net/address.js';
import { parseHostPort } from '../net/address.js';
import type { LogFormat } from '../util/log.js';
import { parseLogFormat } from '../util/log.js';
import { parseDuration } from '../util/units.js';

/**
 * Wraps one of our parsers (parseDuration, parseRate, …) for commander: a SmigError becomes commander's
 * InvalidArgumentError, so the message comes out as `smig CMD: option '--bin <dur>' argument '1x' is invalid. …`.
 */
export function argParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text: string): T => {
    try {
      return parse(text);
    } catch (err) {
      if (isSmigError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** Collects repeated options (`--class a=x --class b=y`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
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

/** A significance level, strictly between 0 and 1. */
export function parseAlpha(text: string): number {
  const a = Number(text);
  if (!(a > 0 && a < 1)) throw smigError('SMIG_ERR_USAGE', `'${text}' is not a significance level between 0 and 1`);
  return a;
}

/** A pacing seed: a whole number from 0 to 2³²−1. */
export function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > 0xffffffff)
    throw smigError('SMIG_ERR_USAGE', `'${text}' is not a seed from 0 to 4294967295`);
  return n;
}

/** A bin width: a duration of at least 1us. */
export function parseBin(text: string): bigint {
  const ns = parseDuration(text, 'bin');
  if (ns < 1000n) throw smigError('SMIG_ERR_BAD_DURATION', `bin: '${text}' is shorter than 1us`);
  return ns;
}

/** `--listen`, `--dest`, `--leader`, `--controller`. */
export function hostPortOption(what: string): (text: string) => HostPort {
  return argParser((text: string) => parseHostPort(text, what));
}

/** A duration option (nanoseconds as bigint) whose default is shown as written, e.g. `60s`. */
export function durationOption(flags: string, description: string, dflt: string): Option {
  const name = flags.split(' ')[0]!;
  return new Option(flags, description)
    .argParser(argParser((t) => parseDuration(t, name)))
    .default(parseDuration(dflt, name), dflt);
}

/** Milliseconds of a parsed duration, at least 1. */
export function ms(ns: bigint): number {
  return Math.max(1, Number(ns / 1_000_000n));
}

/** Options every migration command has. */
export interface ChannelFlags {
  key: string;
  logFormat: LogFormat;
  idleTimeout: bigint;
  handshakeTimeout: bigint;
}

/** Adds the channel timeouts (`--idle-timeout`, `--handshake-timeout`). */
export function addTimeoutOptions(cmd: Command): Command {
  return cmd
    .addOption(
      durationOption('--idle-timeout <dur>', 'close a connection with no bytes either way for this long', '60s'),
    )
    .addOption(durationOption('--handshake-timeout <dur>', 'TCP connect + TLS handshake limit', '10s'));
}

/** Adds `--key`, `--log-format` and the channel timeouts. */
export function addChannelOptions(cmd: Command): Command {
  cmd
    .requiredOption('--key <file>', 'cluster key file (smig keygen); must not be readable by group or others')
    .option('--log-format <fmt>', 'session events on stderr as text or json lines', argParser(parseLogFormat), 'text');
  return addTimeoutOptions(cmd);
}

/** The channel timeouts from the flags. */
export function channelTimeouts(f: { idleTimeout: bigint; handshakeTimeout: bigint }): {
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
} {
  return { idleTimeoutMs: ms(f.idleTimeout), handshakeTimeoutMs: ms(f.handshakeTimeout) };
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
    .option(
      '--max-connections <n>',
      'connections held at once (established or in the handshake); more are closed at once',
      argParser(parseCount(1)),
      maxConnections,
    )
    .option(
      '--max-handshakes <n>',
      'TLS handshakes in progress at once; more are closed at once',
      argParser(parseCount(1)),
      64,
    )
    .option('--max-per-address <n>', 'connections held at once from one peer address', argParser(parseCount(1)), 32);
}

/** The listener caps from the flags. */
export function listenerLimits(f: ListenerFlags): {
  maxConnections: number;
  maxHandshakes: number;
  maxPerAddress: number;
} {
  return { maxConnections: f.maxConnections, maxHandshakes: f.maxHandshakes, maxPerAddress: f.maxPerAddress };
}
