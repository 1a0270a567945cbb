/**
 * The operator's hooks (paper §5.2 Algorithm 1: `make_VManomalous_honeypot()`,
 * `disconnect_VManomalous_from_network()`, `connect_VMdestination_to_network()`, `notify_IDS()`).
 *
 * `--hook EVENT=CMD` (repeatable; several commands per event run in the order given). On DONE ok the
 * events run in the paper's order: `make-honeypot`, `disconnect`, `connect`, `notify-ids`; when a session
 * fails (or is refused for want of hosts), `failed`. Each command runs as `/bin/sh -c CMD` in its own
 * process group, with the session facts in the environment ({@link hookEnvironment}), its output passed
 * on line by line (bounded), and a time limit (SIGTERM, then SIGKILL 5 s later). A hook that fails —
 * exit status ≠ 0, a signal, the time limit, or a command that cannot start — is reported and the next
 * hook runs: one broken script must not leave a compromised host connected.
 *
 * Environment of every hook (values are plain text; lists are comma-separated host names):
 * | variable | value |
 * | --- | --- |
 * | `SMIG_EVENT` | the hook's event |
 * | `SMIG_SESSION` | session id (32 hex digits) |
 * | `SMIG_TRIGGER` | id of the trigger's first session (a retry shares it) |
 * | `SMIG_ATTEMPT` | 1, or 2 for the retry |
 * | `SMIG_REASON` | `eve` (an IDS alert) or `manual` (`smig control migrate`) |
 * | `SMIG_SOURCE_HOST`, `SMIG_SOURCE_ADDRESS`, `SMIG_SOURCE_IDS` | the flagged host: name, agent address, IDS addresses (space-separated) |
 * | `SMIG_SOURCE_NAME` | the `--source` that was migrated |
 * | `SMIG_DEST_HOST`, `SMIG_DEST_ADDRESS`, `SMIG_DEST_IDS` | the destination (empty when the session was refused) |
 * | `SMIG_LEADER_HOST`, `SMIG_DATA_RELAYS`, `SMIG_KEY_RELAYS`, `SMIG_THRESHOLD` | the other hosts and k |
 * | `SMIG_BYTES`, `SMIG_SHA256`, `SMIG_SECONDS` | the payload the destination verified (success) |
 * | `SMIG_ALERT_SIGNATURE`, `SMIG_ALERT_SID`, `SMIG_ALERT_SEVERITY`, `SMIG_ALERT_SRC_IP`, `SMIG_ALERT_DEST_IP`, `SMIG_ALERT_TIMESTAMP` | the alert (`eve` only) |
 * | `SMIG_ERROR` | why the session failed (`failed` only) |
 * | `SMIG_RETRY` | `failed`: 1 when a retry with fresh hosts follows, else 0 |
 * | `SMIG_HOOK_RETRY` | 1 when the hook is run again because the controller stopped while it ran |
 *
 * Values are made safe for an environment before the hook starts ({@link envValue}): every control character
 * (U+0000–U+001F except tab, U+007F–U+009F: NUL, newlines, escapes) and every bidirectional or invisible
 * format character (U+200B–U+200F, U+202A–U+202E, U+2060–U+2069, U+FEFF, U+061C) becomes U+FFFD `�`, and
 * a value is cut to {@link MAX_ENV_VALUE} characters. Such characters can come from an IDS signature or an
 * agent's error text, i.e. from a peer: a NUL would make the hook impossible to start, a newline or an
 * escape would forge lines in the hook's own logs. A hook that still cannot start counts as a failed hook
 * (status 127), and the session closes as usual.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { smigError } from '../errors.js';
import type { TimerClock, TimerHandle } from '../pacing/clock.js';
import { RealClock } from '../pacing/clock.js';
import type { InventoryHost } from './inventory.js';
import type { SessionOutcome, TriggerReason } from './journal.js';
import type { HostPlan } from './selection.js';

/** Hook events. */
export type HookEvent = 'make-honeypot' | 'disconnect' | 'connect' | 'notify-ids' | 'failed';
/** Every event, valid in `--hook`. */
export const HOOK_EVENTS: readonly HookEvent[] = ['make-honeypot', 'disconnect', 'connect', 'notify-ids', 'failed'];
/** The events run after DONE ok, in this order (paper §5.2 Algorithm 1). */
export const SUCCESS_EVENTS: readonly HookEvent[] = ['make-honeypot', 'disconnect', 'connect', 'notify-ids'];

