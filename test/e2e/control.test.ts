/**
 * with real processes on 127.0.0.1: twelve `smig relay --controller` agents (h0…h11,
 * each able to relay, receive and be migrated) and one `smig control` daemon following a Suricata EVE file.
 *
 * In order (each test leaves the cluster as the next one expects it):
 * 1. an EVE alert for h0 → h0's file reaches a random destination through 8 relays, byte-identical; the
 *    hooks ran in order with the session's variables (a failing one did not stop the others); every host
 *    reports available again; h0 is a honeypot;
 * 2. destination and leader spread uniformly (χ² at α = 0.01) over 50 selections against the live cluster
 *    (`migrate --dry-run`: the real daemon and agents, no transfer; a rejection is re-tested once on 50 fresh
 *    ones), never the flagged host as destination;
 * 3. malformed and cut-short EVE lines, an alert for unknown addresses, one below the severity threshold:
 *    skipped with warnings, the next good alert migrates h1 (once: later alerts are suppressed);
 * 4. `reinstate` returns the honeypots to service;
 * 5. the leader killed mid-session: the session fails, the `failed` hook runs, the retry with fresh hosts
 *    delivers, and the failed destination keeps no partial file;
 * 6. the controller SIGKILLed mid-session and restarted on its journal: the session is adopted, completes
 *    once, its hooks run once;
 * 7. too few hosts: refused with a clear message (exit 1), recorded, the `failed` hook ran.
 * A slow source (`--source slow='|cat A; wait for a gate file; cat B'`) lets the tests act mid-session.
 * Needs `npm run build` (npm test does it).
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chiSquareSf } from '../../src/analysis/chi2.js';
import type { ClientOptions } from '../../src/control/client.js';
import { fetchStatus, migrate } from '../../src/control/client.js';
import type { ControllerStatus } from '../../src/control/controller.js';
import { fingerprint, generateIdentity, parsePublicKey, writeIdentityFiles } from '../../src/crypto/identity.js';
import { loadKeyFile } from '../../src/crypto/keyfile.js';
import type { JsonObject } from '../../src/protocol/index.js';
import { runBin } from '../helpers/cli.js';
import { alertLine } from '../helpers/eve.js';
import { makeRandomFile, Proc, sha256File, spawnRelay, stopAll } from './migration-helpers.js';

const N = 12;
const dir = mkdtempSync(join(tmpdir(), 'smig-control-'));
const keyFile = join(dir, 'cluster.key');
const eve = join(dir, 'eve.json');
const journal = join(dir, 'control.journal');
const hookLog = join(dir, 'hooks.log');
const inventoryFile = join(dir, 'hosts.yaml');
const partA = join(dir, 'slow-a.bin');
const partB = join(dir, 'slow-b.bin');
const names = Array.from({ length: N }, (_, i) => `h${i}`);
const ip = (name: string): string => `10.77.0.${Number(name.slice(1)) + 1}`;
/** Host identities (`smig keygen --identity` format) next to the inventory, and the operator's. */
const idFile = (name: string): string => join(dir, `${name}.id`);
const operatorId = join(dir, 'operator.id');
const outOf = (name: string): string => join(dir, 'out', name);
const gateOf = (name: string): string => join(dir, `gate-${name}`);
const agents = new Map<string, Proc>();
let ctl: Proc;
let ctlArgs: string[];
let client: ClientOptions;
let sums: { h0: string; h1: string; slow: string };

