import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SmigError } from '../../src/errors.js';
import {
  DEFAULT_MAX_FRAME_LENGTH,
  decodeMessage,
  encodeMessageBytes,
  FrameDecoder,
  FrameType,
  type LinkRole,
  ProtocolState,
} from '../../src/protocol/index.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Got {
  type: number;
  body: Uint8Array;
}

function collector(opts: { maxFrameLength?: number; maxBufferedBytes?: number } = {}): {
  dec: FrameDecoder;
  got: Got[];
} {
  const got: Got[] = [];
  const dec = new FrameDecoder({ ...opts, onFrame: (type, body) => got.push({ type, body }) });
  return { dec, got };
}

/** Bodies compared as hex only after all pushes: a view handed out must stay intact afterwards. */
const summary = (got: Got[]): string[] => got.map((g) => `${g.type}:${toHex(g.body)}`);

// Three frames written by hand from the layout (u32 length = type + body, u8 type, body):
//   PING seq 7           00000005 0d 00000007
//   DATA off 0x102 "abc" 0000000c 02 0000000000000102 616263
//   PAD (empty body)     00000001 0a
const STREAM = hex('00000005 0d 00000007  0000000c 02 0000000000000102 616263  00000001 0a');
const EXPECTED = ['13:00000007', '2:0000000000000102616263', '10:'];

function expectSmig(fn: () => void, code: string, message?: string): SmigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SmigError);
  expect((caught as SmigError).code).toBe(code);
  if (message !== undefined) expect((caught as SmigError).message).toBe(message);
  return caught as SmigError;
}

