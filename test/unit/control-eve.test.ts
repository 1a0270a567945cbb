/**
 * The EVE input: lines in the format of Suricata's documentation ("Eve JSON Format", docs.suricata.io),
 * the follower across appends, partial writes, rotation (rename + create), copytruncate, bad and long lines,
 * and the triage of alerts to inventory hosts.
 */
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EveAlert, EveWarning } from '../../src/control/eve.js';
import { AlertTriage, EveFollower, parseEveLine } from '../../src/control/eve.js';
import { parseInventory } from '../../src/control/inventory.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-eve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// the alert example of the Suricata 7 documentation, as one line
const DOC_ALERT =
  '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,"pcap_cnt":53381,"event_type":"alert",' +
  '"src_ip":"192.168.2.14","src_port":50096,"dest_ip":"209.53.113.5","dest_port":80,"proto":"TCP","metadata":{"flowbits":["http.dottedquadhost"]},' +
  '"tx_id":4,"alert":{"action":"allowed","gid":1,"signature_id":2018358,"rev":10,"signature":"ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1",' +
  '"category":"Potentially Bad Traffic","severity":2},"app_proto":"http"}';

function alertLine(src: string, dest: string, severity = 1, extra = ''): string {
  return (
    `{"timestamp":"2024-05-01T10:00:00.000000+0000","flow_id":1,"event_type":"alert","src_ip":"${src}","src_port":4444,"dest_ip":"${dest}","dest_port":22,` +
    `"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":${severity}${extra}}}`
  );
}

describe('parseEveLine', () => {
  it('reads the documented alert', () => {
    expect(parseEveLine(DOC_ALERT)).toEqual({
      kind: 'alert',
      alert: {
        timestamp: '2017-04-07T22:24:37.251547+0100',
        srcIp: '192.168.2.14',
        destIp: '209.53.113.5',
        targetIp: null,
        signature: 'ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1',
        signatureId: 2018358,
        category: 'Potentially Bad Traffic',
        severity: 2,
      },
    });
  });

  it('canonicalizes IPv6, reads alert.target, and tells other events and bad lines apart', () => {
    const a = parseEveLine(
      alertLine(
        '2001:DB8::0:1',
        '10.0.0.5',
        1,
        ',"target":{"ip":"10.0.0.5","port":22},"source":{"ip":"2001:db8::1","port":4444}',
      ),
    );
    expect(a).toMatchObject({
      kind: 'alert',
      alert: { srcIp: '2001:db8::1', destIp: '10.0.0.5', targetIp: '10.0.0.5' },
    });
    expect(parseEveLine('{"timestamp":"2024-05-01T10:00:00+0000","event_type":"flow","src_ip":"10.0.0.1"}')).toEqual({
      kind: 'other',
      eventType: 'flow',
    });
    expect(
      parseEveLine('{"event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"signat'),
    ).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/^not JSON/) });
    expect(parseEveLine('[1,2]')).toEqual({ kind: 'malformed', reason: 'not a JSON object' });
    expect(parseEveLine('{"src_ip":"10.0.0.1"}')).toEqual({ kind: 'malformed', reason: 'no event_type' });
    expect(parseEveLine('{"event_type":"alert","src_ip":"10.0.0.1"}')).toEqual({
      kind: 'malformed',
      reason: 'alert event without an alert object',
    });
    expect(parseEveLine('{"event_type":"alert","src_ip":"10.0.0.1","alert":{"severity":"high"}}')).toEqual({
      kind: 'malformed',
      reason: 'alert.severity "high" is not 1..255',
    });
    expect(parseEveLine('{"event_type":"alert","src_ip":"x","dest_ip":"y","alert":{"severity":1}}')).toEqual({
      kind: 'malformed',
      reason: 'alert without src_ip, dest_ip or alert.target.ip',
    });
  });
});

