import { describe, expect, it } from 'vitest';
import { chiSquareSf } from '../../src/analysis/chi2.js';
import type { HostRole } from '../../src/control/inventory.js';
import type { Candidate, HostPlan } from '../../src/control/selection.js';
import { DEFAULT_COUNTS, selectHosts } from '../../src/control/selection.js';
import { createRng } from '../../src/util/rng.js';

const ALL: ReadonlySet<HostRole> = new Set(['source', 'relay', 'destination']);
function hosts(n: number, roles: ReadonlySet<HostRole> = ALL, canReceive = true, prefix = 'h'): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, roles, canReceive }));
}

/** χ² goodness of fit to the uniform distribution over `names`. */
function uniformity(counts: Map<string, number>, names: string[]): { stat: number; p: number } {
  const total = names.reduce((s, n) => s + (counts.get(n) ?? 0), 0);
  const e = total / names.length;
  const stat = names.reduce((s, n) => s + ((counts.get(n) ?? 0) - e) ** 2 / e, 0);
  return { stat, p: chiSquareSf(stat, names.length - 1) };
}

function check(plan: HostPlan, source: string): void {
  const all = [plan.destination, ...plan.dataRelays, ...plan.keyRelays];
  expect(new Set(all).size).toBe(all.length); // nine distinct hosts
  expect(all).not.toContain(source);
  expect(plan.dataRelays).toContain(plan.leader);
}

describe('selectHosts', () => {
  it('takes 1 destination, 5 data relays, 3 key relays (2-of-3), all distinct, never the source (CSPRNG)', () => {
    const plan = selectHosts('h0', hosts(10), DEFAULT_COUNTS);
    check(plan, 'h0');
    expect(plan.destination).not.toBe('h0');
    expect(plan.dataRelays).toHaveLength(5);
    expect(plan.keyRelays).toHaveLength(3);
    expect(plan.threshold).toBe(2);
  });

  it('follows an injected draw exactly: destination, Fisher–Yates over the rest, leader among the data relays', () => {
    const draws: number[] = [];
    const rand = (n: number): number => {
      draws.push(n);
      return n - 1; // always the last choice
    };
    const plan = selectHosts('h0', hosts(6), { dataRelays: 2, keyRelays: 2, threshold: 2 }, rand);
    // feasible destinations h1..h5 → h5; pool [h1 h2 h3 h4] → swap 0,3 → [h4 h2 h3 h1] → swap 1,3 → [h4 h1 h3 h2] → swap 2,3 → [h4 h1 h2 h3]
    expect(draws).toEqual([5, 4, 3, 2, 1, 2]);
    expect(plan).toEqual({
      destination: 'h5',
      dataRelays: ['h4', 'h1'],
      keyRelays: ['h2', 'h3'],
      leader: 'h1',
      threshold: 2,
    });
  });

  it('honours roles: only receivers as destination, only relays as relays', () => {
    const cands = [
      ...hosts(5, new Set<HostRole>(['relay']), false, 'r'),
      ...hosts(2, new Set<HostRole>(['destination']), true, 'd'),
      { name: 'x', roles: ALL, canReceive: false },
    ];
    for (let i = 0; i < 50; i++) {
      const plan = selectHosts('s', cands, { dataRelays: 3, keyRelays: 3, threshold: 2 });
      expect(plan.destination).toMatch(/^d[01]$/);
      for (const r of [...plan.dataRelays, ...plan.keyRelays]) expect(r).toMatch(/^(r\d|x)$/);
    }
  });

  it('refuses with one line naming what is missing', () => {
    expect(() => selectHosts('h0', hosts(5), DEFAULT_COUNTS)).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_NO_HOSTS',
        message:
          'cannot migrate h0: 4 other hosts available (h1, h2, h3, h4), a session needs 9 (1 destination, 5 data relays, 3 key relays); 4 of them can relay',
      }),
    );
    expect(() => selectHosts('h0', hosts(14, ALL, false), DEFAULT_COUNTS)).toThrow(
      expect.objectContaining({
        message:
          'cannot migrate h0: 13 other hosts available (h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, …), a session needs 9 ' +
          '(1 destination, 5 data relays, 3 key relays); none of them can be the destination (role destination and an agent with --out)',
      }),
    );
    expect(() => selectHosts('h0', [], { dataRelays: 1, keyRelays: 1, threshold: 1 })).toThrow(
      /0 other hosts available \(none\), a session needs 3/,
    );
    expect(() => selectHosts('h0', hosts(10), { dataRelays: 5, keyRelays: 3, threshold: 4 })).toThrow(
      expect.objectContaining({ code: 'SMIG_ERR_USAGE' }),
    );
  });

  it('spreads destination and leader uniformly over the eligible hosts (χ² at α = 0.01)', () => {
    // a seeded uniform source keeps the test deterministic: what is tested is that the algorithm turns uniform
    // draws into uniform choices (the CSPRNG default runs in test/e2e/control.test.ts against live agents)
    const rng = createRng(20240501);
    const cands = hosts(12);
    const dest = new Map<string, number>();
    const leader = new Map<string, number>();
    const n = 3000;
    for (let i = 0; i < n; i++) {
      const plan = selectHosts('h0', cands, DEFAULT_COUNTS, (k) => Math.floor(rng() * k));
      check(plan, 'h0');
      dest.set(plan.destination, (dest.get(plan.destination) ?? 0) + 1);
      leader.set(plan.leader, (leader.get(plan.leader) ?? 0) + 1);
    }
    const eligible = cands.map((c) => c.name).filter((x) => x !== 'h0');
    expect(dest.has('h0')).toBe(false);
    expect(uniformity(dest, eligible).p).toBeGreaterThan(0.01);
    expect(uniformity(leader, eligible).p).toBeGreaterThan(0.01);
  });

  it('the uniformity test has power: a biased chooser is rejected', () => {
    // destination always among the first half: the same test must reject it
    const rng = createRng(7);
    const dest = new Map<string, number>();
    const cands = hosts(12);
    for (let i = 0; i < 600; i++) {
      const plan = selectHosts('h0', cands, DEFAULT_COUNTS, (k) => Math.floor(rng() * Math.ceil(k / 2)));
      dest.set(plan.destination, (dest.get(plan.destination) ?? 0) + 1);
    }
    expect(uniformity(dest, cands.map((c) => c.name).slice(1)).p).toBeLessThan(0.01);
  });
});