/** One `--hook EVENT=CMD`. */
export interface HookSpec {
  event: HookEvent;
  command: string;
}

/** How one hook run ended. */
export interface HookResult {
  event: HookEvent;
  /** Position of the command among those of its event. */
  index: number;
  command: string;
  /** Exit status; 128 + n after signal n; 127 when it could not start; null never after a run. */
  status: number;
  timedOut: boolean;
  /** One line when it failed (status ≠ 0), else null. */
  error: string | null;
  ms: number;
}

/**
 * Parses `EVENT=CMD`.
 * @throws SmigError SMIG_ERR_USAGE naming the event list
 * @example parseHookSpec('disconnect=ip link set "$SMIG_SOURCE_HOST" down')
 */
export function parseHookSpec(text: string): HookSpec {
  const eq = text.indexOf('=');
  const event = eq < 0 ? text : text.slice(0, eq);
  if (!(HOOK_EVENTS as readonly string[]).includes(event)) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `--hook: '${event}' is not an event (${HOOK_EVENTS.join(', ')}); expected EVENT=CMD`,
    );
  }
  const command = eq < 0 ? '' : text.slice(eq + 1);
  if (command.includes('\u0000'))
    throw smigError('SMIG_ERR_USAGE', `--hook ${event}: the command contains a NUL character`);
  if (command.trim() === '')
    throw smigError('SMIG_ERR_USAGE', `--hook ${event}: the command is empty; expected ${event}=CMD`);
  return { event: event as HookEvent, command };
}

/** The facts of a session that hooks see. */
export interface HookFacts {
  event: HookEvent;
  session: string;
  trigger: string;
  attempt: number;
  reason: TriggerReason;
  source: InventoryHost;
  sourceName: string | null;
  plan: HostPlan | null;
  /** Inventory hosts by name (for the destination's address and IDS addresses). */
  host(name: string): InventoryHost | undefined;
  outcome?: SessionOutcome | null;
  error?: string | null;
  retry?: boolean;
  hookRetry?: boolean;
}

/** Longest value of one hook variable (characters). */
export const MAX_ENV_VALUE = 4096;

const UNSAFE_ENV = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * A value as a hook sees it: control and bidi/format characters replaced by U+FFFD, at most
 * {@link MAX_ENV_VALUE} characters (see the module comment).
 * @example envValue('ET SCAN\u0000x') === 'ET SCAN\ufffdx'
 */
export function envValue(v: string): string {
  let s = v.replace(UNSAFE_ENV, '\ufffd');
  if (s.length > MAX_ENV_VALUE) {
    s = s.slice(0, MAX_ENV_VALUE);
    if (/[\ud800-\udbff]$/.test(s)) s = s.slice(0, -1); // never half a surrogate pair
  }
  return s;
}

/** The `SMIG_*` variables of a hook (see the module comment), each made safe by {@link envValue}. */
export function hookEnvironment(f: HookFacts): Record<string, string> {
  const env = rawHookEnvironment(f);
  for (const k of Object.keys(env)) env[k] = envValue(env[k]!);
  return env;
}