/** A follower with everything it reports collected. */
function follow(
  path: string,
  maxLineBytes?: number,
): { f: EveFollower; alerts: [EveAlert, number][]; warnings: EveWarning[] } {
  const alerts: [EveAlert, number][] = [];
  const warnings: EveWarning[] = [];
  const f = new EveFollower(path, {
    onAlert: (a, n) => alerts.push([a, n]),
    onWarning: (w) => warnings.push(w),
    pollMs: 60_000,
    maxLineBytes,
  });
  return { f, alerts, warnings };
}

describe('EveFollower', () => {
  it('starts at the end of the file (skipping a half-written line), then reads appended and completed lines', async () => {
    const path = join(dir, 'eve-a.json');
    writeFileSync(path, `${alertLine('10.0.0.1', '10.0.0.2')}\n{"event_type":"alert","src_ip":"10.0`);
    const { f, alerts, warnings } = follow(path);
    await f.start();
    appendFileSync(path, '.0.9","dest_ip":"10.0.0.8","alert":{"severity":1}}\n'); // the rest of the line begun before we started
    appendFileSync(
      path,
      `${alertLine('203.0.113.5', '10.0.0.5')}\n${alertLine('203.0.113.6', '10.0.0.6').slice(0, 50)}`,
    );
    await f.poll();
    expect(alerts.map(([a]) => a.srcIp)).toEqual(['203.0.113.5']);
    appendFileSync(path, `${alertLine('203.0.113.6', '10.0.0.6').slice(50)}\n{"event_type":"stats","stats":{}}\n`);
    await f.poll();
    expect(alerts.map(([a]) => a.srcIp)).toEqual(['203.0.113.5', '203.0.113.6']);
    expect(warnings).toEqual([]);
    expect(f.stats).toMatchObject({ lines: 3, alerts: 2, other: 1, malformed: 0 });
    await f.close();
  });

  it('skips malformed, cut-short and oversized lines with a warning and goes on', async () => {
    const path = join(dir, 'eve-b.json');
    writeFileSync(path, '');
    const { f, alerts, warnings } = follow(path, 2000);
    await f.start();
    const good = alertLine('198.51.100.1', '10.0.0.5');
    appendFileSync(path, `${good.slice(0, 80)}\nnot json at all\n${'x'.repeat(5000)}\n${good}\n`);
    await f.poll();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]![1]).toBe(4);
    expect(warnings.map((w) => [w.kind, w.line])).toEqual([
      ['malformed', 1],
      ['malformed', 2],
      ['oversized', 3],
    ]);
    expect(warnings[0]!.message).toMatch(new RegExp(`^${path} line 1: not JSON .*\\(skipped\\)$`));
    expect(warnings[2]!.message).toBe(`${path} line 3: 5000 bytes, longer than 2000 (skipped)`);
    expect(f.stats).toMatchObject({ alerts: 1, malformed: 2, oversized: 1 });
    await f.close();
  });

  it("follows a rotation (rename, then a new file): the old file's last lines first, then the new file from its start", async () => {
    const path = join(dir, 'eve-c.json');
    writeFileSync(path, '');
    const { f, alerts, warnings } = follow(path);
    await f.start();
    appendFileSync(path, `${alertLine('192.0.2.1', '10.0.0.5')}\n`);
    await f.poll();
    renameSync(path, `${path}.1`);
    appendFileSync(
      `${path}.1`,
      `${alertLine('192.0.2.2', '10.0.0.5')}\n${alertLine('192.0.2.3', '10.0.0.5').slice(0, 30)}`,
    ); // written before the reopen
    await f.poll(); // no file at the path: keeps reading the old one
    expect(alerts.map(([a]) => a.srcIp)).toEqual(['192.0.2.1', '192.0.2.2']);
    writeFileSync(path, `${alertLine('192.0.2.4', '10.0.0.5')}\n`);
    await f.poll();
    expect(alerts.map(([a]) => a.srcIp)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.4']);
    expect(warnings.map((w) => w.kind)).toEqual(['truncated', 'rotated']);
    expect(warnings[0]!.message).toBe(`${path} line 3: cut short after 30 bytes (file rotated; skipped)`);
    expect(f.stats).toMatchObject({ rotations: 1, truncated: 1 });
    await f.close();
  });

  it('reads a file truncated in place (copytruncate) again from its start', async () => {
    const path = join(dir, 'eve-d.json');
    writeFileSync(path, '');
    const { f, alerts, warnings } = follow(path);
    await f.start();
    appendFileSync(path, `${alertLine('192.0.2.10', '10.0.0.5')}\n${alertLine('192.0.2.11', '10.0.0.5')}\n`);
    await f.poll();
    truncateSync(path, 0);
    appendFileSync(path, `${alertLine('192.0.2.12', '10.0.0.5')}\n`);
    await f.poll();
    expect(alerts.map(([a]) => a.srcIp)).toEqual(['192.0.2.10', '192.0.2.11', '192.0.2.12']);
    expect(warnings.map((w) => w.kind)).toEqual(['shrunk']);
    expect(f.stats.truncations).toBe(1);
    await f.close();
  });

  it('waits for a file that does not exist yet, and reads it from its start when it appears', async () => {
    const path = join(dir, 'eve-e.json');
    const { f, alerts, warnings } = follow(path);
    await f.start();
    expect(warnings.map((w) => w.message)).toEqual([`${path}: no such file yet, waiting for it`]);
    writeFileSync(path, `${alertLine('192.0.2.20', '10.0.0.5')}\n`);
    await f.poll();
    expect(alerts).toHaveLength(1);
    await f.close();
  });
});