describe('FrameDecoder: splitting', () => {
  it('decodes a whole stream in one push', () => {
    const { dec, got } = collector();
    dec.push(STREAM);
    dec.end();
    expect(summary(got)).toEqual(EXPECTED);
  });

  it('gives the same frames for every split point', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      const { dec, got } = collector();
      dec.push(STREAM.subarray(0, i));
      dec.push(STREAM.subarray(i));
      dec.end();
      expect(summary(got), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same frames for every pair of split points', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      for (let j = i; j <= STREAM.length; j++) {
        const { dec, got } = collector();
        dec.push(STREAM.subarray(0, i));
        dec.push(STREAM.subarray(i, j));
        dec.push(STREAM.subarray(j));
        dec.end();
        expect(summary(got), `split at ${i}, ${j}`).toEqual(EXPECTED);
      }
    }
  });

  it('gives the same frames fed one byte at a time, with buffered tracking the partial frame', () => {
    const { dec, got } = collector();
    const buffered: number[] = [];
    for (let i = 0; i < STREAM.length; i++) {
      dec.push(STREAM.subarray(i, i + 1));
      buffered.push(dec.buffered);
    }
    dec.end();
    expect(summary(got)).toEqual(EXPECTED);
    // header bytes 1..4 buffered, then the 4 PING body bytes (header consumed) ...
    expect(buffered.slice(0, 9)).toEqual([1, 2, 3, 4, 0, 1, 2, 3, 0]);
    expect(dec.buffered).toBe(0);
  });

  it('keeps bodies intact when a large frame arrives in 1-byte chunks (coalesced leftovers)', () => {
    const body = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7 + 3) & 0xff);
    const frame = encodeMessageBytes({ type: FrameType.DATA, offset: 5, bytes: body });
    const stream = new Uint8Array(frame.length * 2);
    stream.set(frame);
    stream.set(frame, frame.length);
    const { dec, got } = collector();
    for (let i = 0; i < stream.length; i++) dec.push(stream.subarray(i, i + 1));
    dec.end();
    expect(got).toHaveLength(2);
    for (const g of got) expect(toHex(g.body)).toBe('0000000000000005' + toHex(body));
  });

  it('matches random chunkings of a stream of many encoded frames (fast-check)', () => {
    const frames = [
      encodeMessageBytes({ type: FrameType.PING, seq: 1 }),
      encodeMessageBytes({ type: FrameType.DATA, offset: 0, bytes: new Uint8Array(3000).fill(9) }),
      encodeMessageBytes({ type: FrameType.END, length: 3000, sha256: null }),
      encodeMessageBytes({ type: FrameType.PAD, length: 0 }),
      encodeMessageBytes({ type: FrameType.ERROR, code: 4, message: 'x' }),
    ];
    const stream = Buffer.concat(frames);
    const expected = frames.map((f) => `${f[4]}:${toHex(f.subarray(5))}`);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const { dec, got } = collector();
        for (let k = 1; k < points.length; k++) dec.push(stream.subarray(points[k - 1], points[k]));
        dec.end();
        expect(summary(got)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('FrameDecoder: views and copies', () => {
  it('hands out a view of the chunk when the body sits in one chunk', () => {
    const { dec, got } = collector();
    dec.push(STREAM);
    expect(got[1]!.body.buffer).toBe(STREAM.buffer);
    expect(got[1]!.body.byteOffset).toBe(STREAM.byteOffset + 9 + 5);
  });

  it('copies once into an exact-size buffer when the body spans chunks', () => {
    const big = encodeMessageBytes({ type: FrameType.DATA, offset: 0, bytes: new Uint8Array(5000).fill(1) });
    const { dec, got } = collector();
    dec.push(big.subarray(0, 2500));
    dec.push(big.subarray(2500));
    expect(got).toHaveLength(1);
    expect(got[0]!.body.buffer).not.toBe(big.buffer);
    expect(got[0]!.body.byteLength).toBe(got[0]!.body.buffer.byteLength);
    expect(got[0]!.body.length).toBe(5008);
  });

  it('works on unaligned views and does not modify its input', () => {
    const backing = new Uint8Array(STREAM.length + 3);
    backing.set(STREAM, 3);
    const chunk = backing.subarray(3);
    const before = chunk.slice();
    const { dec, got } = collector();
    dec.push(chunk.subarray(0, 7));
    dec.push(chunk.subarray(7));
    expect(summary(got)).toEqual(EXPECTED);
    expect(chunk).toEqual(before);
  });
});

describe('FrameDecoder: limits (checked before any allocation)', () => {
  it('refuses a length of 16 MiB + 1 at the header, holding nothing', () => {
    const { dec, got } = collector();
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    expectSmig(
      () => dec.push(hex('01000001 02')),
      'SMIG_ERR_FRAME_TOO_LARGE',
      'frame header: length 16777217 exceeds the maximum 16777216',
    );
    expect(dec.buffered).toBe(0);
    expect(got).toHaveLength(0);
    expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(1024 * 1024);
  });

  it('refuses the largest u32 length the same way', () => {
    const { dec } = collector();
    expectSmig(() => dec.push(hex('ffffffff 02 00')), 'SMIG_ERR_FRAME_TOO_LARGE');
    expect(dec.buffered).toBe(0);
  });

  it('accepts a 16 MiB header without allocating for it: only the bytes received are held', () => {
    const { dec, got } = collector();
    const before = process.memoryUsage().arrayBuffers;
    dec.push(hex('01000000 02 00000000'));
    expect(dec.buffered).toBe(4);
    expect(got).toHaveLength(0);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    expectSmig(
      () => dec.end(),
      'SMIG_ERR_FRAME_MALFORMED',
      'truncated DATA frame: stream ended after 4 of 16777215 body bytes',
    );
  });

  it('accepts a frame of exactly the default maximum', () => {
    const { dec, got } = collector();
    const frame = new Uint8Array(4 + DEFAULT_MAX_FRAME_LENGTH);
    frame.set(hex('01000000 0a'));
    dec.push(frame.subarray(0, 1000));
    dec.push(frame.subarray(1000));
    dec.end();
    expect(got).toHaveLength(1);
    expect(got[0]!.body.length).toBe(DEFAULT_MAX_FRAME_LENGTH - 1);
  });

  it('honours a smaller maxFrameLength at its exact boundary', () => {
    const ok = collector({ maxFrameLength: 4 });
    ok.dec.push(hex('00000004 0a 010203'));
    expect(ok.got).toHaveLength(1);
    const bad = collector({ maxFrameLength: 4 });
    expectSmig(
      () => bad.dec.push(hex('00000005 0a')),
      'SMIG_ERR_FRAME_TOO_LARGE',
      'frame header: length 5 exceeds the maximum 4',
    );
  });

  it('refuses at the header a frame that cannot fit maxBufferedBytes, so buffered never exceeds it', () => {
    const { dec } = collector({ maxBufferedBytes: 100 });
    dec.push(hex('00000065 0a')); // body 100: fits
    dec.push(new Uint8Array(100));
    expect(dec.buffered).toBe(0);
    expectSmig(
      () => dec.push(hex('00000066 0a')),
      'SMIG_ERR_BUFFER_LIMIT',
      'frame header: PAD body of 101 bytes cannot fit the buffer limit of 100',
    );
  });

  it('refuses bad options with a RangeError', () => {
    expect(() => new FrameDecoder({ maxFrameLength: 0, onFrame() {} })).toThrowError(RangeError);
    expect(() => new FrameDecoder({ maxBufferedBytes: 4, onFrame() {} })).toThrowError(RangeError);
  });
});

describe('FrameDecoder: malformed input', () => {
  it('refuses an unknown type at the header, before its body arrives', () => {
    const { dec } = collector();
    expectSmig(() => dec.push(hex('00000100 7f')), 'SMIG_ERR_FRAME_TYPE', 'frame header: unknown frame type 0x7f');
    expect(dec.buffered).toBe(0);
  });

  it('refuses type 0', () => {
    expectSmig(() => collector().dec.push(hex('00000001 00')), 'SMIG_ERR_FRAME_TYPE');
  });

  it('refuses a zero length (it must count the type byte)', () => {
    expectSmig(
      () => collector().dec.push(hex('00000000 0a')),
      'SMIG_ERR_FRAME_MALFORMED',
      'frame header: length 0 (it must count the type byte)',
    );
  });

  it('end() reports a truncated header or body; a clean end is silent', () => {
    const a = collector();
    a.dec.push(hex('000000'));
    expectSmig(
      () => a.dec.end(),
      'SMIG_ERR_FRAME_MALFORMED',
      'truncated frame: stream ended after 3 of 5 header bytes',
    );
    const b = collector();
    b.dec.push(STREAM.subarray(0, 23)); // PING (9 bytes), DATA header (5) and 9 of its 11 body bytes
    b.dec.push(new Uint8Array(0));
    expect(b.got).toHaveLength(1);
    expectSmig(
      () => b.dec.end(),
      'SMIG_ERR_FRAME_MALFORMED',
      'truncated DATA frame: stream ended after 9 of 11 body bytes',
    );
    const c = collector();
    c.dec.push(STREAM);
    expect(() => c.dec.end()).not.toThrow();
    expectSmig(() => c.dec.push(STREAM), 'SMIG_ERR_INTERNAL', 'FrameDecoder: push() after end()');
  });

  it('is sticky: after an error every push and end throws the same error', () => {
    const { dec, got } = collector();
    const err = expectSmig(() => dec.push(hex('00000000 0a')), 'SMIG_ERR_FRAME_MALFORMED');
    expect(() => dec.push(STREAM)).toThrow(err);
    expect(() => dec.end()).toThrow(err);
    expect(got).toHaveLength(0);
    expect(dec.buffered).toBe(0);
  });

  it('frames before the bad header in the same chunk are delivered first', () => {
    const { dec, got } = collector();
    const chunk = new Uint8Array([...STREAM, ...hex('00000001 55')]);
    expectSmig(() => dec.push(chunk), 'SMIG_ERR_FRAME_TYPE');
    expect(summary(got)).toEqual(EXPECTED);
  });

  it('propagates what onFrame throws and then refuses input', () => {
    const state = new ProtocolState('data-relay');
    const dec = new FrameDecoder({ onFrame: (type) => state.accept(type) });
    expectSmig(
      () => dec.push(STREAM),
      'SMIG_ERR_PROTOCOL_STATE',
      'data-relay link: DATA before SESSION (expected SESSION)',
    );
    expectSmig(() => dec.push(hex('00000001 0a')), 'SMIG_ERR_PROTOCOL_STATE');
  });

  it('refuses re-entrant push from onFrame', () => {
    const dec: FrameDecoder = new FrameDecoder({ onFrame: () => dec.push(hex('00')) });
    expectSmig(() => dec.push(hex('00000001 0a')), 'SMIG_ERR_INTERNAL', 'FrameDecoder: push() called from onFrame');
  });
});

describe('FrameDecoder + decodeMessage + ProtocolState: only coded errors, whatever the input (fast-check)', () => {
  const ROLES: LinkRole[] = ['data-relay', 'key-relay', 'leader', 'destination', 'reply', 'key-reply', 'control'];

  /** Runs the whole receive path; returns normally or throws. */
  function receive(chunks: Uint8Array[], role: LinkRole): void {
    const state = new ProtocolState(role);
    const dec = new FrameDecoder({
      maxFrameLength: 1 << 16,
      onFrame(type, body) {
        state.accept(type);
        decodeMessage(type, body);
      },
    });
    for (const c of chunks) dec.push(c);
    dec.end();
    state.checkClose();
  }

  function onlySmigErrors(chunks: Uint8Array[], role: LinkRole): void {
    try {
      receive(chunks, role);
    } catch (err) {
      if (!(err instanceof SmigError)) throw err;
    }
  }

  const validStream = Buffer.concat([
    encodeMessageBytes({
      type: FrameType.SESSION,
      sessionId: new Uint8Array(16).fill(1),
      role: 'data-relay',
      leader: '10.0.0.1:7000',
      index: 0,
      layout: { dataRelays: 5, keyRelays: 3, threshold: 2 },
    }),
    encodeMessageBytes({ type: FrameType.DATA, offset: 0, bytes: new Uint8Array(40).fill(2) }),
    encodeMessageBytes({ type: FrameType.PING, seq: 3 }),
    encodeMessageBytes({ type: FrameType.DATA, offset: 40, bytes: new Uint8Array(10).fill(3) }),
    encodeMessageBytes({ type: FrameType.END, length: 50, sha256: null }),
  ]);

  it('the unmutated stream is accepted', () => {
    expect(() => receive([validStream], 'data-relay')).not.toThrow();
  });

  it('random byte strings', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
        fc.constantFrom(...ROLES),
        (chunks, role) => onlySmigErrors(chunks, role),
      ),
      { numRuns: 500 },
    );
  });

  it('random byte strings behind a plausible header', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 14 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(...ROLES),
        (type, body, role) => {
          const frame = new Uint8Array(5 + body.length);
          new DataView(frame.buffer).setUint32(0, body.length + 1);
          frame[4] = type;
          frame.set(body, 5);
          onlySmigErrors([frame], role);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('random mutations of a valid frame stream (flips, cuts, insertions)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.nat(20) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.nat(), (mutations, split) => {
        const bytes = Array.from(validStream);
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === 'flip' && at < bytes.length) bytes[at] = m.value;
          else if (m.kind === 'cut') bytes.splice(at, m.value);
          else if (m.kind === 'insert') bytes.splice(at, 0, m.value);
        }
        const buf = Uint8Array.from(bytes);
        const cut = split % (buf.length + 1);
        onlySmigErrors([buf.subarray(0, cut), buf.subarray(cut)], 'data-relay');
      }),
      { numRuns: 1000 },
    );
  });
});