function rawHookEnvironment(f: HookFacts): Record<string, string> {
  const dest = f.plan === null ? undefined : f.host(f.plan.destination);
  const a = f.reason.alert;
  const env: Record<string, string> = {
    SMIG_EVENT: f.event,
    SMIG_SESSION: f.session,
    SMIG_TRIGGER: f.trigger,
    SMIG_ATTEMPT: String(f.attempt),
    SMIG_REASON: f.reason.kind,
    SMIG_SOURCE_HOST: f.source.name,
    SMIG_SOURCE_ADDRESS: f.source.addressText,
    SMIG_SOURCE_IDS: f.source.ids.join(' '),
    SMIG_SOURCE_NAME: f.sourceName ?? '',
    SMIG_DEST_HOST: dest?.name ?? '',
    SMIG_DEST_ADDRESS: dest?.addressText ?? '',
    SMIG_DEST_IDS: dest?.ids.join(' ') ?? '',
    SMIG_LEADER_HOST: f.plan?.leader ?? '',
    SMIG_DATA_RELAYS: f.plan?.dataRelays.join(',') ?? '',
    SMIG_KEY_RELAYS: f.plan?.keyRelays.join(',') ?? '',
    SMIG_THRESHOLD: f.plan === null ? '' : String(f.plan.threshold),
  };
  if (f.outcome) {
    env.SMIG_BYTES = String(f.outcome.bytes);
    env.SMIG_SHA256 = f.outcome.sha256;
    env.SMIG_SECONDS = f.outcome.seconds.toFixed(3);
  }
  if (a !== undefined) {
    env.SMIG_ALERT_SIGNATURE = a.signature;
    env.SMIG_ALERT_SID = a.signatureId === null ? '' : String(a.signatureId);
    env.SMIG_ALERT_SEVERITY = String(a.severity);
    env.SMIG_ALERT_SRC_IP = a.srcIp ?? '';
    env.SMIG_ALERT_DEST_IP = a.destIp ?? '';
    env.SMIG_ALERT_TIMESTAMP = a.timestamp ?? '';
  }
  if (f.event === 'failed') {
    env.SMIG_ERROR = f.error ?? '';
    env.SMIG_RETRY = f.retry ? '1' : '0';
  }
  if (f.hookRetry) env.SMIG_HOOK_RETRY = '1';
  return env;
}

/** Options of {@link runHook}. */
export interface RunHookOptions {
  /** Added to the controller's environment. */
  env: Record<string, string>;
  timeoutMs: number;
  /** Each line the hook prints (stdout and stderr), at most `maxOutputLines`. */
  onOutput?: (line: string) => void;
  maxOutputLines?: number;
  /** Grace between SIGTERM and SIGKILL at the time limit. Default 5 s. */
  killGraceMs?: number;
  /** The clock of the time limit, the kill grace and the duration reported. Default the real one. */
  clock?: TimerClock;
}

/** Runs one hook command to its end; never rejects. */
export function runHook(spec: HookSpec, index: number, o: RunHookOptions): Promise<HookResult> {
  const clock = o.clock ?? new RealClock();
  const start = clock.now();
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const [k, v] of Object.entries(o.env)) env[k] = envValue(v);
      child = spawn('/bin/sh', ['-c', spec.command], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: the time limit reaches what it started too
      });
    } catch (err) {
      // spawn throws synchronously on arguments it refuses: a failed hook, never an exception that leaves the session open
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      resolve({
        event: spec.event,
        index,
        command: spec.command,
        status: 127,
        timedOut: false,
        error: `cannot start /bin/sh: ${why}`,
        ms: 0,
      });
      return;
    }
    let timedOut = false;
    let lines = 0;
    const max = o.maxOutputLines ?? 200;
    const forward = (stream: NodeJS.ReadableStream): void => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (s: string) => {
        rest += s;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (lines++ < max) o.onOutput?.(line.slice(0, 1000));
        }
        if (rest.length > 4096) rest = rest.slice(0, 4096); // a line without end: keep its start only
      });
      stream.on('end', () => {
        if (rest !== '' && lines++ < max) o.onOutput?.(rest.slice(0, 1000));
      });
    };
    forward(child.stdout!);
    forward(child.stderr!);
    const group = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    let killTimer: TimerHandle | undefined;
    const timer = clock.timer(o.timeoutMs, () => {
      timedOut = true;
      group('SIGTERM');
      killTimer = clock.timer(o.killGraceMs ?? 5000, () => group('SIGKILL'));
    });
    const finish = (status: number, why: string | null): void => {
      timer.cancel();
      killTimer?.cancel();
      const error = status === 0 ? null : timedOut ? `timed out after ${o.timeoutMs} ms (status ${status})` : why;
      resolve({
        event: spec.event,
        index,
        command: spec.command,
        status,
        timedOut,
        error,
        ms: Math.round(clock.now() - start),
      });
    };
    child.on('error', (err: NodeJS.ErrnoException) => finish(127, `cannot start /bin/sh: ${err.code ?? err.message}`));
    child.on('close', (code, signal) => {
      if (signal !== null) finish(128 + (osConstants.signals[signal] ?? 0), `killed by ${signal}`);
      else finish(code ?? 1, code === 0 ? null : `exit status ${code}`);
    });
  });
}
