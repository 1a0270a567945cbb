import { describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import {
  decodeMessage,
  encodeMessage,
  encodeMessageBytes,
  errorMessageFor,
  FrameDecoder,
  FrameType,
  frameTypeName,
  type LinkRole,
  MAX_TEXT_BYTES,
  type Message,
  ProtocolState,
  peerError,
  type SessionLayout,
  sameSessionId,
  sessionIdHex,
  toWireText,
  WIRE_ERROR_CODES,
  wireErrorName,
} from '../../src/protocol/index.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ID_HEX = '000102030405060708090a0b0c0d0e0f';
const ID = hex(ID_HEX);
const LAYOUT: SessionLayout = { dataRelays: 5, keyRelays: 3, threshold: 2 };
const T = FrameType;

function expectSmig(fn: () => unknown, code: string, message?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a SmigError').toBeInstanceOf(SmigError);
  expect((caught as SmigError).code).toBe(code);
  if (message !== undefined) expect((caught as SmigError).message).toBe(message);
}

const decodeFrame = (frame: Uint8Array): Message => decodeMessage(frame[4]!, frame.subarray(5));

// Known-answer vectors written by hand from the body layouts documented in messages.ts
// (u32 length counts type + body; integers big-endian), not produced by the encoder.
const VECTORS: [string, Message, string][] = [
  [
    'SESSION data-relay',
    { type: T.SESSION, sessionId: ID, role: 'data-relay', leader: 'h:1', index: 2, layout: LAYOUT },
    // len 27 = 1 type + 1 version + 16 id + 1 role + (1 + 3) leader + 1 index + 3 layout
    `0000001b 01  05 ${ID_HEX} 01 03 683a31 02 05 03 02`,
  ],
  [
    'SESSION key-relay, IPv6 leader',
    { type: T.SESSION, sessionId: ID, role: 'key-relay', leader: '[::1]:7000', index: 1, layout: LAYOUT },
    `00000022 01  05 ${ID_HEX} 02 0a 5b3a3a315d3a37303030 01 05 03 02`,
  ],
  [
    'SESSION leader via key-relay',
    { type: T.SESSION, sessionId: ID, role: 'leader', via: 'key-relay', index: 2, layout: LAYOUT },
    `00000018 01  05 ${ID_HEX} 03 02 02 05 03 02`,
  ],
  [
    'SESSION destination, length known',
    { type: T.SESSION, sessionId: ID, role: 'destination', name: 'a.img', length: 1024 },
    `00000022 01  05 ${ID_HEX} 04 05 612e696d67 01 0000000000000400`,
  ],
  [
    'SESSION destination, length unknown',
    { type: T.SESSION, sessionId: ID, role: 'destination', name: 'a.img', length: null },
    `00000022 01  05 ${ID_HEX} 04 05 612e696d67 00 0000000000000000`,
  ],
  [
    'SESSION poll',
    { type: T.SESSION, sessionId: ID, role: 'poll', leader: 'h:1' },
    // len 23 = 1 type + 1 version + 16 id + 1 role + (1 + 3) leader
    `00000017 01  05 ${ID_HEX} 05 03 683a31`,
  ],
  ['SESSION outcome', { type: T.SESSION, sessionId: ID, role: 'outcome' }, `00000013 01  05 ${ID_HEX} 06`],
  ['DATA', { type: T.DATA, offset: 0x102, bytes: hex('616263') }, '0000000c 02 0000000000000102 616263'],
  ['KEY', { type: T.KEY, share: hex('aabbcc') }, '00000004 03 aabbcc'],
  [
    'DATA_SEGMENT at 2^32',
    { type: T.DATA_SEGMENT, sessionId: ID, index: 4, offset: 2 ** 32, bytes: hex('ffee') },
    `0000001c 04 ${ID_HEX} 04 0000000100000000 ffee`,
  ],
  [
    'KEY_SEGMENT',
    { type: T.KEY_SEGMENT, sessionId: ID, index: 1, share: hex('010203') },
    `00000015 05 ${ID_HEX} 01 010203`,
  ],
  ['PROGRESS 2^53-1', { type: T.PROGRESS, offset: Number.MAX_SAFE_INTEGER }, '00000009 06 001fffffffffffff'],
  ['END', { type: T.END, length: 1000, sha256: null }, '00000009 07 00000000000003e8'],
  [
    'END with sha256',
    { type: T.END, length: 3, sha256: new Uint8Array(32).fill(0x11) },
    `00000029 07 0000000000000003 ${'11'.repeat(32)}`,
  ],
  [
    'DONE ok with exit status',
    { type: T.DONE, ok: true, sha256: new Uint8Array(32).fill(0x22), length: 3, exitStatus: 0, message: 'ok' },
    `00000030 08 03 ${'22'.repeat(32)} 0000000000000003 00000000 6f6b`,
  ],
  [
    'DONE failed, no command, exit status 137',
    { type: T.DONE, ok: false, sha256: new Uint8Array(32), length: 0, exitStatus: 137, message: '' },
    `0000002e 08 02 ${'00'.repeat(32)} 0000000000000000 00000089`,
  ],
  [
    'DONE failed, negative status',
    { type: T.DONE, ok: false, sha256: new Uint8Array(32), length: 0, exitStatus: -1, message: '' },
    `0000002e 08 02 ${'00'.repeat(32)} 0000000000000000 ffffffff`,
  ],
  [
    'DONE ok with a receipt',
    {
      type: T.DONE,
      ok: true,
      sha256: new Uint8Array(32).fill(0x22),
      length: 3,
      exitStatus: null,
      receipt: Uint8Array.from([2, 0xaa, 0xbb]),
      message: 'ok',
    },
    `00000034 08 05 ${'22'.repeat(32)} 0000000000000003 00000000 03 02aabb 6f6b`,
  ],
  ['ERROR', { type: T.ERROR, code: 5, message: 'bad' }, '00000006 09 0005 626164'],
  ['PAD', { type: T.PAD, length: 3 }, '00000004 0a 000000'],
  ['INSTRUCT', { type: T.INSTRUCT, payload: { a: 1 } }, '00000008 0b 7b2261223a317d'],
  ['STATUS', { type: T.STATUS, payload: {} }, '00000003 0c 7b7d'],
  ['PING', { type: T.PING, seq: 7 }, '00000005 0d 00000007'],
  ['PONG', { type: T.PONG, seq: 0xdeadbeef }, '00000005 0e deadbeef'],
];

describe('hand-written vectors', () => {
  for (const [name, msg, frameHex] of VECTORS) {
    it(`${name}: encodes to the vector and decodes back`, () => {
      const frame = hex(frameHex);
      expect(encodeMessageBytes(msg)).toEqual(frame);
      expect(decodeFrame(frame)).toEqual(msg);
    });
  }
});

describe('round trips', () => {
  const samples: Message[] = [
    {
      type: T.SESSION,
      sessionId: ID,
      role: 'data-relay',
      leader: 'relay-3.lab.example:65535',
      index: 254,
      layout: { dataRelays: 255, keyRelays: 255, threshold: 255 },
    },
    {
      type: T.SESSION,
      sessionId: ID,
      role: 'leader',
      via: 'data-relay',
      index: 0,
      layout: { dataRelays: 1, keyRelays: 1, threshold: 1 },
    },
    {
      type: T.SESSION,
      sessionId: ID,
      role: 'destination',
      name: 'vm image ünïcødé 🐧.qcow2',
      length: Number.MAX_SAFE_INTEGER,
    },
    { type: T.DATA, offset: Number.MAX_SAFE_INTEGER - 1, bytes: hex('00') },
    { type: T.DATA, offset: 123_456_789_012, bytes: new Uint8Array(20_000).fill(0x5a) },
    { type: T.KEY, share: new Uint8Array(256).fill(1) },
    { type: T.KEY_SEGMENT, sessionId: ID, index: 254, share: new Uint8Array(33).fill(2) },
    { type: T.PROGRESS, offset: 0 },
    {
      type: T.DONE,
      ok: true,
      sha256: new Uint8Array(32).fill(3),
      length: 2 ** 40,
      exitStatus: null,
      message: 'é'.repeat(512),
    },
    { type: T.ERROR, code: 0xffff, message: 'x'.repeat(MAX_TEXT_BYTES) },
    { type: T.PAD, length: 0 },
    { type: T.PAD, length: 100_000 },
    { type: T.INSTRUCT, payload: { cmd: 'send', hosts: ['10.0.0.1:7000'], nested: { k: [1, null, true, 'ü'] } } },
    { type: T.PING, seq: 0 },
  ];
  for (const msg of samples) {
    it(`${frameTypeName(msg.type)}${msg.type === T.SESSION ? ` ${msg.role}` : ''} survives encode → decoder → decode`, () => {
      const got: Message[] = [];
      const dec = new FrameDecoder({ onFrame: (type, body) => got.push(decodeMessage(type, body)) });
      for (const part of encodeMessage(msg)) dec.push(part);
      dec.end();
      expect(got).toEqual([msg]);
    });
  }

  it('DATA and DATA_SEGMENT payloads are passed by reference, not copied', () => {
    const bytes = new Uint8Array(1000).fill(7);
    const data = encodeMessage({ type: T.DATA, offset: 9, bytes });
    expect(data).toHaveLength(2);
    expect(data[0]).toEqual(hex('000003f1 02 0000000000000009'));
    expect(data[1]).toBe(bytes);
    const seg = encodeMessage({ type: T.DATA_SEGMENT, sessionId: ID, index: 0, offset: 9, bytes });
    expect(seg[0]!.length).toBe(5 + 16 + 1 + 8);
    expect(seg[1]).toBe(bytes);
  });

  it('PAD bodies are zeros in parts of at most 64 KiB; decoding PAD keeps only the length', () => {
    const parts = encodeMessage({ type: T.PAD, length: 100_000 });
    expect(parts.map((p) => p.length)).toEqual([5, 65536, 34464]);
    expect(parts.slice(1).every((p) => p.every((b) => b === 0))).toBe(true);
    expect(decodeMessage(T.PAD, new Uint8Array(10).fill(0xff))).toEqual({ type: T.PAD, length: 10 });
  });

  it('a PAD with a head starts its body with it, zeros after; a head longer than the PAD is refused', () => {
    const head = Uint8Array.of(0x61, 1, 0, 30);
    const parts = encodeMessage({ type: T.PAD, length: 10, head });
    const frame = Buffer.concat(parts);
    expect(frame.subarray(0, 5)).toEqual(Buffer.from('0000000b0a', 'hex'));
    expect([...frame.subarray(5)]).toEqual([0x61, 1, 0, 30, 0, 0, 0, 0, 0, 0]);
    expect(decodeMessage(T.PAD, frame.subarray(5))).toEqual({ type: T.PAD, length: 10 });
    expectSmig(() => encodeMessage({ type: T.PAD, length: 3, head }), 'SMIG_ERR_USAGE');
  });

  it('decoded payloads are views of the body, session ids and digests are copies', () => {
    const frame = encodeMessageBytes({ type: T.DATA_SEGMENT, sessionId: ID, index: 1, offset: 0, bytes: hex('0102') });
    const body = frame.subarray(5);
    const msg = decodeMessage(T.DATA_SEGMENT, body);
    if (msg.type !== T.DATA_SEGMENT) throw new Error('type');
    expect(msg.bytes.buffer).toBe(frame.buffer);
    expect(msg.sessionId.buffer).not.toBe(frame.buffer);
    msg.bytes.fill(0); // wiping the payload wipes the received bytes
    expect(body.subarray(25)).toEqual(hex('0000'));
  });

  it('encoders do not modify their inputs', () => {
    const msg: Message = { type: T.KEY_SEGMENT, sessionId: ID.slice(), index: 1, share: hex('0a0b') };
    encodeMessage(msg);
    expect(msg).toEqual({ type: T.KEY_SEGMENT, sessionId: ID, index: 1, share: hex('0a0b') });
  });
});

describe('decodeMessage refuses malformed bodies, naming the field', () => {
  const session = (rest: string): Uint8Array => hex(`05 ${ID_HEX} ${rest}`);
  const cases: [string, number, Uint8Array, string][] = [
    [
      'version',
      T.SESSION,
      hex(`01 ${ID_HEX} 01 03 683a31 02 050302`),
      'SESSION.version: 1 is not supported (this is 5)',
    ],
    ['role', T.SESSION, session('09'), 'SESSION.role: 9 is not a role (1..6)'],
    ['leader without port', T.SESSION, session('01 01 68 02 050302'), "SESSION.leader: 'h' is not host:port"],
    ['leader port 0', T.SESSION, session('01 03 683a30 02 050302'), "SESSION.leader: 'h:0' is not host:port"],
    ['poll leader without port', T.SESSION, session('05 01 68'), "SESSION.leader: 'h' is not host:port"],
    [
      'leader port 65536',
      T.SESSION,
      session('01 07 683a3635353336 02 050302'),
      "SESSION.leader: 'h:65536' is not host:port",
    ],
    ['leader bad UTF-8', T.SESSION, session('01 03 ff3a31 02 050302'), 'SESSION.leader: not valid UTF-8'],
    ['data relay index = count', T.SESSION, session('01 03 683a31 05 050302'), 'SESSION.index: 5 is out of range 0..4'],
    ['key relay index = count', T.SESSION, session('02 03 683a31 03 050302'), 'SESSION.index: 3 is out of range 0..2'],
    [
      'threshold > key relays',
      T.SESSION,
      session('01 03 683a31 00 050304'),
      'SESSION.layout.threshold: 4 is out of range 1..3',
    ],
    ['threshold 0', T.SESSION, session('01 03 683a31 00 050300'), 'SESSION.layout.threshold: 0 is out of range 1..3'],
    [
      'no data relays',
      T.SESSION,
      session('01 03 683a31 00 000302'),
      'SESSION.layout.dataRelays: 0 is out of range 1..255',
    ],
    ['via', T.SESSION, session('03 03 00 050302'), 'SESSION.via: 3 is not 1 (data-relay) or 2 (key-relay)'],
    ['leader index = count', T.SESSION, session('03 01 05 050302'), 'SESSION.index: 5 is out of range 0..4'],
    ['name ..', T.SESSION, session('04 02 2e2e 00 0000000000000000'), "SESSION.name: '..' is not a plain file name"],
    [
      'name with /',
      T.SESSION,
      session('04 03 612f62 00 0000000000000000'),
      "SESSION.name: 'a/b' is not a plain file name",
    ],
    [
      'name with \\',
      T.SESSION,
      session('04 03 615c62 00 0000000000000000'),
      "SESSION.name: 'a\\b' is not a plain file name",
    ],
    ['empty name', T.SESSION, session('04 00 00 0000000000000000'), "SESSION.name: '' is not a plain file name"],
    [
      'name with newline',
      T.SESSION,
      session('04 03 610a62 00 0000000000000000'),
      'SESSION.name: contains a control character',
    ],
    [
      'name with C1 CSI',
      T.SESSION,
      session('04 03 61c29b 00 0000000000000000'),
      'SESSION.name: contains a control character',
    ],
    ['destination flags', T.SESSION, session('04 01 61 02 0000000000000000'), 'SESSION.flags: unknown bits 0x2'],
    [
      'unknown length not 0',
      T.SESSION,
      session('04 01 61 00 0000000000000005'),
      'SESSION.length: must be 0 when not known',
    ],
    ['length > 2^53-1', T.SESSION, session('04 01 61 01 0020000000000000'), 'SESSION.length: exceeds 2^53-1'],
    [
      'SESSION trailing byte',
      T.SESSION,
      session('01 03 683a31 02 050302 00'),
      'SESSION: 1 trailing byte after offset 26',
    ],
    [
      'SESSION truncated id',
      T.SESSION,
      hex('05 0001'),
      'SESSION.sessionId: truncated: needs 16 bytes at offset 1, body has 3',
    ],
    [
      'SESSION truncated string',
      T.SESSION,
      session('01 05 683a31'),
      'SESSION.leader: truncated: needs 5 bytes at offset 19, body has 22',
    ],
    ['DATA empty', T.DATA, hex('0000000000000000'), 'DATA.bytes: empty'],
    ['DATA truncated offset', T.DATA, hex('00000000'), 'DATA.offset: truncated: needs 8 bytes at offset 0, body has 4'],
    ['DATA past 2^53-1', T.DATA, hex('001fffffffffffff 0102'), 'DATA: offset + length exceeds 2^53-1'],
    ['KEY empty', T.KEY, new Uint8Array(0), 'KEY.share: empty'],
    ['KEY too long', T.KEY, new Uint8Array(257), 'KEY.share: 257 bytes, at most 256 allowed'],
    [
      'DATA_SEGMENT index 255',
      T.DATA_SEGMENT,
      hex(`${ID_HEX} ff 0000000000000000 01`),
      'DATA_SEGMENT.index: 255 is out of range 0..254',
    ],
    ['DATA_SEGMENT empty', T.DATA_SEGMENT, hex(`${ID_HEX} 00 0000000000000000`), 'DATA_SEGMENT.bytes: empty'],
    ['KEY_SEGMENT empty', T.KEY_SEGMENT, hex(`${ID_HEX} 00`), 'KEY_SEGMENT.share: empty'],
    ['PROGRESS > 2^53-1', T.PROGRESS, hex('0020000000000000'), 'PROGRESS.offset: exceeds 2^53-1'],
    ['PROGRESS trailing', T.PROGRESS, hex('0000000000000000 00'), 'PROGRESS: 1 trailing byte after offset 8'],
    ['END 9 bytes', T.END, hex('000000000000000000'), 'END: body of 9 bytes, expected 8 or 40'],
    ['DONE flags', T.DONE, hex(`08 ${'00'.repeat(32)} 0000000000000000 00000000`), 'DONE.flags: unknown bits 0x8'],
    [
      'DONE receipt length 0',
      T.DONE,
      hex(`05 ${'00'.repeat(32)} 0000000000000000 00000000 00`),
      'DONE.receipt.length: 0 is out of range 1..65',
    ],
    [
      'DONE receipt too long',
      T.DONE,
      hex(`05 ${'00'.repeat(32)} 0000000000000000 00000000 42 ${'00'.repeat(66)}`),
      'DONE.receipt.length: 66 is out of range 1..65',
    ],
    [
      'DONE absent status not 0',
      T.DONE,
      hex(`01 ${'00'.repeat(32)} 0000000000000000 00000001`),
      'DONE.exitStatus: must be 0 when absent',
    ],
    [
      'DONE truncated',
      T.DONE,
      hex(`01 ${'00'.repeat(32)} 0000000000000000 0000`),
      'DONE.exitStatus: truncated: needs 4 bytes at offset 41, body has 43',
    ],
    [
      'DONE message control char',
      T.DONE,
      hex(`01 ${'00'.repeat(32)} 0000000000000000 00000000 611b5b32`),
      'DONE.message: contains a control character',
    ],
    ['ERROR 1 byte', T.ERROR, hex('00'), 'ERROR.code: truncated: needs 2 bytes at offset 0, body has 1'],
    [
      'ERROR message too long',
      T.ERROR,
      new Uint8Array(2 + 1025).fill(0x41),
      'ERROR.message: 1025 bytes, at most 1024 allowed',
    ],
    ['ERROR bad UTF-8', T.ERROR, hex('0001 c3'), 'ERROR.message: not valid UTF-8'],
    ['INSTRUCT array', T.INSTRUCT, new TextEncoder().encode('[1]'), 'INSTRUCT.payload: not a JSON object'],
    ['INSTRUCT null', T.INSTRUCT, new TextEncoder().encode('null'), 'INSTRUCT.payload: not a JSON object'],
    ['STATUS not JSON', T.STATUS, new TextEncoder().encode('{"a":'), 'STATUS.payload: not valid JSON'],
    ['STATUS bad UTF-8', T.STATUS, hex('7bff7d'), 'STATUS.payload: not valid UTF-8'],
    [
      'STATUS too large',
      T.STATUS,
      new Uint8Array(65537).fill(0x20),
      'STATUS.payload: 65537 bytes, at most 65536 allowed',
    ],
    ['PING trailing', T.PING, hex('0000000100'), 'PING: 1 trailing byte after offset 4'],
    ['PONG truncated', T.PONG, hex('000000'), 'PONG.seq: truncated: needs 4 bytes at offset 0, body has 3'],
  ];
  for (const [name, type, body, message] of cases) {
    it(name, () => expectSmig(() => decodeMessage(type, body), 'SMIG_ERR_FRAME_MALFORMED', message));
  }

  it('unknown type', () => {
    expectSmig(() => decodeMessage(0x7f, new Uint8Array(0)), 'SMIG_ERR_FRAME_TYPE', 'unknown frame type 0x7f');
  });

  it('every proper prefix of a fixed-layout body is refused', () => {
    const fixed = VECTORS.filter(([, m]) => [T.SESSION, T.PROGRESS, T.END, T.PING, T.PONG].includes(m.type as 1));
    for (const [name, , frameHex] of fixed) {
      const body = hex(frameHex).subarray(5);
      for (let n = 0; n < body.length; n++) {
        if (name === 'END with sha256' && n === 8) continue; // the 8-byte prefix is a valid END without digest
        expectSmig(() => decodeMessage(hex(frameHex)[4]!, body.subarray(0, n)), 'SMIG_ERR_FRAME_MALFORMED');
      }
    }
    const done = hex(VECTORS.find(([n]) => n === 'DONE ok with exit status')![2]).subarray(5);
    for (let n = 0; n < 45; n++)
      expectSmig(() => decodeMessage(T.DONE, done.subarray(0, n)), 'SMIG_ERR_FRAME_MALFORMED');
    const seg = hex(VECTORS.find(([n]) => n === 'DATA_SEGMENT at 2^32')![2]).subarray(5);
    for (let n = 0; n < 26; n++)
      expectSmig(() => decodeMessage(T.DATA_SEGMENT, seg.subarray(0, n)), 'SMIG_ERR_FRAME_MALFORMED');
  });
});

describe('encodeMessage validates with the same rules', () => {
  const dest = (name: string): Message => ({ type: T.SESSION, sessionId: ID, role: 'destination', name, length: null });
  it('names the field', () => {
    expectSmig(
      () => encodeMessage(dest('x'.repeat(256))),
      'SMIG_ERR_FRAME_MALFORMED',
      'SESSION.name: 256 bytes, at most 255 allowed',
    );
    expectSmig(
      () => encodeMessage(dest('a\ud800b')),
      'SMIG_ERR_FRAME_MALFORMED',
      'SESSION.name: not valid Unicode (lone surrogate)',
    );
    expectSmig(
      () => encodeMessage(dest('../etc')),
      'SMIG_ERR_FRAME_MALFORMED',
      "SESSION.name: '../etc' is not a plain file name",
    );
    expectSmig(
      () => encodeMessage({ type: T.SESSION, sessionId: ID.subarray(1), role: 'destination', name: 'a', length: null }),
      'SMIG_ERR_FRAME_MALFORMED',
      'SESSION.sessionId: 15 bytes, expected 16',
    );
    expectSmig(
      () =>
        encodeMessage({ type: T.SESSION, sessionId: ID, role: 'key-relay', leader: 'h:1', index: 3, layout: LAYOUT }),
      'SMIG_ERR_FRAME_MALFORMED',
      'SESSION.index: 3 is out of range 0..2',
    );
    expectSmig(
      () =>
        encodeMessage({
          type: T.SESSION,
          sessionId: ID,
          role: 'data-relay',
          leader: 'nohost',
          index: 0,
          layout: LAYOUT,
        }),
      'SMIG_ERR_FRAME_MALFORMED',
      "SESSION.leader: 'nohost' is not host:port",
    );
    expectSmig(
      () => encodeMessage({ type: T.DATA, offset: -1, bytes: hex('00') }),
      'SMIG_ERR_FRAME_MALFORMED',
      'DATA.offset: -1 is out of range 0..9007199254740991',
    );
    expectSmig(() => encodeMessage({ type: T.DATA, offset: 1.5, bytes: hex('00') }), 'SMIG_ERR_FRAME_MALFORMED');
    expectSmig(
      () => encodeMessage({ type: T.DATA, offset: 0, bytes: new Uint8Array(0) }),
      'SMIG_ERR_FRAME_MALFORMED',
      'DATA.bytes: empty',
    );
    expectSmig(
      () => encodeMessage({ type: T.END, length: 1, sha256: new Uint8Array(31) }),
      'SMIG_ERR_FRAME_MALFORMED',
      'END.sha256: 31 bytes, expected 32',
    );
    expectSmig(
      () => encodeMessage({ type: T.ERROR, code: 65536, message: '' }),
      'SMIG_ERR_FRAME_MALFORMED',
      'ERROR.code: 65536 is out of range 0..65535',
    );
    expectSmig(
      () => encodeMessage({ type: T.ERROR, code: 1, message: 'two\nlines' }),
      'SMIG_ERR_FRAME_MALFORMED',
      'ERROR.message: contains a control character',
    );
    expectSmig(
      () => encodeMessage({ type: T.PING, seq: 2 ** 32 }),
      'SMIG_ERR_FRAME_MALFORMED',
      'PING.seq: 4294967296 is out of range 0..4294967295',
    );
  });

  it('refuses payloads JSON cannot carry', () => {
    expectSmig(
      () => encodeMessage({ type: T.INSTRUCT, payload: [1] as unknown as Record<string, unknown> }),
      'SMIG_ERR_FRAME_MALFORMED',
      'INSTRUCT.payload: not a JSON object',
    );
    expectSmig(() => encodeMessage({ type: T.STATUS, payload: { n: 1n } }), 'SMIG_ERR_FRAME_MALFORMED');
    expectSmig(
      () => encodeMessage({ type: T.STATUS, payload: { s: 'x'.repeat(65536) } }),
      'SMIG_ERR_FRAME_MALFORMED',
      'STATUS.payload: 65544 bytes, at most 65536 allowed',
    );
  });

  it('refuses a frame over the maximum with SMIG_ERR_FRAME_TOO_LARGE', () => {
    expectSmig(
      () => encodeMessage({ type: T.DATA, offset: 0, bytes: new Uint8Array(42) }, 50),
      'SMIG_ERR_FRAME_TOO_LARGE',
      'DATA frame: length 51 exceeds the maximum 50',
    );
    expect(encodeMessage({ type: T.DATA, offset: 0, bytes: new Uint8Array(41) }, 50)[0]!.subarray(0, 4)).toEqual(
      hex('00000032'),
    );
    expectSmig(() => encodeMessage({ type: T.PAD, length: 2 ** 32 }), 'SMIG_ERR_FRAME_TOO_LARGE');
  });
});

describe('error helpers', () => {
  it('toWireText makes any text one bounded line', () => {
    expect(toWireText('a\nb\u0000c\u009bd')).toBe('a b c d');
    expect(toWireText('x\ud800y')).toBe('x\ufffdy');
    expect(toWireText('é'.repeat(600))).toBe('é'.repeat(512));
    expect(toWireText('€'.repeat(400))).toBe('€'.repeat(341)); // 3-byte chars: 1023 bytes, not a split char
    expect(toWireText('abcdef', 4)).toBe('abcd');
  });

  it('errorMessageFor maps codes and sanitizes; peerError wraps what a peer reported', () => {
    expect(errorMessageFor(new SmigError('SMIG_ERR_AUTH', 'bad tag\nat segment 3'))).toEqual({
      type: T.ERROR,
      code: 7,
      message: 'bad tag at segment 3',
    });
    expect(errorMessageFor(new Error('boom'))).toEqual({ type: T.ERROR, code: 0, message: 'boom' });
    expect(errorMessageFor(new SmigError('SMIG_ERR_USAGE', 'u')).code).toBe(0);
    const err = peerError({ type: T.ERROR, code: 7, message: 'bad tag' }, 'leader 127.0.0.1:7000');
    expect(err).toMatchObject({
      code: 'SMIG_ERR_PEER',
      message: 'leader 127.0.0.1:7000 reported SMIG_ERR_AUTH: bad tag',
    });
    expect(wireErrorName(0)).toBe('unspecified');
    expect(wireErrorName(999)).toBe('code 999');
    const numbers = Object.values(WIRE_ERROR_CODES);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers).not.toContain(0);
  });

  it('session id helpers', () => {
    expect(sessionIdHex(ID)).toBe(ID_HEX);
    expect(sameSessionId(ID, ID.slice())).toBe(true);
    expect(sameSessionId(ID, new Uint8Array(16))).toBe(false);
    expect(sameSessionId(ID, ID.subarray(1))).toBe(false);
  });
});

