import { describe, expect, it } from 'vitest';
import { envValue, hookEnvironment, MAX_ENV_VALUE, parseHookSpec, runHook } from '../../src/control/hooks.js';
import { parseInventory } from '../../src/control/inventory.js';

const inv = parseInventory(
  JSON.stringify({
    hosts: [
      { name: 'h0', address: '10.9.0.2:7000', ids: ['203.0.113.5', '10.0.0.2'] },
      { name: 'h7', address: '10.9.0.9:7000', ids: ['10.0.0.9'] },
    ],
  }),
  'inv',
);

describe('parseHookSpec', () => {
  it('reads EVENT=CMD, keeping every = of the command', () => {
    expect(parseHookSpec('notify-ids=curl -d "a=b" http://ids/')).toEqual({
      event: 'notify-ids',
      command: 'curl -d "a=b" http://ids/',
    });
  });
  it.each([
    [
      'reboot=x',
      "--hook: 'reboot' is not an event (make-honeypot, disconnect, connect, notify-ids, failed); expected EVENT=CMD",
    ],
    ['failed', '--hook failed: the command is empty; expected failed=CMD'],
    ['connect=  ', '--hook connect: the command is empty; expected connect=CMD'],
  ])('refuses %s', (text, message) => {
    expect(() => parseHookSpec(text)).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE', message }));
  });
});

describe('hookEnvironment', () => {
  const base = {
    session: 'a'.repeat(32),
    trigger: 'b'.repeat(32),
    attempt: 2,
    source: inv.byName.get('h0')!,
    sourceName: 'vm',
    plan: { destination: 'h7', dataRelays: ['h1', 'h2'], keyRelays: ['h3', 'h4', 'h5'], leader: 'h2', threshold: 2 },
    host: (n: string) => inv.byName.get(n),
    reason: {
      kind: 'eve' as const,
      alert: {
        signature: 'ET SCAN x',
        signatureId: 2001219,
        severity: 1,
        srcIp: '198.51.100.7',
        destIp: '203.0.113.5',
        timestamp: '2024-05-01T10:00:00.000000+0000',
      },
    },
  };
  it('carries the session facts of a success', () => {
    const env = hookEnvironment({
      ...base,
      event: 'connect',
      outcome: {
        bytes: 1048576,
        sha256: 'cd'.repeat(32),
        seconds: 2.5,
        lostRelays: [],
        resentChunks: 0,
        exitStatus: null,
      },
    });
    expect(env).toEqual({
      SMIG_EVENT: 'connect',
      SMIG_SESSION: 'a'.repeat(32),
      SMIG_TRIGGER: 'b'.repeat(32),
      SMIG_ATTEMPT: '2',
      SMIG_REASON: 'eve',
      SMIG_SOURCE_HOST: 'h0',
      SMIG_SOURCE_ADDRESS: '10.9.0.2:7000',
      SMIG_SOURCE_IDS: '203.0.113.5 10.0.0.2',
      SMIG_SOURCE_NAME: 'vm',
      SMIG_DEST_HOST: 'h7',
      SMIG_DEST_ADDRESS: '10.9.0.9:7000',
      SMIG_DEST_IDS: '10.0.0.9',
      SMIG_LEADER_HOST: 'h2',
      SMIG_DATA_RELAYS: 'h1,h2',
      SMIG_KEY_RELAYS: 'h3,h4,h5',
      SMIG_THRESHOLD: '2',
      SMIG_BYTES: '1048576',
      SMIG_SHA256: 'cd'.repeat(32),
      SMIG_SECONDS: '2.500',
      SMIG_ALERT_SIGNATURE: 'ET SCAN x',
      SMIG_ALERT_SID: '2001219',
      SMIG_ALERT_SEVERITY: '1',
      SMIG_ALERT_SRC_IP: '198.51.100.7',
      SMIG_ALERT_DEST_IP: '203.0.113.5',
      SMIG_ALERT_TIMESTAMP: '2024-05-01T10:00:00.000000+0000',
    });
  });
  it('carries the error of a failure, and marks a hook run again after a restart', () => {
    const env = hookEnvironment({
      ...base,
      event: 'failed',
      reason: { kind: 'manual' },
      plan: null,
      error: 'no hosts',
      retry: false,
      hookRetry: true,
    });
    expect(env).toMatchObject({
      SMIG_EVENT: 'failed',
      SMIG_REASON: 'manual',
      SMIG_DEST_HOST: '',
      SMIG_THRESHOLD: '',
      SMIG_ERROR: 'no hosts',
      SMIG_RETRY: '0',
      SMIG_HOOK_RETRY: '1',
    });
    expect(env.SMIG_ALERT_SIGNATURE).toBeUndefined();
    expect(env.SMIG_BYTES).toBeUndefined();
  });
});

