/**
 * The controller's inventory (docs/DESIGN.md §3 "Parties"): the hosts it may use, each with the address of
 * its agent (`smig relay --controller`), the addresses the IDS knows it by, and the roles it may take.
 *
 * ```yaml
 * hosts:
 *   - name: h0                    # [A-Za-z0-9][A-Za-z0-9._-]{0,62}, unique
 *     address: 10.9.0.2:7000      # the agent's smig relay --listen address as others reach it; unique
 *     ids: [203.0.113.5]          # IPs in the IDS's alerts (src_ip / dest_ip); each maps to one host
 *     roles: [source, relay, destination]   # default: all three
 *     source: vm                  # optional: the --source an alert migrates (default the agent's first)
 *     key: h0.id.pub              # the host's public identity: a file (relative to the inventory's
 *                                 # directory) or the line itself, "smig-pub-v1 <64 hex> <64 hex>"
 * ```
 * `key` binds the host's agent to its identity (`smig keygen --identity -o h0.id` on the host, then
 * `smig relay --identity h0.id …`): the agent registers by signing the controller's challenge, so no other
 * host can register in its place (auth.ts). A key may belong to one host only.
 * JSON is read by the same parser (JSON is YAML 1.2). Validation is strict: unknown fields, duplicate keys,
 * names, addresses or IDS addresses are errors, each one line naming the file, the host and the field.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { PublicIdentity } from '../crypto/identity.js';
import { fingerprint, MAX_IDENTITY_FILE_BYTES, PUBLIC_KEY_TAG, parsePublicKey } from '../crypto/identity.js';
import type { SmigError } from '../errors.js';
import { smigError } from '../errors.js';
import type { HostPort } from '../net/address.js';
import { formatHostPort, parseHostPort } from '../net/address.js';

/** Roles a host may take in a session (the flagged host is always the source of its own session). */
export type HostRole = 'source' | 'relay' | 'destination';
/** Every role, in the order of the documentation. */
export const HOST_ROLES: readonly HostRole[] = ['source', 'relay', 'destination'];

/** One inventory host, validated. */
export interface InventoryHost {
  name: string;
  /** The agent's relay address (where sources and relays connect), as parsed. */
  address: HostPort;
  /** `HOST:PORT` of {@link address}, canonical. */
  addressText: string;
  /** IDS addresses, canonical ({@link canonicalIp}). */
  ids: string[];
  roles: ReadonlySet<HostRole>;
  /** The source name an alert migrates; null: the agent's first `--source`. */
  source: string | null;
  /** The host's public identity (its agent must sign with it); null when the inventory gives none. */
  key: PublicIdentity | null;
}

/** A validated inventory with its indexes. */
export interface Inventory {
  hosts: InventoryHost[];
  byName: ReadonlyMap<string, InventoryHost>;
  /** Canonical IDS address → host. */
  byIp: ReadonlyMap<string, InventoryHost>;
}

/** Largest inventory file read. */
export const MAX_INVENTORY_BYTES: number = 4 * 1024 * 1024;
/** Most hosts in an inventory. */
export const MAX_HOSTS = 4096;
/** Host and source names: what `smig control migrate HOST[:SOURCE]` and the hooks' variables can carry safely. */
export const NAME_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const HOST_FIELDS = ['name', 'address', 'ids', 'roles', 'source', 'key'];

/**
 * The canonical text of an IP address, so that alerts and the inventory compare equal however either
 * writes it: IPv4 as dotted quad, IPv6 lowercase and compressed (RFC 5952), an IPv4-mapped IPv6 address
 * (`::ffff:10.0.0.1`) as its IPv4 address. Returns null for anything that is not an IP address.
 * @example canonicalIp('2001:DB8:0:0:0:0:0:1') === '2001:db8::1'
 */
export function canonicalIp(text: string): string | null {
  const s = text.trim();
  const v = isIP(s);
  if (v === 4)
    return s
      .split('.')
      .map((o) => String(Number(o)))
      .join('.');
  if (v !== 6) return null;
  const host = new URL(`http://[${s}]/`).hostname.slice(1, -1); // WHATWG URL serializes IPv6 per RFC 5952
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped !== null) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return host;
}

/**
 * Parses and validates inventory text (YAML or JSON).
 * @param where names the file in messages.
 * @throws SmigError SMIG_ERR_CONFIG, one line: `inventory hosts.yaml: hosts[2] (h2): address: ...`
 * @example parseInventory('{"hosts":[{"name":"h0","address":"10.9.0.2:7000","ids":["203.0.113.5"]}]}', 'inv.json')
 */