describe('ProtocolState', () => {
  /** Feeds frame types; returns the error message of the first refusal, or 'ok'. */
  function run(role: LinkRole, types: number[]): string {
    const s = new ProtocolState(role);
    try {
      for (const t of types) s.accept(t);
      return 'ok';
    } catch (err) {
      expect(err).toBeInstanceOf(SmigError);
      expect((err as SmigError).code).toBe('SMIG_ERR_PROTOCOL_STATE');
      return (err as SmigError).message;
    }
  }
  const {
    SESSION,
    DATA,
    KEY,
    DATA_SEGMENT,
    KEY_SEGMENT,
    PROGRESS,
    END,
    DONE,
    ERROR,
    PAD,
    INSTRUCT,
    STATUS,
    PING,
    PONG,
  } = T;

  it('accepts each role’s grammar, with PAD/PING/PONG anywhere', () => {
    expect(run('data-relay', [PAD, SESSION, DATA, PING, DATA, PAD, END, PONG])).toBe('ok');
    expect(run('data-relay', [SESSION, END])).toBe('ok');
    expect(run('key-relay', [SESSION, KEY, END])).toBe('ok');
    expect(run('leader', [SESSION, DATA_SEGMENT, DATA_SEGMENT, END])).toBe('ok');
    expect(run('leader', [SESSION, KEY_SEGMENT, END])).toBe('ok');
    expect(run('leader', [SESSION, END])).toBe('ok');
    expect(run('destination', [SESSION, DATA, DATA, END])).toBe('ok');
    expect(run('reply', [PROGRESS, PROGRESS, PING, DONE])).toBe('ok');
    expect(run('reply', [DONE])).toBe('ok');
    expect(run('reply', [PROGRESS, PING, END])).toBe('ok'); // a released data link
    expect(run('key-reply', [PROGRESS, DONE])).toBe('ok');
    expect(run('control', [INSTRUCT, STATUS, INSTRUCT])).toBe('ok');
  });

  it('refuses out-of-order frames with a message naming role, frame and position', () => {
    expect(run('data-relay', [DATA])).toBe('data-relay link: DATA before SESSION (expected SESSION)');
    expect(run('data-relay', [SESSION, SESSION])).toBe('data-relay link: SESSION after SESSION (expected DATA or END)');
    expect(run('data-relay', [SESSION, DATA, END, DATA])).toBe(
      'data-relay link: DATA after END (expected nothing more)',
    );
    expect(run('data-relay', [SESSION, KEY])).toBe('data-relay link: KEY after SESSION (expected DATA or END)');
    expect(run('key-relay', [SESSION, KEY, KEY])).toBe('key-relay link: KEY after KEY (expected END)');
    expect(run('key-relay', [SESSION, END])).toBe('key-relay link: END after SESSION (expected KEY)');
    expect(run('key-relay', [KEY])).toBe('key-relay link: KEY before SESSION (expected SESSION)');
    expect(run('leader', [SESSION, DATA_SEGMENT, KEY_SEGMENT])).toBe(
      'leader link: KEY_SEGMENT after DATA_SEGMENT (expected DATA_SEGMENT or END)',
    );
    expect(run('leader', [SESSION, KEY_SEGMENT, KEY_SEGMENT])).toBe(
      'leader link: KEY_SEGMENT after KEY_SEGMENT (expected END)',
    );
    expect(run('leader', [SESSION, DATA])).toBe(
      'leader link: DATA after SESSION (expected DATA_SEGMENT or KEY_SEGMENT or END)',
    );
    expect(run('destination', [SESSION, DATA_SEGMENT])).toBe(
      'destination link: DATA_SEGMENT after SESSION (expected DATA or END)',
    );
    expect(run('reply', [SESSION])).toBe('reply link: SESSION at the start (expected PROGRESS or END or DONE)');
    expect(run('reply', [END, PROGRESS])).toBe('reply link: PROGRESS after END (expected nothing more)');
    expect(run('reply', [END, DONE])).toBe('reply link: DONE after END (expected nothing more)');
    expect(run('reply', [DONE, PROGRESS])).toBe('reply link: PROGRESS after DONE (expected nothing more)');
    expect(run('control', [DATA])).toBe('control link: DATA at the start (expected INSTRUCT or STATUS)');
    expect(run('data-relay', [0x63])).toBe('data-relay link: type 0x63 before SESSION (expected SESSION)');
  });

  it('ERROR is accepted in any state, and nothing after it', () => {
    for (const role of ['data-relay', 'key-relay', 'leader', 'destination', 'reply', 'key-reply', 'control'] as const) {
      expect(run(role, [ERROR])).toBe('ok');
    }
    expect(run('data-relay', [SESSION, DATA, END, ERROR])).toBe('ok');
    expect(run('data-relay', [SESSION, ERROR, PING])).toBe(
      'data-relay link: PING after ERROR (expected nothing after ERROR)',
    );
    expect(run('reply', [ERROR, ERROR])).toBe('reply link: ERROR after ERROR (expected nothing after ERROR)');
  });

  it('tracks completion and checks closes', () => {
    const s = new ProtocolState('data-relay');
    expect(s.state).toBe('start');
    expect(() => s.checkClose()).toThrowError('data-relay link: closed before SESSION (expected SESSION)');
    s.accept(SESSION);
    s.accept(DATA);
    expect(s.complete).toBe(false);
    expect(() => s.checkClose()).toThrowError('data-relay link: closed after DATA (expected DATA or END)');
    s.accept(END);
    expect(s.complete).toBe(true);
    expect(s.state).toBe('ended');
    expect(() => s.checkClose()).not.toThrow();

    // a key relay's reply link may be closed before DONE (released once the leader has the key), not after PROGRESS
    const k = new ProtocolState('key-reply');
    expect(k.complete).toBe(true);
    expect(() => k.checkClose()).not.toThrow();
    k.accept(DONE);
    expect(() => k.accept(PROGRESS)).toThrowError('key-reply link: PROGRESS after DONE (expected nothing more)');

    const r = new ProtocolState('reply');
    r.accept(PROGRESS);
    expect(() => r.checkClose()).toThrowError(
      expect.objectContaining({
        code: 'SMIG_ERR_PROTOCOL_STATE',
        message: 'reply link: closed after PROGRESS (expected PROGRESS or END or DONE)',
      }),
    );
    r.accept(ERROR);
    expect(r.failed).toBe(true);
    expect(r.complete).toBe(false);
    expect(() => r.checkClose()).not.toThrow();

    // a released data link: END{n} ends the reply stream, and the close after it is complete
    const released = new ProtocolState('reply');
    released.accept(PROGRESS);
    released.accept(END);
    expect(released.state).toBe('released');
    expect(released.complete).toBe(true);
    expect(() => released.checkClose()).not.toThrow();

    // a poll: the asker sends its SESSION only; the answer is one PROGRESS or DONE, and a close before it is early
    const p = new ProtocolState('poll');
    p.accept(SESSION);
    expect(p.complete).toBe(true);
    expect(() => p.accept(DATA)).toThrowError('poll link: DATA after SESSION (expected nothing more)');
    const a = new ProtocolState('poll-reply');
    expect(() => a.checkClose()).toThrowError('poll-reply link: closed at the start (expected PROGRESS or DONE)');
    a.accept(PROGRESS);
    expect(a.complete).toBe(true);
    expect(() => a.accept(DONE)).toThrowError('poll-reply link: DONE after PROGRESS (expected nothing more)');

    expect(new ProtocolState('control').complete).toBe(true);
    expect(() => new ProtocolState('bogus' as LinkRole)).toThrowError(RangeError);
    expect(() => new ProtocolState('constructor' as LinkRole)).toThrowError(RangeError);
  });
});

