/**
 * The control plane's messages: the JSON bodies of INSTRUCT and STATUS frames (src/protocol carries them as
 * bounded JSON objects and leaves their schema to us). Every body is checked here, field by field, before
 * anything acts on it: a wrong field is SMIG_ERR_FRAME_MALFORMED naming the message and the field.
 *
 * ```
 * any peer ◀── controller INSTRUCT challenge (first, on every connection: auth.ts)
 * agent ──▶ controller   STATUS   register (signed), heartbeat, ack, nack, result, released
 *       ◀──              INSTRUCT registered | refused, relay, receive, send, abort
 * smig control migrate|status|reinstate ──▶ controller   INSTRUCT migrate | status | reinstate (signed)
 *                                       ◀──              STATUS  plan | accepted | progress | finished | refused | status
 * ```
 * The agent opens the connection (so the controller needs no route to the agents, and a lost connection
 * is a lost agent); the first frame says what the peer is.
 */

import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { JsonObject } from '../protocol/index.js';
import { NAME_PATTERN } from './inventory.js';
import type { SessionOutcome } from './journal.js';

/** Version of the control messages, in `register` and `migrate`. */
export const CONTROL_VERSION = 1;
/** A session id as the control plane writes it: 32 lowercase hex digits. */
export const SESSION_HEX: RegExp = /^[0-9a-f]{32}$/;
/** Most sessions an agent reports when it registers. */
export const MAX_REPORTS = 256;

/** What an agent does in a session. */
export type AgentRole = 'source' | 'relay' | 'destination';

/** A session an agent took part in, as it reports it when it registers. */
export interface AgentReport {
  session: string;
  role: AgentRole;
  state: 'active' | 'done' | 'failed';
  outcome?: SessionOutcome;
  error?: string;
}

/** Agent → controller. */
export type AgentStatus =
  | {
      type: 'register';
      v: number;
      name: string | null;
      listen: string;
      out: boolean;
      sources: string[];
      sessions: AgentReport[];
      sig?: string;
    }
  | { type: 'heartbeat'; active: string[] }
  | { type: 'ack'; session: string; port?: number }
  | { type: 'nack'; session: string; error: string }
  | { type: 'result'; session: string; ok: boolean; outcome?: SessionOutcome; error?: string }
  | { type: 'released'; session: string };

/** Controller → agent. `ttlMs`: how long the agent holds itself ready for the session. */
export type AgentInstruct =
  | { type: 'challenge'; nonce: string }
  | { type: 'registered'; host: string; heartbeatMs: number }
  | { type: 'refused'; error: string }
  | { type: 'relay'; session: string; ttlMs: number }
  | {
      type: 'receive';
      session: string;
      ttlMs: number;
      /** The source host's public key line (inventory): the destination installs only what it signed; null: any source. */
      sourceKey: string | null;
    }
  | {
      type: 'send';
      session: string;
      source: string;
      destination: string;
      dataRelays: string[];
      keyRelays: string[];
      leader: string;
      threshold: number;
      ttlMs: number;
      /** The pacing plan of every hop (src/pacing/plan.ts JSON text); null: bulk. */
      plan: string | null;
      /** The destination's public key line (`smig-pub-v1 …`, from the inventory); null: none (an unsealed session). */
      destKey: string | null;
    }
  | { type: 'abort'; session: string; reason: string };

/** Operator → controller (`sig`: auth.ts). */
export type OperatorRequest =
  | { type: 'migrate'; v: number; host: string; source: string | null; dryRun: boolean; wait: boolean; sig?: string }
  | { type: 'status'; sig?: string }
  | { type: 'reinstate'; host: string; sig?: string };

/** A challenge as the control plane writes it: 64 lowercase hex digits. */
export const CHALLENGE_HEX: RegExp = /^[0-9a-f]{64}$/;
/** A signature as the control plane writes it: 128 lowercase hex digits. */
export const SIGNATURE_HEX: RegExp = /^[0-9a-f]{128}$/;

const MAX_TEXT = 1024;
const MAX_ADDRESS = 300;

/** A public key line as instructions carry it (no comment). */
const PUBLIC_KEY_LINE = /^smig-pub-v1 [0-9a-f]{64} [0-9a-f]{64}$/;

/** Reads typed fields of one message, naming `message.field` in errors. */
class Fields {
  readonly #o: JsonObject;
  readonly #where: string;

  constructor(o: JsonObject, where: string) {
    this.#o = o;
    this.#where = where;
  }

