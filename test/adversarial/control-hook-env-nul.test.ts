/**
 * Attack: a NUL in a hook's environment. The signature of an IDS alert (or an agent's error text) is peer
 * data and reaches the hooks as SMIG_ALERT_SIGNATURE (SMIG_ERROR). Before, a NUL made `spawn` throw: the
 * hook chain stopped, the session never closed, and the same failure came back after every restart.
 * Now the value reaches the hook with the NUL replaced (U+FFFD), the session closes, a restart has nothing
 * left to do. Real processes on 127.0.0.1: `smig control` following an EVE file, the hook a real /bin/sh.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from './control-cluster.js';
import { ClusterFiles, events, stopAll, until } from './control-cluster.js';

const c = new ClusterFiles();
let ctl: Proc;
const hookLog = join(c.dir, 'hooks.log');
const hook = (): string[] => [
  '--hook',
  `failed=printf '%s|%s|%s\\n' "$SMIG_EVENT" "$SMIG_ALERT_SIGNATURE" "$SMIG_ERROR" >> ${hookLog}`,
];

beforeAll(async () => {
  await c.init(['h0']);
  c.writeInventory([{ name: 'h0', address: '127.0.0.1:21500', ip: '10.88.2.1' }]);
  ctl = await c.startController(hook());
}, 30_000);

afterAll(async () => {
  await stopAll();
  c.remove();
});

describe('a NUL in a hook variable', () => {
  it('the failed hook runs with the NUL replaced and the session closes', async () => {
    // h0 has no agent connected: the trigger is refused at once and the failed hook runs with the alert's facts
    const alert = {
      timestamp: '2024-05-01T10:00:00.000000+0000',
      event_type: 'alert',
      src_ip: '198.51.100.9',
      dest_ip: '10.88.2.1',
      alert: { signature: 'ET EXPLOIT evil\u0000tail\nforged line', signature_id: 9, severity: 1 },
    };
    appendFileSync(c.eve, `${JSON.stringify(alert)}\n`);
    await ctl.waitFor(/"event":"hook-(done|failed)"/);
    expect(readFileSync(hookLog, 'utf8')).toBe(
      "failed|ET EXPLOIT evil\ufffdtail\ufffdforged line|h0's agent is not connected\n",
    );
    const s = await until('the session closed', async () => {
      const st = await c.status();
      return st.sessions[0]?.closed ? st : undefined;
    });
    expect(s.sessions).toHaveLength(1);
    expect(s.sessions[0]).toMatchObject({
      state: 'refused',
      closed: true,
      hooks: [{ hook: 'failed#0', status: 0, error: null }],
    });
    expect(ctl.stderr).not.toMatch(/internal-error/);
  });

  it('a restart on the same journal has nothing left to run', async () => {
    await ctl.stop();
    ctl = await c.startController(hook());
    const s = await c.status();
    expect(s.sessions.map((x) => x.closed)).toEqual([true]);
    // an open session would have been recovered (and its hook run again) before the controller listened
    expect(existsSync(hookLog) ? readFileSync(hookLog, 'utf8').split('\n').filter(Boolean) : []).toHaveLength(1);
    expect(events(ctl).filter((e) => e.event === 'session-recovered' || e.event === 'internal-error')).toEqual([]);
  });
});
