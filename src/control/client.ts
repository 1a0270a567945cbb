/**
 * The operator's side of the control channel: `smig control migrate|status|reinstate` talk to the daemon's
 * `--listen` address over TLS-PSK with the cluster key, like every other smig channel (wire.ts). The
 * request waits for the controller's challenge and is signed with the operator's identity (auth.ts).
 */

import type { Identity } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { HostPort } from '../net/index.js';
import { connectChannel, formatHostPort } from '../net/index.js';
import type { JsonObject } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import { Link } from '../roles/link.js';
import { channelBinding, signBody } from './auth.js';
import type { ControllerStatus } from './controller.js';
import type { OperatorRequest } from './wire.js';
import { CHALLENGE_HEX, CONTROL_VERSION, textField } from './wire.js';

/** Where the controller is. */
export interface ClientOptions {
  clusterKey: Uint8Array;
  /** The operator's identity (`--identity`): requests are signed with it. Without it they go unsigned. */
  identity?: Identity;
  controller: HostPort;
  channel?: ChannelTimeouts;
}

/**
 * Sends one request and passes every STATUS reply to `each` until the controller closes the connection
 * or `each` returns true.
 */
async function request(o: ClientOptions, req: OperatorRequest, each: (m: JsonObject) => boolean | void): Promise<void> {
  const where = formatHostPort(o.controller);
  const conn = await connectChannel(o.controller, { key: o.clusterKey, retries: 1, ...o.channel }).catch(
    (err: Error) => {
      throw smigError('SMIG_ERR_CONNECTION', `controller ${where}: ${err.message}`, err);
    },
  );
  const link = new Link(conn, 'control', `controller ${where}`);
  let done = false;
  let sent = false;
  link.start((msg) => {
    if (msg.type === FrameType.INSTRUCT && !sent && msg.payload.type === 'challenge') {
      const nonce = msg.payload.nonce;
      if (typeof nonce !== 'string' || !CHALLENGE_HEX.test(nonce))
        throw smigError('SMIG_ERR_FRAME_MALFORMED', 'INSTRUCT challenge.nonce: expected 64 hex digits');
      const body: Record<string, unknown> = { ...req };
      if (o.identity !== undefined) body.sig = signBody(o.identity, 'operator', nonce, channelBinding(conn), body);
      sent = true;
      link.post({ type: FrameType.INSTRUCT, payload: body as JsonObject });
      return;
    }
    if (msg.type !== FrameType.STATUS || done) return;
    if (typeof msg.payload.type !== 'string')
      throw smigError('SMIG_ERR_FRAME_MALFORMED', 'STATUS.type: expected a string');
    if (each(msg.payload) === true) {
      done = true;
      void link.close();
    }
  });
  const end = await link.ended;
  if (end.error !== undefined && !done)
    throw smigError('SMIG_ERR_CONNECTION', `controller ${where}: ${end.error.message}`, end.error);
}

/** A refusal from the controller as an error (SMIG_ERR_AUTH when the request's signature was refused). */
function refused(m: JsonObject): Error {
  return smigError(m.auth === true ? 'SMIG_ERR_AUTH' : 'SMIG_ERR_MIGRATION', textField(m, 'error'));
}

/**
 * Asks for the controller's status (hosts, recent sessions, EVE counters).
 * @throws SmigError SMIG_ERR_CONNECTION when the controller cannot be reached or closes early
 */
export async function fetchStatus(o: ClientOptions): Promise<ControllerStatus> {
  let first: JsonObject | null = null;
  const hosts: unknown[] = [];
  let pages = 1;
  let seen = 0;
  let refusal: Error | null = null;
  await request(o, { type: 'status' }, (m) => {
    if (m.type === 'refused') {
      refusal = refused(m);
      return true;
    }
    if (m.type !== 'status') return false;
    if (first === null) first = m;
    if (Array.isArray(m.hosts)) hosts.push(...m.hosts);
    pages = typeof m.pages === 'number' ? m.pages : 1;
    return ++seen >= pages;
  });
  if (refusal !== null) throw refusal;
  if (first === null || seen < pages)
    throw smigError(
      'SMIG_ERR_CONNECTION',
      `controller ${formatHostPort(o.controller)}: closed before the status was complete`,
    );
  const f = first as JsonObject;
  return {
    listen: String(f.listen),
    journal: String(f.journal),
    counts: f.counts,
    hosts,
    sessions: f.sessions,
    eve: f.eve,
  } as unknown as ControllerStatus;
}

/** Options of {@link migrate}. */
export interface MigrateRequest {
  host: string;
  source: string | null;
  /** Only show which hosts would be chosen now (nothing is reserved or run). */
  dryRun?: boolean;
  /** Follow the migration to its end. Default true. */
  wait?: boolean;
  /** Every reply (accepted, progress, hook, finished). */
  onUpdate?: (m: JsonObject) => void;
}

/**
 * Triggers a migration. Resolves with the last reply: `plan` (dry run), `accepted` (no wait) or `finished`.
 * @throws SmigError SMIG_ERR_MIGRATION when the controller refuses; SMIG_ERR_CONNECTION when it is gone
 */
export async function migrate(o: ClientOptions, r: MigrateRequest): Promise<JsonObject> {
  const wait = r.wait ?? true;
  let last: JsonObject | null = null;
  let refusal: Error | null = null;
  await request(
    o,
    { type: 'migrate', v: CONTROL_VERSION, host: r.host, source: r.source, dryRun: r.dryRun ?? false, wait },
    (m) => {
      r.onUpdate?.(m);
      if (m.type === 'refused') {
        refusal = refused(m);
        return true;
      }
      last = m;
      return m.type === 'plan' || m.type === 'finished' || (m.type === 'accepted' && !wait);
    },
  );
  if (refusal !== null) throw refusal;
  const end = last as JsonObject | null;
  const complete =
    end !== null && (end.type === 'plan' || end.type === 'finished' || (end.type === 'accepted' && !wait));
  if (!complete)
    throw smigError(
      'SMIG_ERR_CONNECTION',
      `controller ${formatHostPort(o.controller)}: closed before the migration finished (it goes on; see smig control status)`,
    );
  return end;
}

/** Returns a honeypot host to service. */
export async function reinstate(o: ClientOptions, host: string): Promise<JsonObject> {
  let last: JsonObject | null = null;
  await request(o, { type: 'reinstate', host }, (m) => {
    last = m;
    return true;
  });
  const end = last as JsonObject | null;
  if (end === null) throw smigError('SMIG_ERR_CONNECTION', `controller ${formatHostPort(o.controller)}: no answer`);
  if (end.type === 'refused') throw refused(end);
  return end;
}