  bad(field: string, why: string): SmigError {
    return smigError('SMIG_ERR_FRAME_MALFORMED', `${this.#where}.${field}: ${why}`);
  }

  has(field: string): boolean {
    return this.#o[field] !== undefined && this.#o[field] !== null;
  }

  str(field: string, max: number = MAX_TEXT, pattern?: RegExp): string {
    const v = this.#o[field];
    if (typeof v !== 'string') throw this.bad(field, 'expected a string');
    if (v.length > max) throw this.bad(field, `longer than ${max} characters`);
    if (pattern !== undefined && !pattern.test(v)) throw this.bad(field, `'${v.slice(0, 80)}' is not valid`);
    return v;
  }

  int(field: string, min: number, max: number): number {
    const v = this.#o[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      throw this.bad(field, `expected a whole number from ${min} to ${max}`);
    return v;
  }

  num(field: string): number {
    const v = this.#o[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw this.bad(field, 'expected a number ≥ 0');
    return v;
  }

  bool(field: string): boolean {
    const v = this.#o[field];
    if (typeof v !== 'boolean') throw this.bad(field, 'expected true or false');
    return v;
  }

  list(field: string, max: number): unknown[] {
    const v = this.#o[field];
    if (!Array.isArray(v)) throw this.bad(field, 'expected a list');
    if (v.length > max) throw this.bad(field, `more than ${max} entries`);
    return v;
  }

  strList(field: string, max: number, pattern: RegExp, maxLen: number = MAX_ADDRESS): string[] {
    return this.list(field, max).map((x, i) => {
      if (typeof x !== 'string' || x.length > maxLen || !pattern.test(x))
        throw this.bad(`${field}[${i}]`, `${JSON.stringify(x)?.slice(0, 80)} is not valid`);
      return x;
    });
  }

  object(field: string): JsonObject {
    const v = this.#o[field];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.bad(field, 'expected an object');
    return v as JsonObject;
  }
}

const ADDRESS = /^[^\s]{3,300}$/; // checked again by parseHostPort where it is used
const ANY = /[\s\S]*/;

function outcomeOf(f: Fields, field: string, where: string): SessionOutcome {
  const o = new Fields(f.object(field), `${where}.${field}`);
  return {
    bytes: o.int('bytes', 0, Number.MAX_SAFE_INTEGER),
    sha256: o.str('sha256', 64, /^[0-9a-f]{64}$/),
    seconds: o.num('seconds'),
    lostRelays: o.strList('lostRelays', 255, ADDRESS),
    resentChunks: o.int('resentChunks', 0, Number.MAX_SAFE_INTEGER),
    exitStatus: o.has('exitStatus') ? o.int('exitStatus', -0x8000_0000, 0x7fff_ffff) : null,
  };
}

function typeOf(p: JsonObject, kind: string): string {
  if (typeof p.type !== 'string') throw smigError('SMIG_ERR_FRAME_MALFORMED', `${kind}.type: expected a string`);
  return p.type;
}

/**
 * Validates an agent's STATUS body.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED naming the field, e.g. `STATUS register.listen: expected a string`
 */
export function parseAgentStatus(p: JsonObject): AgentStatus {
  const type = typeOf(p, 'STATUS');
  const where = `STATUS ${type}`;
  const f = new Fields(p, where);
  switch (type) {
    case 'register':
      return {
        type,
        v: f.int('v', 1, 1000),
        name: f.has('name') ? f.str('name', 63, NAME_PATTERN) : null,
        listen: f.str('listen', MAX_ADDRESS, ADDRESS),
        out: f.bool('out'),
        sources: f.strList('sources', 64, NAME_PATTERN, 63),
        sessions: f.list('sessions', MAX_REPORTS).map((x, i) => {
          if (typeof x !== 'object' || x === null || Array.isArray(x))
            throw f.bad(`sessions[${i}]`, 'expected an object');
          const w = `${where}.sessions[${i}]`;
          const r = new Fields(x as JsonObject, w);
          const state = r.str('state', 10, /^(active|done|failed)$/) as AgentReport['state'];
          const report: AgentReport = {
            session: r.str('session', 32, SESSION_HEX),
            role: r.str('role', 12, /^(source|relay|destination)$/) as AgentRole,
            state,
          };
          if (r.has('outcome')) report.outcome = outcomeOf(r, 'outcome', w);
          if (r.has('error')) report.error = r.str('error');
          return report;
        }),
        ...(f.has('sig') ? { sig: f.str('sig', 128, SIGNATURE_HEX) } : {}),
      };
    case 'heartbeat':
      return { type, active: f.strList('active', MAX_REPORTS, SESSION_HEX, 32) };
    case 'ack': {
      const m: AgentStatus = { type, session: f.str('session', 32, SESSION_HEX) };
      if (f.has('port')) m.port = f.int('port', 1, 65535);
      return m;
    }
    case 'nack':
      return { type, session: f.str('session', 32, SESSION_HEX), error: f.str('error') };
    case 'result': {
      const ok = f.bool('ok');
      const m: AgentStatus = { type, session: f.str('session', 32, SESSION_HEX), ok };
      if (ok) m.outcome = outcomeOf(f, 'outcome', where);
      else m.error = f.str('error');
      return m;
    }
    case 'released':
      return { type, session: f.str('session', 32, SESSION_HEX) };
    default:
      throw smigError('SMIG_ERR_FRAME_MALFORMED', `STATUS: unknown type '${type.slice(0, 40)}' from an agent`);
  }
}

