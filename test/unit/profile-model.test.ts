/**
 * Profile validation: a profile from another version, or a hand-edited broken one, is refused with one line
 * naming the field (SMIG_ERR_PROFILE). Each case edits a valid learned profile in one place.
 */
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { learnProfile } from '../../src/profile/learn.js';
import type { Profile } from '../../src/profile/model.js';
import { compactJson, loadProfile, parseProfile, stringifyProfile, validateProfile } from '../../src/profile/model.js';
import { FIXTURE_DIR } from '../helpers/captures.js';

const base: Profile = (await learnProfile(join(FIXTURE_DIR, 'ndpi__netflix.pcap'))).profile;
const dir = mkdtempSync(join(tmpdir(), 'smig-profile-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A deep copy of the valid profile with one edit applied. */
function edited(edit: (p: any) => void): unknown {
  const p = JSON.parse(JSON.stringify(base));
  edit(p);
  return p;
}

describe('validateProfile', () => {
  it('accepts the learned profile as it is', () => {
    expect(validateProfile(JSON.parse(stringifyProfile(base)), 'p.json')).toEqual(base);
  });

  const cases: [string, (p: any) => void, string][] = [
    [
      'another format',
      (p) => (p.format = 'smig-report'),
      `format: "smig-report" is not 'smig-profile' (not a smig profile)`,
    ],
    [
      'another version',
      (p) => (p.version = 3),
      'version: 3: this smig reads profile versions 1 and 2 (re-learn it with smig profile learn)',
    ],
    [
      'no version',
      (p) => delete p.version,
      'version: missing: this smig reads profile versions 1 and 2 (re-learn it with smig profile learn)',
    ],
    ['a missing series', (p) => delete p.series.bytes, 'series.bytes: missing'],
    ['a NaN (JSON null)', (p) => (p.series.bytes[3] = null), 'series.bytes[3]: null is not a finite number'],
    ['a string for a number', (p) => (p.packets = '1793'), 'packets: "1793" is not a finite number'],
    ['a negative count', (p) => (p.series.packets[1] = -1), 'series.packets[1]: -1 is negative'],
    ['a fraction of a packet', (p) => (p.series.packets[1] = 0.5), 'series.packets[1]: 0.5 is not an integer'],
    ['a series of the wrong length', (p) => p.series.bytes.pop(), 'series.bytes: has 89 entries, expected 90'],
    [
      'a series that does not add up',
      (p) => (p.series.bytes[0] += 1),
      'series.bytes: sums to 1006417, not bytes (1006416)',
    ],
    [
      'a rate that disagrees',
      (p) => (p.rates.bytesPerSecond = 12000),
      'rates.bytesPerSecond: 12000 does not match bytes ÷ duration (11182.4)',
    ],
    ['a bin that disagrees with binNs', (p) => (p.bin = 2), 'bin: 2 does not match binNs ÷ 1e9 (1)'],
    ['a duration that disagrees', (p) => (p.duration = 91), 'duration: 91 does not match bins × bin (90)'],
    ['a bad hash', (p) => (p.provenance.sha256 = 'abc'), "provenance.sha256: 'abc' is not a SHA-256 in lowercase hex"],
    [
      'an unknown direction',
      (p) => (p.provenance.direction = 'up'),
      'provenance.direction: "up" is not one of both, src, dst, src+dst',
    ],
    [
      'a window ending before it starts',
      (p) => {
        p.provenance.from = '5';
        p.provenance.to = '5';
      },
      'provenance.to: 5 is not after provenance.from (5)',
    ],
    ['a bin below 1 µs', (p) => (p.binNs = '999'), 'binNs: 999 is below 1000'],
    [
      'probabilities that do not sum to 1',
      (p) => (p.chain.probabilities[1][0] += 1e-6),
      `chain.probabilities[1]: sums to ${1 + 1e-6}, not 1 (within 1e-9)`,
    ],
    [
      'a probability that disagrees with its counts',
      (p) => {
        p.chain.probabilities[0] = p.chain.probabilities[0].slice().reverse();
      },
      `chain.probabilities[0][0]: ${base.chain.probabilities[0]![2]} is not transitions[0][0] ÷ its row sum (${base.chain.probabilities[0]![0]})`,
    ],
    [
      'a probability above 1',
      (p) => (p.chain.probabilities[2] = [1.5, -0.25, -0.25]),
      'chain.probabilities[2][1]: -0.25 is negative',
    ],
    [
      'a transition matrix of the wrong shape',
      (p) => p.chain.transitions[1].push(0),
      'chain.transitions[1]: has 4 entries, expected 3',
    ],
    [
      'transitions that do not match the level',
      (p) => (p.chain.transitions[0][0] += 1),
      `chain.transitions[0]: sums to ${base.chain.levels[0]!.bins + 1}, not levels[0].bins (${base.chain.levels[0]!.bins})`,
    ],
    [
      'a pair outside its level',
      (p) => (p.chain.levels[0].pairs[0][0] = 999_999),
      `chain.levels[0].pairs[0][0]: 999999 bytes is outside the level's edges [-Infinity, ${base.chain.edges[0]})`,
    ],
    ['an empty level', (p) => (p.chain.levels[1].pairs = []), 'chain.levels[1].pairs: is empty'],
    [
      'too many levels',
      (p) => (p.chain.levels = new Array(9).fill(p.chain.levels[0])),
      'chain.levels: has 9 levels, expected 1 to 8',
    ],
    ['edges out of order', (p) => p.chain.edges.reverse(), 'chain.edges[1]: edges must be ascending'],
    ['sizes that do not add up', (p) => (p.sizes.counts[0] += 1), 'sizes.counts: sum to 1794, not packets (1793)'],
    ['sizes out of order', (p) => p.sizes.values.reverse(), 'sizes.values[1]: values must be ascending and distinct'],
    [
      'size counts of the wrong length',
      (p) => p.sizes.counts.pop(),
      `sizes.counts: has ${base.sizes.values.length - 1} entries, expected ${base.sizes.values.length}`,
    ],
    [
      'bursts that do not cover the packets',
      (p) => (p.bursts.packets.values[p.bursts.packets.values.length - 1] += 1),
      `bursts.packets: cover ${1793 + base.bursts.packets.counts[base.bursts.packets.counts.length - 1]!} packets, not packets (1793)`,
    ],
    [
      'a gap histogram that does not add up',
      (p) => (p.iat.histogram.counts[0] += 1),
      'iat.histogram.counts: sum to 1793, not iat.sampled (1792)',
    ],
    ['not an object', (p) => (p.provenance = [1]), 'provenance: must be an object'],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, () => {
      expect(() => validateProfile(edited(edit), 'p.json')).toThrow(
        expect.objectContaining({ code: 'SMIG_ERR_PROFILE', message: `p.json: ${message}` }),
      );
    });
  }
});

describe('parseProfile, loadProfile, compactJson', () => {
  it('parses its own text and refuses text that is not JSON', () => {
    expect(parseProfile(stringifyProfile(base))).toEqual(base);
    expect(() => parseProfile('{"format": ', 'x.json')).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_PROFILE',
        message: expect.stringMatching(/^x\.json: not JSON \(.+\)$/),
      }),
    );
    expect(() => parseProfile('[]', 'x.json')).toThrow('x.json: (document): must be an object');
  });

  it('loads a file; missing, directory and oversized files are coded errors', async () => {
    const ok = join(dir, 'ok.json');
    writeFileSync(ok, stringifyProfile(base));
    expect(await loadProfile(ok)).toEqual(base);
    await expect(loadProfile(join(dir, 'none.json'))).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `${join(dir, 'none.json')}: cannot read (ENOENT)`,
    });
    mkdirSync(join(dir, 'sub'));
    await expect(loadProfile(join(dir, 'sub'))).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `${join(dir, 'sub')}: cannot read (EISDIR)`,
    });
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, 64 * 1024 * 1024 + 1); // sparse: nothing is written or read
    await expect(loadProfile(big)).rejects.toMatchObject({
      code: 'SMIG_ERR_PROFILE',
      message: `${big}: 67108865 bytes, larger than a profile can be (67108864)`,
    });
  });

  it('writes arrays of numbers on one line', () => {
    expect(
      compactJson({
        a: [1, 2],
        b: [
          [1, 2],
          [3, 4],
        ],
        c: { d: 'x', e: [] },
        f: [{ g: 1 }],
      }),
    ).toBe(
      '{\n  "a": [1,2],\n  "b": [[1,2],[3,4]],\n  "c": {\n    "d": "x",\n    "e": []\n  },\n  "f": [\n    {\n      "g": 1\n    }\n  ]\n}',
    );
    expect(JSON.parse(stringifyProfile(base))).toEqual(base);
  });
});
