/**
 * The QMP protocol core (src/vm/qmp.ts) without sockets: greeting and capabilities, commands queued until
 * then, replies matched by id in any order, events, command errors, and hostile input (not JSON, a reply to
 * nothing, an endless line) failing the session with one clear error. Also the VM source-spec form of the
 * agent (`NAME=qmp:SOCKET`) and the destination's VM-session naming.
 */
import { describe, expect, it } from 'vitest';
import { parseSourceSpec } from '../../src/control/agent.js';
import { isVmName } from '../../src/vm/destination.js';
import type { QmpEvent } from '../../src/vm/qmp.js';
import { MAX_LINE_BYTES, MAX_PENDING, QmpCommandError, QmpProtocol } from '../../src/vm/qmp.js';
import { vmModeFor } from '../../src/vm/source.js';

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

function setup(): { p: QmpProtocol; sent: Record<string, unknown>[]; feed: (s: string) => void } {
  const sent: Record<string, unknown>[] = [];
  const p = new QmpProtocol({
    write: (line) => {
      expect(line.endsWith('\n')).toBe(true);
      sent.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { p, sent, feed: (s) => p.push(Buffer.from(s)) };
}

describe('QmpProtocol', () => {
  it('negotiates capabilities after the greeting, then sends what was queued', async () => {
    const { p, sent, feed } = setup();
    const status = p.execute('query-status');
    expect(sent).toEqual([]);
    feed(GREETING);
    expect(sent).toEqual([{ execute: 'qmp_capabilities', id: 0 }]);
    expect(p.ready).toBe(false);
    feed('{"return": {}, "id": 0}\n');
    expect(p.ready).toBe(true);
    expect(sent[1]).toEqual({ execute: 'query-status', id: 1 });
    feed('{"return": {"status": "running", "running": true}, "id": 1}\n');
    await expect(status).resolves.toEqual({ status: 'running', running: true });
  });

  it('matches replies by id in any order, across chunk boundaries, and passes events through', async () => {
    const { p, sent, feed } = setup();
    const events: QmpEvent[] = [];
    p.onEvent = (e) => events.push(e);
    feed(GREETING);
    feed('{"return": {}, "id": 0}\n');
    const a = p.execute('migrate', { uri: 'unix:/x' });
    const b = p.execute('query-migrate');
    expect(sent.slice(1)).toEqual([
      { execute: 'migrate', arguments: { uri: 'unix:/x' }, id: 1 },
      { execute: 'query-migrate', id: 2 },
    ]);
    const text =
      '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\n{"return": {"status": "active"}, "id": 2}\n{"return": {}, "id": 1}\n';
    for (let i = 0; i < text.length; i += 7) feed(text.slice(i, i + 7));
    await expect(b).resolves.toEqual({ status: 'active' });
    await expect(a).resolves.toEqual({});
    expect(events).toEqual([{ event: 'STOP', data: {} }]);
  });

  it('rejects a command the server refused with its class and description, and goes on', async () => {
    const { p, feed } = setup();
    feed(GREETING);
    feed('{"return": {}, "id": 0}\n');
    const c = p.execute('cont');
    feed('{"error": {"class": "GenericError", "desc": "Migration is not finished"}, "id": 1}\n');
    await expect(c).rejects.toBeInstanceOf(QmpCommandError);
    await expect(c).rejects.toThrow('QMP cont: GenericError: Migration is not finished');
    const d = p.execute('query-status');
    feed('{"return": {"status": "paused"}, "id": 2}\n');
    await expect(d).resolves.toEqual({ status: 'paused' });
  });

  it.each([
    ['a non-QMP greeting', 'SSH-2.0-OpenSSH_9.2\n', /did not greet/],
    ['a line that is not JSON', `${GREETING}{"return": {}, "id": 0}\nnot json\n`, /not JSON/],
    ['a reply to no command', `${GREETING}{"return": {}, "id": 0}\n{"return": {}, "id": 99}\n`, /reply to no command/],
    [
      'a line that is neither reply nor event',
      `${GREETING}{"return": {}, "id": 0}\n{"hello": 1}\n`,
      /neither a reply nor an event/,
    ],
    [
      'capabilities refused',
      `${GREETING}{"error": {"class": "CommandNotFound", "desc": "no"}, "id": 0}\n`,
      /qmp_capabilities refused/,
    ],
  ])('fails the session on %s, rejecting every waiting command', async (_what, input, re) => {
    const { p, feed } = setup();
    let failure: Error | undefined;
    p.onFailure = (e) => (failure = e);
    const waiting = p.execute('query-status');
    feed(input);
    await expect(waiting).rejects.toThrow(re);
    expect(failure?.message).toMatch(re);
    expect((failure as { code?: string }).code).toBe('SMIG_ERR_VM');
    await expect(p.execute('query-status')).rejects.toThrow(re);
  });

  it('bounds a line: an endless one fails before it is buffered past the limit', async () => {
    const { p, feed } = setup();
    feed(GREETING);
    feed('{"return": {}, "id": 0}\n');
    const waiting = p.execute('query-status');
    const piece = 'x'.repeat(64 * 1024);
    for (let i = 0; i * piece.length <= MAX_LINE_BYTES && p.failure === null; i++) feed(piece);
    expect(p.failure?.message).toMatch(/longer than/);
    await expect(waiting).rejects.toThrow(/longer than/);
  });

  it('bounds the commands waiting for an answer', async () => {
    const { p } = setup();
    const all = Array.from({ length: MAX_PENDING }, () => p.execute('query-status'));
    await expect(p.execute('query-status')).rejects.toThrow(/waiting for an answer/);
    p.fail(new Error('closed'));
    await Promise.allSettled(all);
  });
});

describe('VM sources and sessions', () => {
  it('parses NAME=qmp:SOCKET as a VM source, and refuses an empty socket path', () => {
    expect(parseSourceSpec('web=qmp:/run/web.qmp')).toEqual({
      name: 'web',
      path: null,
      command: null,
      qmp: '/run/web.qmp',
    });
    expect(parseSourceSpec('img=/var/lib/a.img')).toEqual({ name: 'img', path: '/var/lib/a.img', command: null });
    expect(() => parseSourceSpec('web=qmp:')).toThrow(/QMP socket path/);
  });

  it('picks live pre-copy for bulk and stop-first for every paced strategy', () => {
    expect(vmModeFor('bulk')).toBe('live');
    for (const s of ['constant', 'profile', 'replay']) expect(vmModeFor(s)).toBe('stop');
  });

  it('restores only sessions named *.vmstate', () => {
    expect(isVmName('web.vmstate')).toBe(true);
    expect(isVmName('.vmstate')).toBe(false);
    expect(isVmName('web.img')).toBe(false);
  });
});
