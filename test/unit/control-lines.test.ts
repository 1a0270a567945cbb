/**
 * The controller's line splitter, fed the way its callers feed it: one read buffer (a node Buffer) reused
 * for every read. Every split point of a text and every read size must give the same lines as splitting the
 * whole text at once — a held piece that is a view of the reused buffer would be overwritten by the next read.
 */
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/control/lines.js';

interface Seen {
  lines: [string, number][];
  oversized: [number, number][];
}

function splitter(max?: number): { s: LineSplitter; seen: Seen } {
  const seen: Seen = { lines: [], oversized: [] };
  const s = new LineSplitter(
    { line: (t, n) => seen.lines.push([t, n]), oversized: (n, b) => seen.oversized.push([n, b]) },
    max,
  );
  return { s, seen };
}

/** Feeds `data` through ONE reused Buffer in reads of the sizes given (cycled), as fh.read into a buffer does. */
function feedReused(s: LineSplitter, data: Buffer, sizes: number[]): void {
  const buf = Buffer.alloc(Math.max(...sizes));
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    buf.fill(0x41); // stale bytes from the last read must never show up
    data.copy(buf, 0, at, at + n);
    s.push(buf.subarray(0, n));
    at += n;
  }
}

function expected(text: string): [string, number][] {
  const out: [string, number][] = [];
  const parts = text.split('\n');
  parts.slice(0, -1).forEach((l, i) => {
    const t = l.endsWith('\r') ? l.slice(0, -1) : l;
    if (t.trim() !== '') out.push([t, i + 1]);
  });
  return out;
}

const TEXT = [
  '{"event_type":"alert","src_ip":"10.0.0.1","alert":{"signature":"ET SCAN ☃ 𝄞 straddles"}}',
  '',
  'second line with CRLF\r',
  'x',
  '{"event_type":"flow","pad":"' + 'p'.repeat(150) + '"}',
  'last',
  '',
].join('\n');

describe('LineSplitter with a reused read buffer', () => {
  it('every split point of the text into two reads gives the lines of the whole text', () => {
    const data = Buffer.from(TEXT, 'utf8');
    const want = expected(TEXT);
    expect(want.length).toBe(5);
    for (let p = 0; p <= data.length; p++) {
      const { s, seen } = splitter();
      const buf = Buffer.alloc(data.length);
      data.copy(buf, 0, 0, p);
      s.push(buf.subarray(0, p));
      buf.fill(0x7b); // the caller reuses its buffer for the next read
      data.copy(buf, 0, p);
      s.push(buf.subarray(0, data.length - p));
      expect(seen.lines, `split at byte ${p}`).toEqual(want);
      expect(s.cut()).toBe(0);
    }
  });

  it('every read size from 1 byte to the whole text gives the same lines (multi-byte characters cut anywhere)', () => {
    const data = Buffer.from(TEXT, 'utf8');
    const want = expected(TEXT);
    for (let size = 1; size <= data.length; size++) {
      const { s, seen } = splitter();
      feedReused(s, data, [size]);
      expect(seen.lines, `reads of ${size} bytes`).toEqual(want);
    }
  });

  it('irregular read sizes (a line held across three reads)', () => {
    const data = Buffer.from(TEXT, 'utf8');
    for (const sizes of [
      [3, 50, 7],
      [97, 1, 1, 200],
      [13, 64, 2, 31],
    ]) {
      const { s, seen } = splitter();
      feedReused(s, data, sizes);
      expect(seen.lines, `reads ${sizes.join(',')}`).toEqual(expected(TEXT));
    }
  });

  it('a line over the cap is dropped whole wherever the reads cut it, the next line is intact', () => {
    const long = 'L'.repeat(100);
    const text = `ok1\n${long}\nok2\n`;
    const data = Buffer.from(text);
    for (let size = 1; size <= data.length; size++) {
      const { s, seen } = splitter(50);
      feedReused(s, data, [size]);
      expect(seen.lines).toEqual([
        ['ok1', 1],
        ['ok2', 3],
      ]);
      expect(seen.oversized).toEqual([[2, 100]]);
    }
  });

  it('cut() reports and discards an unfinished last line; line numbers go on', () => {
    const { s, seen } = splitter();
    feedReused(s, Buffer.from('a\nunfinished'), [4]);
    expect(s.pendingBytes).toBe(10);
    expect(s.cut()).toBe(10);
    feedReused(s, Buffer.from('b\n'), [1]);
    expect(seen.lines).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });
});
