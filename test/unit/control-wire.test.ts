import { describe, expect, it } from 'vitest';
import { parseAgentInstruct, parseAgentStatus, parseOperatorRequest } from '../../src/control/wire.js';

const S = 'ab'.repeat(16);

describe('control messages', () => {
  it('reads an agent registration with its session reports', () => {
    const m = parseAgentStatus({
      type: 'register',
      v: 1,
      name: 'h0',
      listen: '127.0.0.1:7001',
      out: true,
      sources: ['vm', 'disk'],
      sessions: [
        {
          session: S,
          role: 'source',
          state: 'done',
          outcome: {
            bytes: 5,
            sha256: 'cd'.repeat(32),
            seconds: 0.5,
            lostRelays: ['127.0.0.1:7003'],
            resentChunks: 1,
            exitStatus: 0,
          },
        },
        { session: S.replace('a', 'c'), role: 'relay', state: 'failed', error: 'never arrived' },
      ],
    });
    expect(m).toEqual({
      type: 'register',
      v: 1,
      name: 'h0',
      listen: '127.0.0.1:7001',
      out: true,
      sources: ['vm', 'disk'],
      sessions: [
        {
          session: S,
          role: 'source',
          state: 'done',
          outcome: {
            bytes: 5,
            sha256: 'cd'.repeat(32),
            seconds: 0.5,
            lostRelays: ['127.0.0.1:7003'],
            resentChunks: 1,
            exitStatus: 0,
          },
        },
        { session: S.replace('a', 'c'), role: 'relay', state: 'failed', error: 'never arrived' },
      ],
    });
    expect(
      parseAgentStatus({
        type: 'register',
        v: 1,
        name: null,
        listen: '[::1]:7001',
        out: false,
        sources: [],
        sessions: [],
      }),
    ).toMatchObject({ name: null });
  });

  it.each([
    [
      { type: 'register', v: 1, listen: '127.0.0.1:1', out: 'yes', sources: [], sessions: [] },
      'STATUS register.out: expected true or false',
    ],
    [
      { type: 'register', v: 1, name: '../x', listen: '127.0.0.1:1', out: true, sources: [], sessions: [] },
      "STATUS register.name: '../x' is not valid",
    ],
    [
      { type: 'register', v: 1, listen: '127.0.0.1:1', out: true, sources: ['a b'], sessions: [] },
      'STATUS register.sources[0]: "a b" is not valid',
    ],
    [
      {
        type: 'register',
        v: 1,
        listen: '127.0.0.1:1',
        out: true,
        sources: [],
        sessions: [{ session: S, role: 'leader', state: 'active' }],
      },
      "STATUS register.sessions[0].role: 'leader' is not valid",
    ],
    [{ type: 'ack', session: 'xyz' }, "STATUS ack.session: 'xyz' is not valid"],
    [{ type: 'ack', session: S, port: 70000 }, 'STATUS ack.port: expected a whole number from 1 to 65535'],
    [{ type: 'result', session: S, ok: true }, 'STATUS result.outcome: expected an object'],
    [
      {
        type: 'result',
        session: S,
        ok: true,
        outcome: { bytes: -1, sha256: '', seconds: 0, lostRelays: [], resentChunks: 0 },
      },
      'STATUS result.outcome.bytes: expected a whole number from 0 to 9007199254740991',
    ],
    [{ type: 'heartbeat', active: new Array(300).fill(S) }, 'STATUS heartbeat.active: more than 256 entries'],
    [{ type: 'hello' }, "STATUS: unknown type 'hello' from an agent"],
    [{ kind: 'x' }, 'STATUS.type: expected a string'],
  ])('refuses a bad agent STATUS %#', (payload, message) => {
    expect(() => parseAgentStatus(payload)).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_FRAME_MALFORMED', message }),
    );
  });

  it("reads and checks the controller's instructions", () => {
    const send = {
      type: 'send',
      session: S,
      source: 'vm',
      destination: '127.0.0.1:40000',
      dataRelays: ['127.0.0.1:7001'],
      keyRelays: ['127.0.0.1:7002', '127.0.0.1:7003'],
      leader: '127.0.0.1:7001',
      threshold: 2,
      ttlMs: 1000,
    };
    expect(parseAgentInstruct(send)).toEqual({ ...send, plan: null, destKey: null });
    const destKey = `smig-pub-v1 ${'ab'.repeat(32)} ${'cd'.repeat(32)}`;
    expect(parseAgentInstruct({ ...send, destKey })).toEqual({ ...send, plan: null, destKey });
    expect(() => parseAgentInstruct({ ...send, destKey: `${destKey} h9` })).toThrow(/INSTRUCT send\.destKey: /);
    expect(parseAgentInstruct({ type: 'receive', session: S, ttlMs: 5 })).toEqual({
      type: 'receive',
      session: S,
      ttlMs: 5,
      sourceKey: null,
    });
    expect(parseAgentInstruct({ type: 'receive', session: S, ttlMs: 5, sourceKey: destKey })).toEqual({
      type: 'receive',
      session: S,
      ttlMs: 5,
      sourceKey: destKey,
    });
    expect(() => parseAgentInstruct({ type: 'receive', session: S, ttlMs: 5, sourceKey: 'x' })).toThrow(
      /INSTRUCT receive\.sourceKey: /,
    );
    expect(() => parseAgentInstruct({ ...send, threshold: 3 })).toThrow(
      'INSTRUCT send.threshold: expected a whole number from 1 to 2',
    );
    expect(() => parseAgentInstruct({ ...send, dataRelays: [] })).toThrow(
      'INSTRUCT send.dataRelays: data and key relays must not be empty',
    );
    expect(() => parseAgentInstruct({ type: 'relay', session: S, ttlMs: 0 })).toThrow(
      'INSTRUCT relay.ttlMs: expected a whole number from 1 to 31622400000',
    );
    expect(parseAgentInstruct({ type: 'registered', host: 'h0', heartbeatMs: 5000 })).toEqual({
      type: 'registered',
      host: 'h0',
      heartbeatMs: 5000,
    });
  });

  it('reads operator requests', () => {
    expect(
      parseOperatorRequest({ type: 'migrate', v: 1, host: 'h0', source: null, dryRun: false, wait: true }),
    ).toEqual({ type: 'migrate', v: 1, host: 'h0', source: null, dryRun: false, wait: true });
    expect(parseOperatorRequest({ type: 'status' })).toEqual({ type: 'status' });
    expect(() => parseOperatorRequest({ type: 'migrate', v: 1, host: 'h0;rm', dryRun: false, wait: true })).toThrow(
      "INSTRUCT migrate.host: 'h0;rm' is not valid",
    );
    expect(() => parseOperatorRequest({ type: 'shutdown' })).toThrow("INSTRUCT: unknown type 'shutdown'");
  });
});
