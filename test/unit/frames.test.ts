import { describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import {
  checkedLength,
  concatParts,
  DEFAULT_MAX_FRAME_LENGTH,
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_LENGTH,
  FrameType,
  frameTypeName,
  isFrameType,
} from '../../src/protocol/index.js';

/** Hex (spaces allowed) → bytes. Vectors below are written by hand from the layout in frames.ts. */
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('frame type numbers (on the wire, must never change)', () => {
  it('has the documented values', () => {
    expect(FrameType).toEqual({
      SESSION: 1,
      DATA: 2,
      KEY: 3,
      DATA_SEGMENT: 4,
      KEY_SEGMENT: 5,
      PROGRESS: 6,
      END: 7,
      DONE: 8,
      ERROR: 9,
      PAD: 10,
      INSTRUCT: 11,
      STATUS: 12,
      PING: 13,
      PONG: 14,
    });
    expect(FRAME_HEADER_LENGTH).toBe(5);
    expect(DEFAULT_MAX_FRAME_LENGTH).toBe(16 * 1024 * 1024);
  });

  it('names known and unknown types', () => {
    expect(frameTypeName(FrameType.KEY_SEGMENT)).toBe('KEY_SEGMENT');
    expect(frameTypeName(0x2a)).toBe('type 0x2a');
    expect(frameTypeName(0)).toBe('type 0x00');
    expect(isFrameType(14)).toBe(true);
    expect(isFrameType(0)).toBe(false);
    expect(isFrameType(15)).toBe(false);
    expect(isFrameType(1.5)).toBe(false);
  });
});

describe('encodeFrame', () => {
  it('PING seq 7: u32 length 5 (type + 4), type 0x0d, body', () => {
    const body = hex('00000007');
    const parts = encodeFrame(FrameType.PING, body);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toEqual(hex('00000005 0d'));
    expect(parts[1]).toBe(body); // the body is handed back, not copied
  });

  it('keeps body parts as given, skips empty ones, and counts them all in the length', () => {
    const a = hex('0000000000000102');
    const b = hex('616263');
    const parts = encodeFrame(FrameType.DATA, [a, new Uint8Array(0), b]);
    expect(parts[0]).toEqual(hex('0000000c 02'));
    expect(parts.slice(1)).toEqual([a, b]);
    expect(parts[1]).toBe(a);
    expect(parts[2]).toBe(b);
    expect(concatParts(parts)).toEqual(hex('0000000c 02 0000000000000102 616263'));
  });

  it('an empty body gives a lone header with length 1', () => {
    expect(encodeFrame(FrameType.PAD, new Uint8Array(0))).toEqual([hex('00000001 0a')]);
  });

  it('refuses a frame over the maximum with SMIG_ERR_FRAME_TOO_LARGE, before touching the body', () => {
    expect(() => encodeFrame(FrameType.PAD, new Uint8Array(100), 100)).toThrowError(
      expect.objectContaining({
        name: 'SmigError',
        code: 'SMIG_ERR_FRAME_TOO_LARGE',
        message: 'PAD frame: length 101 exceeds the maximum 100',
      }),
    );
    expect(encodeFrame(FrameType.PAD, new Uint8Array(99), 100)[0]).toEqual(hex('00000064 0a'));
    expect(checkedLength(FrameType.DATA, DEFAULT_MAX_FRAME_LENGTH - 1)).toBe(DEFAULT_MAX_FRAME_LENGTH);
    expect(() => checkedLength(FrameType.DATA, DEFAULT_MAX_FRAME_LENGTH)).toThrowError(SmigError);
  });

  it('refuses an unknown type with a RangeError (a programming error, not input)', () => {
    expect(() => encodeFrame(0x42 as FrameType, new Uint8Array(1))).toThrowError(RangeError);
  });
});

describe('encodeFrameHeader / encodeFrame', () => {
  it('writes a header into a given buffer at an offset', () => {
    const out = new Uint8Array(9).fill(0xee);
    const h = encodeFrameHeader(FrameType.END, 8, undefined, out, 3);
    expect(out).toEqual(hex('eeeeee 00000009 07 ee'));
    expect(h.byteOffset).toBe(3);
  });

  it('encodes a whole frame whose parts join to the exact bytes', () => {
    expect(concatParts(encodeFrame(FrameType.ERROR, [hex('0004'), hex('626164')]))).toEqual(
      hex('00000006 09 0004 626164'),
    );
  });

  it('refuses an oversize frame with the coded error before building it', () => {
    expect(() => encodeFrame(FrameType.PAD, new Uint8Array(10), 10)).toThrowError(
      expect.objectContaining({ code: 'SMIG_ERR_FRAME_TOO_LARGE' }),
    );
  });

  it('does not modify its inputs', () => {
    const body = hex('0102030405');
    const copy = body.slice();
    encodeFrame(FrameType.KEY, body);
    expect(body).toEqual(copy);
  });
});
