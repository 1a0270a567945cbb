/**
 * Session event logs of the migration roles: one line per event on stderr, as text for
 * people or JSON lines for machines (`--log-format text|json`).
 *
 * What never goes into a log: keys, key shares, payload bytes. Callers pass only counts, offsets,
 * addresses and short session ids; this module cannot tell a secret from a string, so the rule is kept
 * at the call sites (grep for `log.event(`).
 */
import { smigError } from '../errors.js';

/** `text`: `2025-01-02T03:04:05.678Z relay session-open session=… role=data-relay`; `json`: one object per line. */
export type LogFormat = 'text' | 'json';

/** Where log lines go: process.stderr, or a collector in tests. */
export interface LogSink {
  write(text: string): unknown;
}

/** Values a log field may carry. */
export type LogValue = string | number | boolean | null;
/** The fields of one event. */
export type LogFields = Record<string, LogValue | undefined>;

/**
 * A listener's refusal report (src/net `onRejected`) as a log event: `peer-rejected remote= reason=` for one
 * peer, `peers-rejected count= reason=` for the summary of an interval.
 */
export function logRejected(log: Logger): (info: { remote: string; reason: string; count?: number }) => void {
  return (info) =>
    info.count === undefined
      ? log.event('peer-rejected', { remote: info.remote, reason: info.reason })
      : log.event('peers-rejected', { count: info.count, reason: info.reason });
}

/** Writes session events. */
export interface Logger {
  /** Logs one event: a short kebab-case name and its fields (undefined fields are left out). */
  event(name: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every event (e.g. the session id). */
  with(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  format: LogFormat;
  sink: LogSink;
  /** Who logs: `send`, `relay`, `recv`. */
  component: string;
  /** Test hook: the clock. */
  now?: () => Date;
}

const BARE = /^[\w.:@/+-]+$/;

function textValue(v: LogValue): string {
  if (typeof v === 'string') return BARE.test(v) ? v : JSON.stringify(v);
  return String(v);
}

/**
 * A logger writing one line per event to `sink`.
 * @example createLogger({ format: 'text', sink: process.stderr, component: 'relay' }).event('listening', { addr })
 */
export function createLogger(opts: LoggerOptions, base: LogFields = {}): Logger {
  const now = opts.now ?? ((): Date => new Date());
  return {
    event(name: string, fields: LogFields = {}): void {
      const all: LogFields = { ...base, ...fields };
      const entries = Object.entries(all).filter((e): e is [string, LogValue] => e[1] !== undefined);
      const ts = now().toISOString();
      if (opts.format === 'json') {
        opts.sink.write(
          `${JSON.stringify({ ts, component: opts.component, event: name, ...Object.fromEntries(entries) })}\n`,
        );
      } else {
        const kv = entries.map(([k, v]) => `${k}=${textValue(v)}`).join(' ');
        opts.sink.write(`${ts} ${opts.component} ${name}${kv ? ` ${kv}` : ''}\n`);
      }
    },
    with(fields: LogFields): Logger {
      return createLogger(opts, { ...base, ...fields });
    },
  };
}

/** A logger that drops everything (library use without logs). */
export const silentLogger: Logger = {
  event(): void {},
  with(): Logger {
    return silentLogger;
  },
};

/**
 * Parses `--log-format`.
 * @throws SmigError SMIG_ERR_USAGE
 */
export function parseLogFormat(text: string): LogFormat {
  if (text === 'text' || text === 'json') return text;
  throw smigError('SMIG_ERR_USAGE', `--log-format: '${text}' is not text or json`);
}