describe('AlertTriage', () => {
  const inv = parseInventory(
    JSON.stringify({
      hosts: [
        { name: 'h0', address: '127.0.0.1:7000', ids: ['10.0.0.5', '2001:db8::5'] },
        { name: 'h1', address: '127.0.0.1:7001', ids: ['10.0.0.6'] },
        { name: 'r1', address: '127.0.0.1:7002', ids: ['10.0.0.7'], roles: ['relay'] },
      ],
    }),
    'inv',
  );
  const alert = (src: string, dest: string, severity = 1, target: string | null = null): EveAlert => ({
    timestamp: null,
    srcIp: src,
    destIp: dest,
    targetIp: target,
    signature: 's',
    signatureId: 1,
    category: null,
    severity,
  });

  it('flags the inventory hosts an alert names, once per cool-down, and reports unknown addresses', () => {
    let now = 1_000_000;
    const t = new AlertTriage(inv, { maxSeverity: 2, cooldownMs: 60_000, now: () => now });
    let r = t.triage(alert('203.0.113.9', '10.0.0.5'));
    expect(r.flagged.map((h) => h.name)).toEqual(['h0']);
    expect(r.unknown).toEqual(['203.0.113.9']);
    now += 59_999;
    r = t.triage(alert('2001:db8::5', '203.0.113.9'));
    expect(r.flagged).toEqual([]);
    expect(r.suppressed.map((s) => [s.host.name, s.reason])).toEqual([['h0', 'cooldown']]);
    now += 1;
    expect(t.triage(alert('2001:db8::5', '203.0.113.9')).flagged.map((h) => h.name)).toEqual(['h0']);
  });

  it('applies the severity threshold, the source role, exclusions, and alert.target', () => {
    const t = new AlertTriage(inv, { maxSeverity: 2, cooldownMs: 0 });
    expect(t.triage(alert('10.0.0.5', '203.0.113.9', 3)).suppressed.map((s) => s.reason)).toEqual(['severity']);
    expect(t.triage(alert('10.0.0.7', '203.0.113.9')).suppressed.map((s) => s.reason)).toEqual(['not-source']);
    expect(
      t.triage(alert('10.0.0.5', '10.0.0.6'), (h) => h.name === 'h0').suppressed.map((s) => [s.host.name, s.reason]),
    ).toEqual([['h0', 'excluded']]);
    // lateral movement names both; a rule with target names the target only
    expect(t.triage(alert('10.0.0.5', '10.0.0.6')).flagged.map((h) => h.name)).toEqual(['h0', 'h1']);
    expect(t.triage(alert('10.0.0.5', '10.0.0.6', 1, '10.0.0.6')).flagged.map((h) => h.name)).toEqual(['h1']);
  });
});
