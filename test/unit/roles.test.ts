/**
 * Pure parts of the roles: the source's send window and chunk cutter, the leader's reorder buffer, the
 * destination's name sanitizing and no-clobber install, the stale temp sweep, and the event log format.
 * Expected values are worked out by hand from the definitions (offsets, byte counts), not from the code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SmigError, smigError } from '../../src/errors.js';
import { installNoClobber, sanitizeName, sweepStaleTemps, upstreamFileError } from '../../src/roles/destination.js';
import { ReorderBuffer } from '../../src/roles/reorder.js';
import { ChunkCutter, partsLength, SendWindow } from '../../src/roles/window.js';
import { createLogger, parseLogFormat } from '../../src/util/log.js';

const bytes = (n: number, fill = 0): Uint8Array => new Uint8Array(n).fill(fill);

function smigErr(fn: () => unknown): SmigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SmigError);
    return err as SmigError;
  }
  throw new Error('expected a SmigError');
}

describe('ChunkCutter', () => {
  it('groups envelope pieces into chunks of at least the target, without copying', () => {
    // envelope of 5 full 64 KiB segments: prefix 568 B, 5 × 65552 B sealed segments, trailer 56 B
    const cutter = new ChunkCutter(262144);
    const pieces = [bytes(568), ...Array.from({ length: 5 }, () => bytes(65552)), bytes(56)];
    const chunks: Uint8Array[][] = [];
    for (const p of pieces) {
      const c = cutter.push(p);
      if (c) chunks.push(c);
    }
    const rest = cutter.flush();
    if (rest) chunks.push(rest);
    // 568 + 4·65552 = 262776 ≥ 262144 closes the first chunk; 65552 + 56 = 65608 is the short last one
    expect(chunks.map(partsLength)).toEqual([262776, 65608]);
    expect(chunks[0]![0]).toBe(pieces[0]); // the same buffers, not copies
    expect(chunks[1]![1]).toBe(pieces[6]);
    expect(cutter.flush()).toBeUndefined();
  });

  it('ignores empty pieces', () => {
    const cutter = new ChunkCutter(10);
    expect(cutter.push(bytes(0))).toBeUndefined();
    expect(cutter.flush()).toBeUndefined();
  });
});

describe('SendWindow', () => {
  it('produces while next − acked < window, hands chunks to links, releases on PROGRESS', () => {
    const w = new SendWindow(1000);
    expect(w.hasRoom()).toBe(true);
    const a = w.add([bytes(400)]);
    const b = w.add([bytes(300), bytes(100)]);
    expect([a.offset, b.offset, b.length, w.next]).toEqual([0, 400, 400, 800]);
    expect(w.hasRoom()).toBe(true); // 800 < 1000
    const c = w.add([bytes(400)]);
    expect(w.next).toBe(1200);
    expect(w.hasRoom()).toBe(false); // 1200 − 0 ≥ 1000
    expect(w.take(0)).toBe(a);
    expect(w.take(1)).toBe(b);
    expect(w.take(0)).toBe(c);
    expect(w.take(2)).toBeUndefined();
    expect([a.link, b.link, c.link]).toEqual([0, 1, 0]);

    expect(w.ack(399)).toEqual([]); // a not fully covered
    expect(w.hasRoom()).toBe(true); // 1200 − 399 < 1000
    expect(w.ack(400)).toEqual([a]);
    expect(w.ack(300)).toEqual([]); // an older PROGRESS from another relay changes nothing
    expect(w.acked).toBe(400);
    expect(w.held).toBe(800);
  });

  it('re-queues a lost link’s unacknowledged chunks first, lowest offset first', () => {
    const w = new SendWindow(1 << 20);
    const cs = [100, 100, 100, 100].map((n) => w.add([bytes(n)]));
    w.take(7); // 0
    w.take(8); // 100
    w.take(7); // 200
    expect(w.requeue(7)).toBe(2);
    expect(w.resent).toBe(2);
    const fresh = w.add([bytes(50)]); // 400
    // re-sends (0, 200) come before the never-sent 300 and 400
    expect([w.take(8), w.take(8), w.take(8), w.take(8)]).toEqual([cs[0], cs[2], cs[3], fresh]);
    expect(cs[0]!.sends).toBe(2);
    expect(w.requeue(9)).toBe(0);
  });

  it('skips a re-queued chunk that was acknowledged while it waited', () => {
    const w = new SendWindow(1 << 20);
    const a = w.add([bytes(100)]);
    const b = w.add([bytes(100)]);
    w.take(1);
    w.take(1);
    w.requeue(1);
    expect(w.ack(100)).toEqual([a]); // the leader had a after all
    expect(w.take(2)).toBe(b);
    expect(w.take(2)).toBeUndefined();
  });

  it('takes back the unsent tail of a chunk as a chunk of its own, served first, over the same bytes', () => {
    const w = new SendWindow(1 << 20);
    const seq = (start: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
    const a = w.add([seq(0, 300), seq(300, 100)]); // [0, 400) in two parts
    const b = w.add([seq(400, 200)]);
    expect(w.take(0)).toBe(a);
    expect(w.take(1)).toBe(b);
    // link 0 sent [0, 250) and holds [250, 400): the tail crosses the parts' boundary at 300
    expect(
      w.giveBack(0, [
        { offset: 250, length: 50 },
        { offset: 300, length: 100 },
      ]),
    ).toBe(150);
    expect([a.offset, a.length, a.link, a.sends]).toEqual([0, 250, 0, 1]);
    expect(w.queued).toBe(1);
    const t = w.take(1)!;
    expect([t.offset, t.length, t.link, t.sends]).toEqual([250, 150, 1, 1]);
    expect(t.parts.flatMap((p) => [...p])).toEqual([...seq(250, 150)]);
    expect(t.parts[0]!.buffer).toBe(a.parts[0]!.buffer); // views of the same bytes, not copies
    expect(a.parts.flatMap((p) => [...p])).toEqual([...seq(0, 250)]);
    // acknowledged and lost as chunks of their own: the head stays with link 0, the tail with link 1
    expect(w.requeue(1)).toBe(2); // b and the tail
    expect(w.ack(250)).toEqual([a]);
    expect(w.take(2)).toBe(t);
    expect(w.ack(600).map((c) => c.offset)).toEqual([250, 400]);
  });

  it('takes back a whole chunk not yet sent, before fresh chunks; a re-sent one among the re-sends', () => {
    const w = new SendWindow(1 << 20);
    const [a, b, c] = [100, 100, 100].map((n) => w.add([bytes(n)]));
    w.take(0); // a
    w.take(0); // b
    expect(w.giveBack(0, [{ offset: 100, length: 100 }])).toBe(100); // b whole; a untouched
    expect([b!.link, b!.sends]).toEqual([-1, 0]);
    expect(w.take(1)).toBe(b); // before c
    w.requeue(0); // a lost: queued to re-send
    expect(w.take(1)).toBe(a);
    expect(w.giveBack(1, [{ offset: 40, length: 60 }])).toBe(60); // a's tail, a re-send
    expect(w.resent).toBe(1);
    const t = w.take(2)!;
    expect([t.offset, t.length, t.sends]).toEqual([40, 60, 2]);
    expect(w.take(2)).toBe(c);
  });

  it('refuses pieces that are not the tail of a chunk the link holds', () => {
    const w = new SendWindow(1 << 20);
    w.add([bytes(100)]);
    w.take(0);
    expect(() => w.giveBack(0, [{ offset: 10, length: 20 }])).toThrow(/not the tail of a chunk ending at 100/);
    expect(w.giveBack(1, [{ offset: 10, length: 90 }])).toBe(0); // not link 1's
  });

  it('refuses a PROGRESS beyond what was sent', () => {
    const w = new SendWindow(100);
    w.add([bytes(10)]);
    const e = smigErr(() => w.ack(11));
    expect(e.code).toBe('SMIG_ERR_PROTOCOL_STATE');
    expect(e.message).toBe('PROGRESS offset 11 is beyond the 10 bytes sent');
  });
});

describe('ReorderBuffer', () => {
  const seq = (start: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
  const cat = (parts: Uint8Array[]): number[] => parts.flatMap((p) => [...p]);

  it('delivers in order whatever the arrival order', () => {
    const r = new ReorderBuffer(1000);
    expect(r.insert(10, seq(10, 10))).toBe(10);
    expect(r.take()).toEqual([]); // byte 0 missing
    expect(r.contiguousEnd).toBe(0);
    expect(r.insert(0, seq(0, 10))).toBe(10);
    expect(r.contiguousEnd).toBe(20);
    expect(r.held).toBe(20);
    expect(cat(r.take())).toEqual([...seq(0, 20)]);
    expect(r.base).toBe(20);
    expect(r.held).toBe(0);
  });

  it('stores a byte once: duplicates and overlaps add only what is new, the first copy wins', () => {
    const r = new ReorderBuffer(1000);
    r.insert(5, bytes(5, 1)); // [5,10)
    r.insert(15, bytes(5, 1)); // [15,20)
    expect(r.insert(5, bytes(5, 9))).toBe(0); // exact duplicate
    expect(r.insert(0, bytes(25, 2))).toBe(15); // fills [0,5), [10,15), [20,25)
    expect(r.held).toBe(25);
    expect(cat(r.take())).toEqual([...bytes(5, 2), ...bytes(5, 1), ...bytes(5, 2), ...bytes(5, 1), ...bytes(5, 2)]);
    expect(r.insert(3, bytes(10, 3))).toBe(0); // all below base 25
    expect(r.insert(20, bytes(10, 4))).toBe(5); // only [25,30)
    expect(cat(r.take())).toEqual([...bytes(5, 4)]);
  });

  it('refuses bytes beyond base + limit, storing nothing', () => {
    const r = new ReorderBuffer(100);
    expect(r.insert(60, bytes(40))).toBe(40); // ends at 100: allowed
    const e = smigErr(() => r.insert(90, bytes(11)));
    expect(e.code).toBe('SMIG_ERR_BUFFER_LIMIT');
    expect(e.message).toBe('chunk [90, 101) reaches 101 bytes past the consumed offset 0, the window limit is 100');
    expect(r.held).toBe(40);
  });

  it('peeks the first bytes across ranges without taking them', () => {
    const r = new ReorderBuffer(100);
    r.insert(0, seq(0, 3));
    expect(r.peek(5)).toBeUndefined();
    r.insert(3, seq(3, 4));
    expect([...r.peek(5)!]).toEqual([0, 1, 2, 3, 4]);
    expect(r.base).toBe(0);
    expect(r.held).toBe(7);
  });

  it('rebuilds the stream from any chunking, order and duplication (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer(),
        (len, sizes, dupIdx, seed) => {
          const data = seq(0, len);
          const chunks: [number, Uint8Array][] = [];
          for (let at = 0, i = 0; at < len; i++) {
            const n = Math.min(sizes[i % sizes.length]!, len - at);
            chunks.push([at, data.subarray(at, at + n)]);
            at += n;
          }
          for (const d of dupIdx) chunks.push(chunks[d % chunks.length]!);
          // deterministic shuffle
          let s = seed | 0;
          for (let i = chunks.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) | 0;
            const j = Math.abs(s) % (i + 1);
            [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
          }
          const r = new ReorderBuffer(len);
          const out: number[] = [];
          for (const [at, b] of chunks) {
            r.insert(at, b);
            out.push(...cat(r.take()));
          }
          expect(out).toEqual([...data]);
          expect(r.held).toBe(0);
        },
      ),
    );
  });
});

describe('destination names', () => {
  it('sanitizes the sender’s name into a plain, visible file name', () => {
    expect(sanitizeName('vm.img')).toBe('vm.img');
    expect(sanitizeName('../etc/passwd')).toBe('_._etc_passwd');
    expect(sanitizeName('.smig-1-0123456789abcdef.part')).toBe('_smig-1-0123456789abcdef.part');
    expect(sanitizeName('a\\b\u0007c')).toBe('a_b_c');
    expect(sanitizeName('')).toBe('migration');
    expect(sanitizeName('é'.repeat(130))).toBe('é'.repeat(120)); // 240 UTF-8 bytes, cut on a character boundary
  });

  it('neutralizes a leading dash and bidi, zero-width and line-separator characters', () => {
    expect(sanitizeName('-rf')).toBe('_rf');
    expect(sanitizeName('--help')).toBe('_-help');
    expect(sanitizeName('a-b')).toBe('a-b');
    expect(sanitizeName('invoice\u202Egnp.exe')).toBe('invoice_gnp.exe'); // would display as invoiceexe.png
    expect(sanitizeName('\u2066x\u2069\u200Fy\u200Bz\u061C\uFEFF')).toBe('_x__y_z__');
    expect(sanitizeName('a\u2028b\u2029c\u0085d')).toBe('a_b_c_d');
    expect(sanitizeName('\u202E-x')).toBe('_-x'); // the dash is no longer leading
    expect(sanitizeName('日本語 ☃.img')).toBe('日本語 ☃.img');
  });

  it('a file-system error sent upstream names the reason and errno, never a path', () => {
    const errno = (code: string): NodeJS.ErrnoException =>
      Object.assign(new Error(`${code}: failed, write '/srv/secret/dir/.smig-1.part'`), { code });
    expect(upstreamFileError('write the file', errno('ENOSPC'))).toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: 'destination: cannot write the file: no space left on the device (ENOSPC)',
    });
    expect(upstreamFileError('write the file', errno('EDQUOT')).message).toBe(
      'destination: cannot write the file: disk quota exceeded (EDQUOT)',
    );
    expect(upstreamFileError('write the file', errno('EWHATEVER')).message).toBe(
      'destination: cannot write the file: file system error (EWHATEVER)',
    );
    const wrapped = smigError('SMIG_ERR_FILE', 'install into /srv/secret/dir: EACCES', errno('EACCES'));
    expect(upstreamFileError('install the file', wrapped).message).toBe(
      'destination: cannot install the file: permission denied (EACCES)',
    );
    const noName = smigError('SMIG_ERR_FILE', "install into /srv/secret/dir: no free name for 'x'");
    expect(upstreamFileError('install the file', noName).message).toBe(
      "destination: cannot install the file: see the destination's log",
    );
  });

  const dir = mkdtempSync(join(tmpdir(), 'smig-roles-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs under NAME, then NAME.1, NAME.2, never overwriting', async () => {
    writeFileSync(join(dir, 'vm.img'), 'old');
    for (const [i, content] of ['one', 'two'].entries()) {
      const tmp = join(dir, `.t${i}`);
      writeFileSync(tmp, content);
      expect(await installNoClobber(tmp, dir, 'vm.img')).toBe(`vm.img.${i + 1}`);
      expect(existsSync(tmp)).toBe(false);
    }
    expect(readFileSync(join(dir, 'vm.img'), 'utf8')).toBe('old');
    expect(readFileSync(join(dir, 'vm.img.1'), 'utf8')).toBe('one');
    expect(readFileSync(join(dir, 'vm.img.2'), 'utf8')).toBe('two');
  });

  it('sweeps temporary files of receivers that are gone, and only those', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid is free
    const deadTemp = `.smig-${dead}-0123456789abcdef.part`;
    const ownTemp = `.smig-${process.pid}-fedcba9876543210.part`;
    writeFileSync(join(dir, deadTemp), 'x');
    writeFileSync(join(dir, ownTemp), 'x');
    writeFileSync(join(dir, '.smig-notatemp'), 'x');
    expect(await sweepStaleTemps(dir)).toEqual([deadTemp]);
    expect(readdirSync(dir).sort()).toEqual(['.smig-notatemp', ownTemp, 'vm.img', 'vm.img.1', 'vm.img.2'].sort());
  });
});

describe('event log', () => {
  const at = (): Date => new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678));

  it('writes one text line per event, quoting values that need it, leaving out undefined', () => {
    const lines: string[] = [];
    const log = createLogger({
      format: 'text',
      sink: { write: (s: string) => lines.push(s) },
      component: 'relay',
      now: at,
    });
    log
      .with({ session: 'ab12' })
      .event('relay-open', { leader: '127.0.0.1:7000', index: 3, reason: 'two words', skip: undefined });
    expect(lines).toEqual([
      '2025-01-02T03:04:05.678Z relay relay-open session=ab12 leader=127.0.0.1:7000 index=3 reason="two words"\n',
    ]);
  });

  it('writes JSON lines', () => {
    const lines: string[] = [];
    const log = createLogger({
      format: 'json',
      sink: { write: (s: string) => lines.push(s) },
      component: 'send',
      now: at,
    });
    log.event('done', { ok: true, bytes: 5 });
    expect(JSON.parse(lines[0]!)).toEqual({
      ts: '2025-01-02T03:04:05.678Z',
      component: 'send',
      event: 'done',
      ok: true,
      bytes: 5,
    });
  });

  it('parses --log-format', () => {
    expect(parseLogFormat('json')).toBe('json');
    const e = smigErr(() => parseLogFormat('xml'));
    expect(e.code).toBe('SMIG_ERR_USAGE');
  });
});
