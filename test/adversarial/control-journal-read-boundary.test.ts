/**
 * Attack: journal records lost at read boundaries. The journal is read back 64 KiB at a time into one
 * reused buffer; before, a record cut by a read was dropped as malformed, and the compaction at the same
 * start then erased it from the file for good — a lost honeypot mark puts a compromised host back in the
 * pool (a journal passes 64 KiB after ~30 sessions; an attacker controls the length of what goes in it:
 * alert signatures, agents' error texts).
 * Here a journal of > 1 MiB, records of irregular lengths (hundreds cross a boundary), survives a real
 * controller's start, its compaction, a stop and a second start: every record of the sessions kept and
 * every honeypot mark comes back, and the status shows the honeypots.
 * Real processes on 127.0.0.1: `smig control` on the crafted journal.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEEP_CLOSED } from '../../src/control/journal.js';
import type { Proc } from './control-cluster.js';
import { ClusterFiles, events, stopAll } from './control-cluster.js';

const c = new ClusterFiles();
const hosts = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];
const SESSIONS = KEEP_CLOSED + 20; // the 20 oldest are compacted away, as they should be
let ctl: Proc | undefined;
/** The records that must survive (the last KEEP_CLOSED sessions', in file order). */
let kept: string[] = [];

function buildJournal(): string {
  const lines: string[] = [];
  const t = Date.parse('2024-05-01T10:00:00Z');
  lines.push(JSON.stringify({ rec: 'honeypot', t, host: 'h1', on: true }));
  lines.push(JSON.stringify({ rec: 'honeypot', t, host: 'h3', on: true }));
  const sessionLines: string[][] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const id = randomBytes(16).toString('hex');
    // irregular lengths, within what the wire allows: an alert signature (≤ 256), an agent's error text (≤ 1024),
    // and the lost relays a source reports (≤ 255 addresses of ≤ 300 characters) — all of it peer data
    const signature = `ET SCAN ${'s'.repeat(40 + ((i * 7919) % 200))}`;
    const plan = { destination: 'h2', leader: 'h4', dataRelays: ['h4', 'h5'], keyRelays: ['h0'], threshold: 1 };
    const reason = {
      kind: 'eve',
      alert: { signature, signatureId: i, severity: 1, srcIp: '198.51.100.1', destIp: '10.88.5.1', timestamp: null },
    };
    const lostRelays = Array.from(
      { length: 40 + ((i * 31) % 70) },
      (_, j) => `relay-${j}-${'r'.repeat(100 + (((i + j) * 37) % 150))}.example.net:7000`,
    );
    const result =
      i % 4 === 3
        ? {
            rec: 'result',
            t: t + i,
            id,
            ok: false,
            error: `relay said: ${'e'.repeat(200 + ((i * 104729) % 800))}`,
            retry: false,
          }
        : {
            rec: 'result',
            t: t + i,
            id,
            ok: true,
            outcome: {
              bytes: 1 << 20,
              sha256: 'ab'.repeat(32),
              seconds: 1.5,
              lostRelays,
              resentChunks: 3,
              exitStatus: null,
            },
          };
    const event = result.ok ? 'make-honeypot' : 'failed';
    const s = [
      JSON.stringify({
        rec: 'session',
        t: t + i,
        id,
        trigger: id,
        attempt: 1,
        source: { host: 'h0', name: 'vm' },
        reason,
        plan,
        deadline: t + 3600_000,
      }),
      JSON.stringify({ rec: 'sending', t: t + i, id }),
      JSON.stringify(result),
      JSON.stringify({ rec: 'hook', t: t + i, id, event, index: 0, phase: 'start' }),
      JSON.stringify({ rec: 'hook', t: t + i, id, event, index: 0, phase: 'end', status: 0, error: null }),
      JSON.stringify({ rec: 'closed', t: t + i, id }),
    ];
    sessionLines.push(s);
    lines.push(...s);
    if (i === 60) lines.push(JSON.stringify({ rec: 'honeypot', t, host: 'h5', on: true }));
    if (i === 70) lines.push(JSON.stringify({ rec: 'honeypot', t, host: 'h3', on: false }));
  }
  kept = sessionLines.slice(-KEEP_CLOSED).flat();
  return `${lines.join('\n')}\n`;
}

/** The journal's records, honeypot marks apart (their time is the compaction's), and the hosts marked. */
function readJournal(): { records: string[]; honeypots: string[] } {
  const lines = readFileSync(c.journal, 'utf8').split('\n').filter(Boolean);
  const honeypots = lines
    .map((l) => JSON.parse(l) as { rec: string; host?: string; on?: boolean })
    .filter((r) => r.rec === 'honeypot' && r.on === true)
    .map((r) => r.host!)
    .sort();
  return { records: lines.filter((l) => !l.includes('"rec":"honeypot"')), honeypots };
}

function boundariesCrossed(records: string[]): number {
  let at = 0;
  let n = 0;
  for (const r of records) {
    const end = at + Buffer.byteLength(r) + 1;
    if (Math.floor(at / 65536) !== Math.floor((end - 1) / 65536)) n++;
    at = end;
  }
  return n;
}

beforeAll(async () => {
  await c.init(hosts);
  c.writeInventory(hosts.map((n, i) => ({ name: n, address: `127.0.0.1:${21700 + i}`, ip: `10.88.5.${i + 1}` })));
  writeFileSync(c.journal, buildJournal());
}, 30_000);

afterAll(async () => {
  await stopAll();
  c.remove();
});

describe('a journal of more than 1 MiB with records across read boundaries', () => {
  it('is crafted as the attack needs it', () => {
    expect(statSync(c.journal).size).toBeGreaterThan(1024 * 1024);
    expect(kept.join('\n').length).toBeGreaterThan(1024 * 1024);
    expect(boundariesCrossed(readFileSync(c.journal, 'utf8').split('\n').filter(Boolean))).toBeGreaterThan(15);
  });

  it('comes back whole after a start (with its compaction), a stop and a second start', async () => {
    for (let round = 1; round <= 2; round++) {
      ctl = await c.startController();
      expect(
        events(ctl).filter((e) => e.event === 'journal-warning'),
        `start ${round}`,
      ).toEqual([]);
      const st = await c.status();
      expect(
        st.hosts
          .filter((h) => h.state === 'honeypot')
          .map((h) => h.name)
          .sort(),
      ).toEqual(['h1', 'h5']);
      // the status shows the newest sessions (at most 20, fewer when their texts are long), newest first
      expect(st.sessions.length).toBeGreaterThanOrEqual(10);
      expect(st.sessions[0]!.id).toBe((JSON.parse(kept.at(-1)!) as { id: string }).id);
      await ctl.stop();
      expect(ctl.stderr).not.toMatch(/internal-error/);
      const j = readJournal();
      expect(j.honeypots, `after start ${round}`).toEqual(['h1', 'h5']);
      expect(j.records.length, `after start ${round}`).toBe(kept.length);
      expect(j.records, `after start ${round}`).toEqual(kept);
      expect(boundariesCrossed(readFileSync(c.journal, 'utf8').split('\n').filter(Boolean))).toBeGreaterThan(15);
    }
  }, 60_000);
});
