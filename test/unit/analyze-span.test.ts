/**
 * A capture whose timestamps span centuries (a pcapng interface with a huge if_tsoffset beside a normal one)
 * is refused with one line naming the span and what to do, not a usage error from deep in the statistics.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-span-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function block(type: number, body: Buffer): Buffer {
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const len = 12 + padded.length;
  const head = Buffer.alloc(8);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(len, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(len, 0);
  return Buffer.concat([head, padded, tail]);
}

function capture(offsets: bigint[]): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const parts = [block(0x0a0d0d0a, shb)];
  for (const off of offsets) {
    const idb = Buffer.alloc(8 + 12 + 4);
    idb.writeUInt16LE(1, 0); // Ethernet
    idb.writeUInt32LE(65535, 4);
    idb.writeUInt16LE(14, 8); // if_tsoffset
    idb.writeUInt16LE(8, 10);
    idb.writeBigInt64LE(off, 12);
    parts.push(block(1, idb));
  }
  const pkt = Buffer.concat([Buffer.alloc(12, 0xff), Buffer.from([0x08, 0x00, 0x45]), Buffer.alloc(45)]);
  offsets.forEach((_, i) => {
    const epb = Buffer.alloc(20);
    epb.writeUInt32LE(i, 0);
    epb.writeUInt32LE(1_000_000 * (i + 1), 8); // µs
    epb.writeUInt32LE(pkt.length, 12);
    epb.writeUInt32LE(pkt.length, 16);
    parts.push(block(6, Buffer.concat([epb, pkt])));
  });
  return Buffer.concat(parts);
}

describe('smig analyze on timestamps centuries apart', () => {
  it('refuses with one line naming the span, the cause and the way out (exit 2)', async () => {
    const file = join(dir, 'centuries.pcapng');
    writeFileSync(file, capture([2n ** 62n, 0n]));
    const r = await runCli(['analyze', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^smig analyze: \S+centuries.pcapng: its packets span 1\.46e\+11 years \(1970-01-01T00:00:02\.000Z to 4611686018427387905 s; a pcapng interface with a huge if_tsoffset\?\): 4\.61e\+18 bins of the --bin width, at most 1e\+12; use a larger --bin, or --from\/--to to keep a part\n$/,
    );
  });
  it('a huge offset shared by every packet is analyzed', async () => {
    const file = join(dir, 'shifted.pcapng');
    writeFileSync(file, capture([2n ** 62n]));
    const r = await runCli(['analyze', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).captures[0].packets).toBe(1);
  });
});