describe('runHook', () => {
  it('runs sh -c CMD with the variables and passes its output on line by line', async () => {
    const lines: string[] = [];
    const r = await runHook(
      { event: 'disconnect', command: 'echo "cut $SMIG_SOURCE_HOST"; echo oops >&2; printf tail' },
      1,
      { env: { SMIG_SOURCE_HOST: 'h0' }, timeoutMs: 10_000, onOutput: (l) => lines.push(l) },
    );
    expect(r).toMatchObject({ event: 'disconnect', index: 1, status: 0, timedOut: false, error: null });
    expect(lines.sort()).toEqual(['cut h0', 'oops', 'tail']);
  });

  it('reports a failing command with its status', async () => {
    const r = await runHook({ event: 'connect', command: 'exit 3' }, 0, { env: {}, timeoutMs: 10_000 });
    expect(r).toMatchObject({ status: 3, timedOut: false, error: 'exit status 3' });
  });

  it('stops a hook at its time limit, what it started included', async () => {
    const start = Date.now();
    const r = await runHook({ event: 'notify-ids', command: 'sleep 30 & sleep 30; echo never' }, 0, {
      env: {},
      timeoutMs: 200,
      killGraceMs: 200,
    });
    expect(Date.now() - start).toBeLessThan(5000);
    expect(r.timedOut).toBe(true);
    expect(r.status).toBe(128 + 15); // SIGTERM
    expect(r.error).toBe('timed out after 200 ms (status 143)');
  });
});

describe('hook variables from a peer (NUL, newlines, bidi controls)', () => {
  const base = {
    session: 'a'.repeat(32),
    trigger: 'b'.repeat(32),
    attempt: 1,
    source: inv.byName.get('h0')!,
    sourceName: 'vm',
    plan: null,
    host: (n: string) => inv.byName.get(n),
  };
  it('envValue replaces control and bidi characters with U+FFFD and bounds the length', () => {
    expect(envValue('ET\u0000SCAN\nx\u202Egnp.exe\ty')).toBe('ET\ufffdSCAN\ufffdx\ufffdgnp.exe\ty');
    expect(envValue('é☃'.repeat(5000)).length).toBe(MAX_ENV_VALUE);
    expect(envValue('a' + '😀'.repeat(3000)).length).toBe(MAX_ENV_VALUE - 1); // a surrogate pair is never cut in half
  });
  it('hookEnvironment sanitizes the alert signature and the error text', () => {
    const env = hookEnvironment({
      ...base,
      event: 'failed',
      error: 'agent said: \u0000boom\r\n',
      retry: false,
      reason: {
        kind: 'eve',
        alert: {
          signature: 'sig\u0000with nul',
          signatureId: 1,
          severity: 1,
          srcIp: null,
          destIp: null,
          timestamp: null,
        },
      },
    });
    expect(env.SMIG_ALERT_SIGNATURE).toBe('sig\ufffdwith nul');
    expect(env.SMIG_ERROR).toBe('agent said: \ufffdboom\ufffd\ufffd');
    for (const v of Object.values(env)) expect(v).not.toMatch(/[\u0000-\u0008\u000a-\u001f]/);
  });
  it('runHook starts a hook whose variables carry a NUL (it used to throw in spawn)', async () => {
    const lines: string[] = [];
    const r = await runHook({ event: 'failed', command: 'printf "%s\\n" "$SMIG_ERROR"' }, 0, {
      env: { SMIG_ERROR: 'a\u0000b' },
      timeoutMs: 10_000,
      onOutput: (l) => lines.push(l),
    });
    expect(r).toMatchObject({ status: 0, error: null });
    expect(lines).toEqual(['a\ufffdb']);
  });
  it('parseHookSpec refuses a command with a NUL', () => {
    expect(() => parseHookSpec('failed=echo \u0000')).toThrow(/contains a NUL/);
  });
});
