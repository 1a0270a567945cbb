/**
 * The optional pacing plan of the relay and leader SESSION messages (messages.ts: `[| u16 planLength | plan]`
 * after the layout). Known-answer vectors are written by hand from that layout; the size cap is the pacing
 * module's PLAN_MAX_JSON_BYTES.
 */
import { describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import { createPlan, PLAN_MAX_JSON_BYTES, parsePlan, stringifyPlan } from '../../src/pacing/plan.js';
import type { Message, SessionLayout } from '../../src/protocol/index.js';
import { decodeMessage, encodeMessageBytes, FrameType, MAX_PLAN_BYTES } from '../../src/protocol/index.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ID_HEX = '000102030405060708090a0b0c0d0e0f';
const ID = hex(ID_HEX);
const LAYOUT: SessionLayout = { dataRelays: 5, keyRelays: 3, threshold: 2 };
const T = FrameType;
const body = (frame: Uint8Array): Uint8Array => frame.subarray(5);

function refused(type: number, b: Uint8Array): SmigError {
  try {
    decodeMessage(type, b);
  } catch (err) {
    expect(err).toBeInstanceOf(SmigError);
    return err as SmigError;
  }
  throw new Error('expected a SmigError');
}

describe('SESSION plan field', () => {
  it('is the protocol bound the pacing module promises', () => {
    expect(MAX_PLAN_BYTES).toBe(PLAN_MAX_JSON_BYTES);
  });

  const vectors: [string, Message, string][] = [
    [
      'data-relay with plan {}',
      { type: T.SESSION, sessionId: ID, role: 'data-relay', leader: 'h:1', index: 2, layout: LAYOUT, plan: '{}' },
      // len 31 = 27 (as without plan) + 2 length + 2 text
      `0000001f 01  05 ${ID_HEX} 01 03 683a31 02 05 03 02  0002 7b7d`,
    ],
    [
      'key-relay with plan {"a":1}',
      { type: T.SESSION, sessionId: ID, role: 'key-relay', leader: 'h:1', index: 0, layout: LAYOUT, plan: '{"a":1}' },
      `00000024 01  05 ${ID_HEX} 02 03 683a31 00 05 03 02  0007 7b2261223a317d`,
    ],
    [
      'leader via data-relay with plan {}',
      { type: T.SESSION, sessionId: ID, role: 'leader', via: 'data-relay', index: 4, layout: LAYOUT, plan: '{}' },
      // len 28 = 1 type + 1 version + 16 id + 1 role + 1 via + 1 index + 3 layout + 2 length + 2 text
      `0000001c 01  05 ${ID_HEX} 03 01 04 05 03 02  0002 7b7d`,
    ],
  ];
  for (const [name, msg, frame] of vectors) {
    it(`${name}: encodes to the hand-written bytes and decodes back`, () => {
      const bytes = encodeMessageBytes(msg);
      expect(Buffer.from(bytes).toString('hex')).toBe(frame.replace(/\s+/g, ''));
      expect(decodeMessage(T.SESSION, body(bytes))).toEqual(msg);
    });
  }

  it('absent: the body is byte-identical to a SESSION from before the field, and decodes without a plan', () => {
    const msg: Message = {
      type: T.SESSION,
      sessionId: ID,
      role: 'data-relay',
      leader: 'h:1',
      index: 2,
      layout: LAYOUT,
    };
    const bytes = encodeMessageBytes(msg);
    expect(Buffer.from(bytes).toString('hex')).toBe(`0000001b0105${ID_HEX}0103683a3102050302`);
    const back = decodeMessage(T.SESSION, body(bytes));
    expect(back).toEqual(msg);
    expect('plan' in back).toBe(false);
  });

  it('a real profile plan fits and survives the round trip verbatim', () => {
    const text = stringifyPlan(createPlan({ strategy: 'constant', rate: 16_000, seed: 7 }));
    const msg: Message = {
      type: T.SESSION,
      sessionId: ID,
      role: 'leader',
      via: 'key-relay',
      index: 1,
      layout: LAYOUT,
      plan: text,
    };
    const back = decodeMessage(T.SESSION, body(encodeMessageBytes(msg)));
    expect(back).toEqual(msg);
    expect(parsePlan((back as { plan: string }).plan)).toMatchObject({ strategy: 'constant', rate: 16_000, seed: 7 });
  });

  it('a plan of exactly MAX_PLAN_BYTES round-trips; one byte more is refused by the encoder', () => {
    const max = `"${'x'.repeat(MAX_PLAN_BYTES - 2)}"`;
    const msg = {
      type: T.SESSION,
      sessionId: ID,
      role: 'data-relay',
      leader: 'h:1',
      index: 0,
      layout: LAYOUT,
      plan: max,
    } as const;
    expect(decodeMessage(T.SESSION, body(encodeMessageBytes(msg)))).toEqual(msg);
    expect(() => encodeMessageBytes({ ...msg, plan: `${max} ` })).toThrow(
      `SESSION.plan: ${MAX_PLAN_BYTES + 1} bytes, at most ${MAX_PLAN_BYTES} allowed`,
    );
    expect(() => encodeMessageBytes({ ...msg, plan: '' })).toThrow('SESSION.plan: empty (leave it out for bulk)');
    expect(() => encodeMessageBytes({ ...msg, plan: '{"a":"\n"}' })).toThrow(
      'SESSION.plan: contains a control character',
    );
  });

  const session = (rest: string): Uint8Array => hex(`05 ${ID_HEX} 01 03 683a31 02 050302 ${rest}`);
  const cases: [string, Uint8Array, string][] = [
    ['one trailing byte is still a trailing byte', session('00'), 'SESSION: 1 trailing byte after offset 26'],
    ['length 0', session('0000'), 'SESSION.plan.length: 0 is out of range 1..32768'],
    [
      'length 32769 (before any byte of it is read)',
      session('8001'),
      'SESSION.plan.length: 32769 is out of range 1..32768',
    ],
    ['truncated', session('0005 7b7d'), 'SESSION.plan: truncated: needs 5 bytes at offset 28, body has 30'],
    ['bad UTF-8', session('0002 7bff'), 'SESSION.plan: not valid UTF-8'],
    ['control character', session('0003 7b0a7d'), 'SESSION.plan: contains a control character'],
    ['bytes after the plan', session('0002 7b7d 00'), 'SESSION: 1 trailing byte after offset 30'],
    [
      'leader SESSION, length 0',
      hex(`05 ${ID_HEX} 03 01 00 050302 0000`),
      'SESSION.plan.length: 0 is out of range 1..32768',
    ],
  ];
  for (const [name, b, message] of cases) {
    it(`refuses ${name}`, () => {
      const err = refused(T.SESSION, b);
      expect(err.code).toBe('SMIG_ERR_FRAME_MALFORMED');
      expect(err.message).toBe(message);
    });
  }
});