/**
 * Validates the controller's INSTRUCT body as an agent reads it.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED naming the field
 */
export function parseAgentInstruct(p: JsonObject): AgentInstruct {
  const type = typeOf(p, 'INSTRUCT');
  const f = new Fields(p, `INSTRUCT ${type}`);
  const session = (): string => f.str('session', 32, SESSION_HEX);
  const ttl = (): number => f.int('ttlMs', 1, 366 * 24 * 3600_000);
  switch (type) {
    case 'challenge':
      return { type, nonce: f.str('nonce', 64, CHALLENGE_HEX) };
    case 'registered':
      return { type, host: f.str('host', 63, NAME_PATTERN), heartbeatMs: f.int('heartbeatMs', 10, 3600_000) };
    case 'refused':
      return { type, error: f.str('error') };
    case 'relay':
      return { type, session: session(), ttlMs: ttl() };
    case 'receive':
      return {
        type,
        session: session(),
        ttlMs: ttl(),
        sourceKey: f.has('sourceKey') ? f.str('sourceKey', 160, PUBLIC_KEY_LINE) : null,
      };
    case 'send': {
      const dataRelays = f.strList('dataRelays', 255, ADDRESS);
      const keyRelays = f.strList('keyRelays', 255, ADDRESS);
      if (dataRelays.length === 0 || keyRelays.length === 0)
        throw f.bad('dataRelays', 'data and key relays must not be empty');
      return {
        type,
        session: session(),
        source: f.str('source', 63, NAME_PATTERN),
        destination: f.str('destination', MAX_ADDRESS, ADDRESS),
        dataRelays,
        keyRelays,
        leader: f.str('leader', MAX_ADDRESS, ADDRESS),
        threshold: f.int('threshold', 1, keyRelays.length),
        ttlMs: ttl(),
        plan: f.has('plan') ? f.str('plan', 48 * 1024, ANY) : null,
        destKey: f.has('destKey') ? f.str('destKey', 160, PUBLIC_KEY_LINE) : null,
      };
    }
    case 'abort':
      return { type, session: session(), reason: f.str('reason') };
    default:
      throw smigError('SMIG_ERR_FRAME_MALFORMED', `INSTRUCT: unknown type '${type.slice(0, 40)}' for an agent`);
  }
}

/**
 * Validates an operator's INSTRUCT body.
 * @throws SmigError SMIG_ERR_FRAME_MALFORMED naming the field
 */
export function parseOperatorRequest(p: JsonObject): OperatorRequest {
  const type = typeOf(p, 'INSTRUCT');
  const f = new Fields(p, `INSTRUCT ${type}`);
  const sig = (): { sig?: string } => (f.has('sig') ? { sig: f.str('sig', 128, SIGNATURE_HEX) } : {});
  switch (type) {
    case 'migrate':
      return {
        type,
        v: f.int('v', 1, 1000),
        host: f.str('host', 63, NAME_PATTERN),
        source: f.has('source') ? f.str('source', 63, NAME_PATTERN) : null,
        dryRun: f.bool('dryRun'),
        wait: f.bool('wait'),
        ...sig(),
      };
    case 'status':
      return { type, ...sig() };
    case 'reinstate':
      return { type, host: f.str('host', 63, NAME_PATTERN), ...sig() };
    default:
      throw smigError('SMIG_ERR_FRAME_MALFORMED', `INSTRUCT: unknown type '${type.slice(0, 40)}'`);
  }
}

/** Any text field of a reply, checked loosely (the operator's client only prints them). */
export function textField(p: JsonObject, field: string): string {
  return new Fields(p, `STATUS ${String(p.type)}`).str(field, 64 * 1024, ANY);
}