/** Every controller log event so far (JSON lines). */
function events(p: Proc = ctl): Record<string, unknown>[] {
  return p.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
function waitEvent(re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
  return ctl.waitFor(re, ms);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function status(): Promise<ControllerStatus> {
  return fetchStatus(client);
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function hookLines(): string[][] {
  return existsSync(hookLog)
    ? readFileSync(hookLog, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('|'))
    : [];
}

function startController(): Promise<RegExpMatchArray> {
  ctl = new Proc('control', ctlArgs);
  return ctl.waitFor(/"event":"listening"/);
}

/** The fingerprint of a public key file, as the daemons log it. */
function fingerprintOf(pubFile: string): string {
  return fingerprint(parsePublicKey(readFileSync(pubFile, 'utf8'), pubFile));
}

beforeAll(async () => {
  mkdirSync(join(dir, 'out'));
  for (const n of names) mkdirSync(outOf(n));
  expect((await runBin(['keygen', '-o', keyFile])).status).toBe(0);
  const operator = generateIdentity('operator');
  await writeIdentityFiles(operatorId, operator);
  for (const n of names) await writeIdentityFiles(idFile(n), generateIdentity(n));
  client = {
    clusterKey: await loadKeyFile(keyFile),
    identity: operator,
    controller: { host: '127.0.0.1', port: await freePort() },
  };
  sums = {
    h0: await makeRandomFile(join(dir, 'h0.img'), 4 * 1024 * 1024 + 123),
    h1: await makeRandomFile(join(dir, 'h1.img'), 1024 * 1024),
    slow: '',
  };
  await makeRandomFile(partA, 1024 * 1024);
  await makeRandomFile(partB, 512 * 1024);
  writeFileSync(join(dir, 'slow.bin'), Buffer.concat([readFileSync(partA), readFileSync(partB)]));
  sums.slow = await sha256File(join(dir, 'slow.bin'));
  // agents first: they keep trying the controller until it is up
  const ctlAddr = `127.0.0.1:${client.controller.port}`;
  const procs = await Promise.all(
    names.map((n) =>
      spawnRelay(keyFile, [
        '--controller',
        ctlAddr,
        '--name',
        n,
        '--identity',
        idFile(n),
        '--out',
        outOf(n),
        '--log-format',
        'json',
        '--source',
        `vm=${join(dir, `${n}.img`)}`,
        '--source',
        `slow=|cat ${partA}; while [ ! -e ${gateOf(n)} ]; do sleep 0.05; done; cat ${partB}`,
      ]),
    ),
  );
  names.forEach((n, i) => agents.set(n, procs[i]!));
  writeFileSync(
    inventoryFile,
    `hosts:\n${names.map((n) => `  - name: ${n}\n    address: "${agents.get(n)!.addr}"\n    ids: [${ip(n)}]\n    source: vm\n    key: ${n}.id.pub\n`).join('')}`,
  );
  writeFileSync(eve, '');
  const line = (event: string): string =>
    `${event}=printf '%s\\n' "$SMIG_EVENT|$SMIG_SESSION|$SMIG_ATTEMPT|$SMIG_REASON|$SMIG_SOURCE_HOST|$SMIG_DEST_HOST|` +
    `$SMIG_SOURCE_NAME|$SMIG_BYTES|$SMIG_SHA256|$SMIG_ALERT_SID|$SMIG_LEADER_HOST|$SMIG_DATA_RELAYS|$SMIG_KEY_RELAYS|$SMIG_ERROR|$SMIG_RETRY" >> ${hookLog}`;
  ctlArgs = [
    'control',
    '--key',
    keyFile,
    '--inventory',
    inventoryFile,
    '--operator-key',
    `${operatorId}.pub`,
    '--eve',
    eve,
    '--listen',
    ctlAddr,
    '--journal',
    journal,
    '--log-format',
    'json',
    '--heartbeat',
    '300ms',
    '--host-wait',
    '3s',
    '--prepare-timeout',
    '5s',
    '--recover-wait',
    '8s',
    '--deadline',
    '60s',
    '--cooldown',
    '1m',
    '--eve-poll',
    '100ms',
    '--hook',
    line('make-honeypot'),
    '--hook',
    'disconnect=echo "cannot reach the switch" >&2; exit 7',
    '--hook',
    line('disconnect'),
    '--hook',
    line('connect'),
    '--hook',
    line('notify-ids'),
    '--hook',
    line('failed'),
  ];
  await startController();
  await until('every agent registered', async () =>
    (await status()).hosts.every((h) => h.state === 'available') ? true : undefined,
  );
}, 90_000);

afterAll(async () => {
  await stopAll();
  for (const p of [ctl, ...agents.values()].filter(Boolean)) expect(p.stderr).not.toMatch(/internal-error/);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('smig control', () => {
  it('an EVE alert migrates the flagged host through 8 random relays; the hooks run in order; every host is available again', async () => {
    appendFileSync(eve, `${alertLine('198.51.100.23', ip('h0'))}\n`);
    await waitEvent(/"event":"hook-done","session":"[0-9a-f]+","hook":"notify-ids"/);
    const planned = events().find((e) => e.event === 'session-planned')!;
    const dest = String(planned.destination);
    const dataRelays = String(planned.dataRelays).split(',');
    const keyRelays = String(planned.keyRelays).split(',');
    expect(new Set([dest, ...dataRelays, ...keyRelays]).size).toBe(9);
    expect([dest, ...dataRelays, ...keyRelays]).not.toContain('h0');
    expect(dataRelays).toContain(String(planned.leader));
    // the file, byte-identical, at the chosen destination only
    expect(await sha256File(join(outOf(dest), 'h0.img'))).toBe(sums.h0);
    // sealed to the destination's inventory key and signed by the source's: the leader forwarded ciphertext,
    // the destination checked who sent it, and the receipt was signed
    const fp = fingerprintOf(join(dir, 'h0.id.pub')); // h0 is the flagged source
    expect(agents.get(dest)!.stderr).toMatch(
      new RegExp(`"event":"installed"[^\\n]*"sealed":true,"source":"${fp.replace(/[+/]/g, '\\$&')}"`),
    );
    for (const n of names) if (n !== dest) expect(readdirSync(outOf(n))).toEqual([]);
    // hooks: in the paper's order; the failing disconnect hook was reported, the next one still ran
    const session = events().find((e) => e.event === 'session-done')!.session as string;
    const lines = hookLines();
    expect(lines.map((l) => l[0])).toEqual(['make-honeypot', 'disconnect', 'connect', 'notify-ids']);
    for (const l of lines) {
      expect(l.slice(1, 13)).toEqual([
        l[1],
        '1',
        'eve',
        'h0',
        dest,
        'vm',
        String(4 * 1024 * 1024 + 123),
        sums.h0,
        '2001219',
        String(planned.leader),
        dataRelays.join(','),
        keyRelays.join(','),
      ]);
      expect(l[1]!.startsWith(session)).toBe(true);
    }
    const failedHook = events().find((e) => e.event === 'hook-failed')!;
    expect(failedHook).toMatchObject({ hook: 'disconnect', index: 0, status: 7, reason: 'exit status 7' });
    expect(events().some((e) => e.event === 'hook-output' && e.line === 'cannot reach the switch')).toBe(true);
    // every chosen host reports available again; the flagged host is a honeypot
    const s = await until('every host released', async () => {
      const st = await status();
      return st.hosts.filter((h) => h.name !== 'h0').every((h) => h.state === 'available') ? st : undefined;
    });
    expect(s.hosts.find((h) => h.name === 'h0')!.state).toBe('honeypot');
    const released = events()
      .filter((e) => e.event === 'host-released')
      .map((e) => e.host);
    for (const n of [dest, ...dataRelays, ...keyRelays]) expect(released).toContain(n);
    expect(s.sessions[0]).toMatchObject({
      state: 'done',
      closed: true,
      source: 'h0',
      sourceName: 'vm',
      destination: dest,
      reason: { kind: 'eve', alert: { signatureId: 2001219, severity: 2, srcIp: '198.51.100.23', destIp: ip('h0') } },
    });
    expect(s.sessions[0]!.outcome).toMatchObject({ bytes: 4 * 1024 * 1024 + 123, sha256: sums.h0 });
  }, 60_000);

  it('spreads destination and leader over every eligible host (χ², α = 0.01) and never picks the flagged host as destination', async () => {
    const eligible = names.filter((n) => n !== 'h0' && n !== 'h1'); // h0 is a honeypot, h1 is flagged
    /** 50 dry-run selections; the χ² p-values of destination and leader counts against uniform. */
    const round = async (): Promise<{ dest: number; leader: number }> => {
      const dest = new Map<string, number>();
      const leader = new Map<string, number>();
      for (let i = 0; i < 50; i++) {
        const plan = await migrate(client, { host: 'h1', source: null, dryRun: true });
        expect(plan.type).toBe('plan');
        const p = plan as unknown as { destination: string; leader: string; dataRelays: string[]; keyRelays: string[] };
        expect(p.destination).not.toBe('h1');
        expect([p.destination, ...p.dataRelays, ...p.keyRelays]).not.toContain('h0');
        dest.set(p.destination, (dest.get(p.destination) ?? 0) + 1);
        leader.set(p.leader, (leader.get(p.leader) ?? 0) + 1);
      }
      const pv = (counts: Map<string, number>): number => {
        const e = 50 / eligible.length;
        return chiSquareSf(
          eligible.reduce((s, n) => s + ((counts.get(n) ?? 0) - e) ** 2 / e, 0),
          eligible.length - 1,
        );
      };
      return { dest: pv(dest), leader: pv(leader) };
    };
    // A uniform selector fails one of the two tests at α = 0.01 about 2 % of the time (seen once in CI, p = 0.003):
    // a rejection is re-tested once on 50 fresh selections. A biased selector fails both rounds.
    const rounds = [await round()];
    if (rounds[0]!.dest <= 0.01 || rounds[0]!.leader <= 0.01) rounds.push(await round());
    const last = rounds.at(-1)!;
    expect(last.dest, JSON.stringify(rounds)).toBeGreaterThan(0.01);
    expect(last.leader, JSON.stringify(rounds)).toBeGreaterThan(0.01);
    // the same through the command line
    const r = await runBin([
      'control',
      'migrate',
      'h1',
      '--dry-run',
      '--json',
      '--key',
      keyFile,
      '--identity',
      operatorId,
      '--controller',
      `127.0.0.1:${client.controller.port}`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ type: 'plan', host: 'h1', source: 'vm', threshold: 2, sample: true });
    const text = await runBin([
      'control',
      'migrate',
      'h1',
      '--dry-run',
      '--key',
      keyFile,
      '--identity',
      operatorId,
      '--controller',
      `127.0.0.1:${client.controller.port}`,
    ]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /^A sample draw of the hosts \(nothing reserved; a real run draws again with fresh randomness\):\nROLE/,
    );
    expect((await status()).sessions).toHaveLength(1); // nothing was reserved or run
  }, 60_000);

  it('skips malformed, cut-short, unknown-address and low-severity alerts with warnings; the next good alert migrates h1 once', async () => {
    const good = alertLine(ip('h1'), '203.0.113.80', 1, 2024217);
    appendFileSync(
      eve,
      [
        good.slice(0, 120), // cut short by a crash of the writer
        'this is not json',
        alertLine('192.0.2.99', '10.9.9.9'), // nobody we know
        alertLine(ip('h1'), '203.0.113.80', 3), // below --severity 2
        good,
        good, // the same attack again: h1 is migrating, then a honeypot
      ].join('\n') + '\n',
    );
    await until(
      'h1 migrated',
      async () =>
        events().filter((e) => e.event === 'hook-done' && e.hook === 'notify-ids').length === 2 ? true : undefined,
      30_000,
    );
    const s = await status();
    // with test 1's alert: 5 alerts; unknown addresses counted per alert (198.51.100.23; 192.0.2.99 and 10.9.9.9; 203.0.113.80 three times)
    expect(s.eve).toMatchObject({ lines: 7, alerts: 5, malformed: 2, unknown: 6, suppressed: 2, triggered: 2 });
    const warnings = events()
      .filter((e) => e.event === 'eve-warning')
      .map((e) => e.reason);
    expect(warnings).toEqual([expect.stringMatching(/line 2: not JSON/), expect.stringMatching(/line 3: not JSON/)]);
    expect(
      events()
        .filter((e) => e.event === 'eve-unknown-address')
        .map((e) => e.ip),
    ).toEqual(['198.51.100.23', '192.0.2.99', '10.9.9.9', '203.0.113.80']);
    expect(
      events()
        .filter((e) => e.event === 'eve-suppressed')
        .map((e) => [e.host, e.reason]),
    ).toEqual([
      ['h1', 'severity'],
      ['h1', 'excluded'],
    ]);
    const h1 = s.sessions.filter((x) => x.source === 'h1');
    expect(h1).toHaveLength(1);
    expect(h1[0]).toMatchObject({
      state: 'done',
      reason: { kind: 'eve', alert: { signatureId: 2024217, severity: 1 } },
    });
    expect(await sha256File(join(outOf(h1[0]!.destination!), 'h1.img'))).toBe(sums.h1);
  }, 60_000);

  it('reinstate returns honeypots to service', async () => {
    for (const h of ['h0', 'h1']) {
      const r = await runBin([
        'control',
        'reinstate',
        h,
        '--key',
        keyFile,
        '--identity',
        operatorId,
        '--controller',
        `127.0.0.1:${client.controller.port}`,
      ]);
      expect([r.status, r.stdout]).toEqual([0, `${h}: back in service (was honeypot)\n`]);
    }
    await until('all available', async () =>
      (await status()).hosts.every((h) => h.state === 'available') ? true : undefined,
    );
    const r = await runBin([
      'control',
      'status',
      '--key',
      keyFile,
      '--identity',
      operatorId,
      '--controller',
      `127.0.0.1:${client.controller.port}`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(
      `controller 127.0.0.1:${client.controller.port}  journal ${journal}  sessions: 5 data relays, 3 key relays, 2 shares needed`,
    );
    expect(lines[2]).toMatch(/^HOST +ADDRESS +STATE +ROLES +OUT +SOURCES +BUSY WITH +SEEN$/);
    expect(lines[3]).toMatch(
      new RegExp(
        `^h0 +${agents.get('h0')!.addr.replace(/\./g, '\\.')} +available +source,relay,destination +yes +vm,slow +- +[\\d.]+s ago$`,
      ),
    );
    expect(r.stdout).toMatch(/^SESSION +CREATED +REASON +SOURCE +DESTINATION +LEADER +TRY +STATE +DETAIL$/m);
    expect(r.stdout).toMatch(/^[0-9a-f]{16} +\S+ +eve +h1:vm +h\d+ +h\d+ +1 +done +1048576 bytes, [\d.]+ s$/m);
    expect(r.stdout).toMatch(
      /^eve .*eve\.json: 7 lines, 5 alerts, 2 triggered, 2 suppressed, 6 for unknown addresses, 2 malformed, 0 cut short, 0 too long, 0 rotations, 0 truncations$/m,
    );
  }, 30_000);

  it('the leader killed mid-session: the session fails, the failed hook runs, a retry with fresh hosts delivers', async () => {
    const updates: JsonObject[] = [];
    let sending!: () => void;
    const isSending = new Promise<void>((r) => (sending = r));
    const done = migrate(client, {
      host: 'h2',
      source: 'slow',
      onUpdate: (m) => {
        updates.push(m);
        if (m.type === 'progress' && m.state === 'sending') sending();
      },
    });
    await isSending;
    const first = updates.find((m) => m.type === 'progress' && m.state === 'planned')!;
    const plan = first.plan as { destination: string; leader: string };
    await agents
      .get('h2')!
      .waitFor(new RegExp(`"event":"source-start"[^\\n]*"session":"${String(first.session).slice(0, 16)}"`));
    await new Promise((r) => setTimeout(r, 500)); // the first part is on its way; the source waits at the gate
    agents.get(plan.leader)!.kill('SIGKILL');
    writeFileSync(gateOf('h2'), ''); // from now on the source command runs through (the retry's too)
    const result = await done;
    expect(result).toMatchObject({ type: 'finished', ok: true });
    const attempts = updates.filter((m) => m.type === 'progress' && m.state === 'planned');
    expect(attempts).toHaveLength(2);
    const retry = attempts[1]!.plan as {
      destination: string;
      leader: string;
      dataRelays: string[];
      keyRelays: string[];
    };
    expect([retry.destination, ...retry.dataRelays, ...retry.keyRelays]).not.toContain(plan.leader);
    expect(updates.find((m) => m.type === 'progress' && m.state === 'failed')).toMatchObject({
      attempt: 1,
      error: expect.stringMatching(/leader|connection/),
    });
    expect(await sha256File(join(outOf(retry.destination), 'slow'))).toBe(sums.slow);
    if (plan.destination !== retry.destination)
      expect(readdirSync(outOf(plan.destination)).filter((f) => f !== 'h0.img' && f !== 'h1.img')).toEqual([]);
    const failed = hookLines().filter((l) => l[0] === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.slice(2, 7)).toEqual(['1', 'manual', 'h2', plan.destination, 'slow']);
    expect(failed[0]![14]).toBe('1'); // a retry follows
    expect(
      hookLines()
        .filter((l) => l[4] === 'h2' && l[0] !== 'failed')
        .map((l) => [l[0], l[2]]),
    ).toEqual([
      ['make-honeypot', '2'],
      ['disconnect', '2'],
      ['connect', '2'],
      ['notify-ids', '2'],
    ]);
  }, 90_000);

  it('the controller killed mid-session and restarted: the session is adopted and completes once, its hooks run once', async () => {
    // Each step is bounded and named, so a failure says where it stuck, with the logs that explain it.
    let step = 'start';
    const t0 = Date.now();
    const bounded = <T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> => {
      step = what;
      return Promise.race([
        p,
        new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`step '${what}' took over ${ms} ms`)), ms).unref()),
      ]);
    };
    try {
      await restartScenario(bounded);
    } catch (err) {
      const tail = (p: Proc | undefined): string => (p?.stderr ?? '').trim().split('\n').slice(-25).join('\n');
      throw new Error(
        `${(err as Error).message.split('\n')[0]} (step '${step}' at ${Date.now() - t0} ms)\n--- controller log:\n${tail(ctl)}\n--- agents not running: ${names.filter((n) => !agents.get(n)!.alive).join(', ') || 'none'}`,
      );
    }
  }, 150_000);

  async function restartScenario(bounded: <T>(what: string, p: Promise<T>, ms?: number) => Promise<T>): Promise<void> {
    // The source: an agent still running. Test 5 SIGKILLed a leader drawn at random, which may have been h3 (a
    // fixed name here failed about one run in nine: the session never started, since its source was gone).
    const src = names.slice(3).find((n) => agents.get(n)!.alive)!;
    const before = new Set(names.flatMap((n) => readdirSync(outOf(n)).map((f) => join(outOf(n), f))));
    let sending!: (id: string) => void;
    const isSending = new Promise<string>((r) => (sending = r));
    const lost = migrate(client, {
      host: src,
      source: 'slow',
      onUpdate: (m) => {
        if (m.type === 'progress' && m.state === 'sending') sending(String(m.session));
      },
    }).catch((err: Error) => err);
    const session = await bounded('the session sending', isSending);
    await bounded(
      'the source running',
      agents.get(src)!.waitFor(new RegExp(`"event":"source-start"[^\\n]*"session":"${session.slice(0, 16)}"`)),
    ); // the source runs it
    ctl.kill('SIGKILL');
    expect(await bounded('the client losing the controller', lost)).toMatchObject({ code: 'SMIG_ERR_CONNECTION' });
    await bounded('the controller exiting', ctl.exited);
    await bounded('the controller restarting', startController());
    await bounded(
      'the session adopted',
      waitEvent(new RegExp(`"event":"session-adopted","session":"${session.slice(0, 16)}"`)),
    );
    writeFileSync(gateOf(src), '');
    await bounded(
      'the adopted session done',
      waitEvent(new RegExp(`"event":"hook-done","session":"${session.slice(0, 16)}","hook":"notify-ids"`)),
      40_000,
    );
    const s = await status();
    const mine = s.sessions.filter((x) => x.source === src);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ id: session, state: 'done', closed: true, attempt: 1 });
    // exactly one new file anywhere: at the destination, byte-identical (NAME.1 if test 5 left `slow` there)
    const added = names
      .flatMap((n) => readdirSync(outOf(n)).map((f) => join(outOf(n), f)))
      .filter((f) => !before.has(f));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(new RegExp(`^${outOf(mine[0]!.destination!)}/slow(\\.1)?$`));
    expect(await sha256File(added[0]!)).toBe(sums.slow);
    expect(
      hookLines()
        .filter((l) => l[1] === session)
        .map((l) => l[0]),
    ).toEqual(['make-honeypot', 'disconnect', 'connect', 'notify-ids']);
    const recs = readFileSync(journal, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { rec: string; id?: string; trigger?: string });
    expect(recs.filter((r) => r.rec === 'session' && r.trigger === mine[0]!.trigger)).toHaveLength(1);
  }

  it('too few available hosts: the migration is refused with a clear message, recorded, and the failed hook runs', async () => {
    // in service now: 12 − h2 and test 6's source (honeypots) − the killed leader (a random host) = 9; a session needs 9 others.
    // The controller was restarted by the test before: wait until the surviving agents have re-registered, then
    // flag one of them (not a fixed name: the killed leader was drawn at random).
    const hosts = await until(
      'agents back after the restart',
      async () => {
        const up = (await status()).hosts.filter((h) => h.state === 'available');
        return up.length === 9 ? up : undefined;
      },
      30_000,
    );
    const src = hosts[0]!.name;
    const r = await runBin(
      [
        'control',
        'migrate',
        src,
        '--key',
        keyFile,
        '--identity',
        operatorId,
        '--controller',
        `127.0.0.1:${client.controller.port}`,
      ],
      { timeoutMs: 30_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^smig control migrate: migration of ${src} failed: cannot migrate ${src}: 8 other hosts available \\(h\\d+(, h\\d+){7}\\), a session needs 9 \\(1 destination, 5 data relays, 3 key relays\\); 8 of them can relay\n$`,
        'm',
      ),
    );
    const s = await status();
    expect(s.sessions[0]).toMatchObject({
      source: src,
      state: 'refused',
      closed: true,
      error: expect.stringMatching(new RegExp(`^cannot migrate ${src}: 8 other hosts`)),
    });
    const failed = hookLines().filter((l) => l[0] === 'failed' && l[4] === src);
    expect(failed).toHaveLength(1);
    expect(failed[0]![13]).toMatch(new RegExp(`^cannot migrate ${src}`));
  }, 60_000);
});
