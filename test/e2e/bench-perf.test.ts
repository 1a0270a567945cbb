/** The benchmark module's building blocks do what the numbers claim (correctness only: nothing here is timed). */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { median, plainTcpCopy, writeSyntheticPcap } from '../../src/bench/perf.js';
import { readCapture } from '../../src/capture/reader.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-bench-perf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench module', () => {
  it('writes a header-only synthetic pcap that the reader reads back whole', async () => {
    const path = join(dir, 'hdr.pcap');
    await writeSyntheticPcap(path, { packets: 3000, meanBytes: 300, seed: 5, snaplen: 64, udpOnly: true });
    let n = 0;
    let cut = 0;
    let udp = 0;
    const info = await readCapture(path, (p) => {
      n++;
      if (p.capLen > 64) throw new Error(`record of ${p.capLen} bytes`);
      if (p.origLen > p.capLen) cut++;
      if (p.data[23] === 17) udp++;
    });
    expect(n).toBe(3000);
    expect(udp).toBe(3000);
    expect(cut).toBeGreaterThan(1000);
    expect(info.interfaces[0]!.snaplen).toBe(64);
    expect(info.warnings).toEqual([]);
  });

  it('the plain TCP copy anchor copies the file byte for byte and reports both processes', async () => {
    const src = join(dir, 'in.bin');
    const out = join(dir, 'out.bin');
    const bytes = randomBytes(3 << 20);
    writeFileSync(src, bytes);
    const r = await plainTcpCopy(src, out);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(
      createHash('sha256').update(bytes).digest('hex'),
    );
    for (const u of [r.sender, r.receiver]) {
      expect(u.cpuSeconds).toBeGreaterThan(0);
      expect(u.maxRssMiB).toBeGreaterThan(10);
    }
    expect(r.throughputMBps).toBeCloseTo((3 << 20) / r.seconds / 1e6, 6);
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