describe('a session over in-memory links (the API the roles use)', () => {
  it('source → data relay → leader, with PROGRESS and DONE back along the same links', () => {
    const ciphertext = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    // source side: what it writes to data relay 0
    const toRelay: Uint8Array[] = [
      ...encodeMessage({
        type: T.SESSION,
        sessionId: ID,
        role: 'data-relay',
        leader: '127.0.0.1:7001',
        index: 0,
        layout: LAYOUT,
      }),
      ...encodeMessage({ type: T.DATA, offset: 0, bytes: ciphertext.subarray(0, 200) }),
      ...encodeMessage({ type: T.PAD, length: 17 }),
      ...encodeMessage({ type: T.DATA, offset: 200, bytes: ciphertext.subarray(200) }),
      ...encodeMessage({ type: T.END, length: 300, sha256: null }),
    ];

    // relay: checks order, marks as DATA_SEGMENT, forwards
    const toLeader: Uint8Array[] = [];
    const relayState = new ProtocolState('data-relay');
    let session: Message | undefined;
    const relay = new FrameDecoder({
      onFrame(type, body) {
        relayState.accept(type);
        const msg = decodeMessage(type, body);
        if (msg.type === T.SESSION && msg.role === 'data-relay') {
          session = msg;
          toLeader.push(
            ...encodeMessage({
              type: T.SESSION,
              sessionId: msg.sessionId,
              role: 'leader',
              via: 'data-relay',
              index: msg.index,
              layout: msg.layout,
            }),
          );
        } else if (msg.type === T.DATA) {
          toLeader.push(
            ...encodeMessage({ type: T.DATA_SEGMENT, sessionId: ID, index: 0, offset: msg.offset, bytes: msg.bytes }),
          );
        } else if (msg.type === T.END) {
          toLeader.push(...encodeMessage(msg));
        }
      },
    });
    for (const part of toRelay) relay.push(part);
    relay.end();
    relayState.checkClose();
    expect(session).toMatchObject({ leader: '127.0.0.1:7001', layout: LAYOUT });

    // leader: reassembles, answers PROGRESS and DONE on the relay link
    const leaderState = new ProtocolState('leader');
    const received = new Uint8Array(300);
    let contiguous = 0;
    const back: Uint8Array[] = [];
    const leader = new FrameDecoder({
      onFrame(type, body) {
        leaderState.accept(type);
        const msg = decodeMessage(type, body);
        if (msg.type === T.DATA_SEGMENT) {
          expect(sameSessionId(msg.sessionId, ID)).toBe(true);
          received.set(msg.bytes, msg.offset);
          contiguous = msg.offset + msg.bytes.length;
          back.push(...encodeMessage({ type: T.PROGRESS, offset: contiguous }));
        } else if (msg.type === T.END) {
          expect(msg.length).toBe(contiguous);
          back.push(
            ...encodeMessage({
              type: T.DONE,
              ok: true,
              sha256: new Uint8Array(32),
              length: 300,
              exitStatus: 0,
              message: '',
            }),
          );
        }
      },
    });
    for (const part of toLeader) leader.push(part);
    leader.end();
    leaderState.checkClose();
    expect(received).toEqual(ciphertext);

    // source side of the relay link reads the replies (forwarded verbatim by the relay)
    const replyState = new ProtocolState('reply');
    const replies: Message[] = [];
    const source = new FrameDecoder({
      onFrame: (type, body) => (replyState.accept(type), replies.push(decodeMessage(type, body))),
    });
    source.push(Buffer.concat(back));
    source.end();
    replyState.checkClose();
    expect(replies.map((m) => (m.type === T.PROGRESS ? m.offset : m.type))).toEqual([200, 300, T.DONE]);
  });
});

describe('decoded session ids and digests own their memory', () => {
  // Regression: Buffer#slice returns a view, so wiping a Buffer-backed frame body (as the roles do after
  // forwarding a share) used to zero the session id the leader had kept.
  it('survive wiping the Buffer-backed body they came from', () => {
    const seg = encodeMessageBytes({ type: T.KEY_SEGMENT, sessionId: ID, index: 1, share: new Uint8Array(33).fill(7) });
    const body = Buffer.from(seg.subarray(5));
    const msg = decodeMessage(T.KEY_SEGMENT, body) as Extract<Message, { type: typeof T.KEY_SEGMENT }>;
    body.fill(0);
    expect(msg.sessionId).toEqual(ID);
    const done = encodeMessageBytes({
      type: T.DONE,
      ok: true,
      sha256: new Uint8Array(32).fill(3),
      length: 5,
      exitStatus: 0,
      message: '',
    });
    const dbody = Buffer.from(done.subarray(5));
    const d = decodeMessage(T.DONE, dbody) as Extract<Message, { type: typeof T.DONE }>;
    dbody.fill(0);
    expect(d.sha256).toEqual(new Uint8Array(32).fill(3));
  });
});