export function parseInventory(text: string, where: string, baseDir: string = process.cwd()): Inventory {
  const fail = (what: string): SmigError => smigError('SMIG_ERR_CONFIG', `inventory ${where}: ${what}`);
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      const first = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw fail(`${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${first}`);
    }
    throw fail(`not YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!isPlainObject(doc)) throw fail('expected an object with a "hosts" list');
  for (const k of Object.keys(doc)) if (k !== 'hosts') throw fail(`unknown field '${k}' (expected hosts)`);
  const list = doc.hosts;
  if (!Array.isArray(list) || list.length === 0) throw fail('hosts: expected a non-empty list of hosts');
  if (list.length > MAX_HOSTS) throw fail(`hosts: ${list.length} hosts, at most ${MAX_HOSTS}`);

  const hosts: InventoryHost[] = [];
  const byName = new Map<string, InventoryHost>();
  const byIp = new Map<string, InventoryHost>();
  const byAddress = new Map<string, InventoryHost>();
  const byKey = new Map<string, InventoryHost>();
  list.forEach((raw: unknown, i) => {
    const label =
      isPlainObject(raw) && typeof raw.name === 'string' && NAME_PATTERN.test(raw.name)
        ? `hosts[${i}] (${raw.name})`
        : `hosts[${i}]`;
    const bad = (field: string, why: string): SmigError => fail(`${label}: ${field}: ${why}`);
    if (!isPlainObject(raw)) throw fail(`${label}: expected an object with name, address, ids, roles`);
    for (const k of Object.keys(raw))
      if (!HOST_FIELDS.includes(k)) throw bad(k, `unknown field (expected ${HOST_FIELDS.join(', ')})`);

    if (typeof raw.name !== 'string' || !NAME_PATTERN.test(raw.name)) {
      throw bad(
        'name',
        `${show(raw.name)} is not a name (letters, digits, '.', '_', '-'; at most 63, starting with a letter or digit)`,
      );
    }
    const name = raw.name;
    if (byName.has(name)) throw bad('name', `'${name}' is used twice`);

    if (typeof raw.address !== 'string') throw bad('address', `expected "HOST:PORT", got ${show(raw.address)}`);
    let address: HostPort;
    try {
      address = parseHostPort(raw.address, 'address');
    } catch (err) {
      throw bad('address', (err as Error).message.replace(/^address: /, ''));
    }
    if (address.port === 0) throw bad('address', `'${raw.address}': port 0 is not an address others can reach`);
    const addressText = formatHostPort({ host: address.host.toLowerCase(), port: address.port });
    const twin = byAddress.get(addressText);
    if (twin !== undefined) throw bad('address', `${addressText} is also the address of ${twin.name}`);

    const ids: string[] = [];
    if (raw.ids !== undefined) {
      if (!Array.isArray(raw.ids)) throw bad('ids', `expected a list of IP addresses, got ${show(raw.ids)}`);
      raw.ids.forEach((ip: unknown, j) => {
        const canon = typeof ip === 'string' ? canonicalIp(ip) : null;
        if (canon === null) throw bad(`ids[${j}]`, `${show(ip)} is not an IP address`);
        const other = byIp.get(canon);
        if (other !== undefined) throw bad(`ids[${j}]`, `${canon} is also an IDS address of ${other.name}`);
        if (ids.includes(canon)) throw bad(`ids[${j}]`, `${canon} is listed twice`);
        ids.push(canon);
      });
    }

    let roles: Set<HostRole>;
    if (raw.roles === undefined) roles = new Set(HOST_ROLES);
    else {
      if (!Array.isArray(raw.roles) || raw.roles.length === 0)
        throw bad('roles', `expected a non-empty list of ${HOST_ROLES.join(', ')}`);
      roles = new Set();
      raw.roles.forEach((r: unknown, j) => {
        if (typeof r !== 'string' || !(HOST_ROLES as readonly string[]).includes(r)) {
          throw bad(`roles[${j}]`, `${show(r)} is not a role (${HOST_ROLES.join(', ')})`);
        }
        roles.add(r as HostRole);
      });
    }

    let source: string | null = null;
    if (raw.source !== undefined) {
      if (typeof raw.source !== 'string' || !NAME_PATTERN.test(raw.source))
        throw bad('source', `${show(raw.source)} is not a source name`);
      if (!roles.has('source')) throw bad('source', "given, but the host's roles do not include source");
      source = raw.source;
    }

    let key: PublicIdentity | null = null;
    if (raw.key !== undefined) {
      if (typeof raw.key !== 'string' || raw.key.trim() === '')
        throw bad('key', `expected a public key file or "${PUBLIC_KEY_TAG} …", got ${show(raw.key)}`);
      try {
        key = raw.key.trim().startsWith(`${PUBLIC_KEY_TAG} `)
          ? parsePublicKey(raw.key, 'key')
          : readPublicKeySync(resolve(baseDir, raw.key));
      } catch (err) {
        throw bad('key', (err as Error).message.replace(/^identity key: /, ''));
      }
      const fp = fingerprint(key);
      const twin = byKey.get(fp);
      if (twin !== undefined)
        throw bad('key', `${fp} is also the key of ${twin.name} (every host needs its own identity)`);
    }

    const host: InventoryHost = { name, address, addressText, ids, roles, source, key };
    if (key !== null) byKey.set(fingerprint(key), host);
    hosts.push(host);
    byName.set(name, host);
    byAddress.set(addressText, host);
    for (const ip of ids) byIp.set(ip, host);
  });
  return { hosts, byName, byIp };
}

/**
 * Reads and validates an inventory file.
 * @throws SmigError SMIG_ERR_FILE (unreadable, too large), SMIG_ERR_CONFIG (invalid)
 */
export async function loadInventory(path: string): Promise<Inventory> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw smigError(
      'SMIG_ERR_FILE',
      `inventory ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`,
      err,
    );
  }
  if (buf.length > MAX_INVENTORY_BYTES)
    throw smigError('SMIG_ERR_FILE', `inventory ${path}: ${buf.length} bytes, at most ${MAX_INVENTORY_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw smigError('SMIG_ERR_CONFIG', `inventory ${path}: not UTF-8 text`);
  }
  return parseInventory(text, path, dirname(resolve(path)));
}

/** Reads a `.pub` file named by the inventory (small, read once at start). */
function readPublicKeySync(path: string): PublicIdentity {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw smigError('SMIG_ERR_CONFIG', `${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'cannot read')}`);
  }
  if (buf.length > MAX_IDENTITY_FILE_BYTES)
    throw smigError('SMIG_ERR_CONFIG', `${path}: ${buf.length} bytes, not a public key (one line)`);
  return parsePublicKey(buf.toString('utf8'), path);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
