/** Field-by-field validation of JSON documents (profiles, pacing plans) with one-line messages. */
import { smigError } from '../errors.js';

/** Tolerance of sums that must be 1 (probabilities) and of derived rates. */
export const PROFILE_TOLERANCE = 1e-9;

/** An empirical distribution: ascending distinct values with positive integer counts (as model.ts `Histogram`). */
interface HistogramLike {
  values: number[];
  counts: number[];
}

/** Field checks that fail with one line `WHERE: PATH: problem` (SMIG_ERR_PROFILE). */
export class FieldChecker {
  readonly where: string;

  constructor(where: string) {
    this.where = where;
  }

  fail(path: string, problem: string): never {
    throw smigError('SMIG_ERR_PROFILE', `${this.where}: ${path}: ${problem}`);
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.fail(path, v === undefined ? 'missing' : 'must be an object');
    return v as Record<string, unknown>;
  }

  number(v: unknown, path: string, o: { int?: boolean; min?: number; max?: number; above?: number } = {}): number {
    if (v === undefined) this.fail(path, 'missing');
    if (typeof v !== 'number' || !Number.isFinite(v))
      this.fail(path, `${JSON.stringify(v) ?? String(v)} is not a finite number`);
    if (o.int && !Number.isSafeInteger(v)) this.fail(path, `${v} is not an integer`);
    if (o.min !== undefined && v < o.min) this.fail(path, `${v} is ${o.min === 0 ? 'negative' : `below ${o.min}`}`);
    if (o.above !== undefined && !(v > o.above)) this.fail(path, `${v} must be greater than ${o.above}`);
    if (o.max !== undefined && v > o.max) this.fail(path, `${v} is above ${o.max}`);
    return v;
  }

  string(v: unknown, path: string, pattern?: RegExp, what?: string): string {
    if (v === undefined) this.fail(path, 'missing');
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    if (pattern && !pattern.test(v)) this.fail(path, `'${v.slice(0, 80)}' is not ${what ?? 'valid'}`);
    return v;
  }

  array(v: unknown, path: string, length?: number, maxLength?: number): unknown[] {
    if (v === undefined) this.fail(path, 'missing');
    if (!Array.isArray(v)) this.fail(path, 'must be an array');
    if (length !== undefined && v.length !== length) this.fail(path, `has ${v.length} entries, expected ${length}`);
    if (maxLength !== undefined && v.length > maxLength)
      this.fail(path, `has ${v.length} entries, at most ${maxLength} allowed`);
    return v;
  }

  numbers(
    v: unknown,
    path: string,
    length?: number,
    o: { int?: boolean; min?: number; maxLength?: number } = {},
  ): number[] {
    const a = this.array(v, path, length, o.maxLength);
    for (let i = 0; i < a.length; i++) this.number(a[i], `${path}[${i}]`, o);
    return a as number[];
  }

  /** A {@link Histogram}; returns its total count. */
  histogram(v: unknown, path: string, o: { minValue?: number; intValues?: boolean; maxLength?: number } = {}): number {
    const h = this.object(v, path) as Partial<HistogramLike>;
    const values = this.numbers(h.values, `${path}.values`, undefined, {
      min: o.minValue ?? 0,
      int: o.intValues ?? true,
      maxLength: o.maxLength,
    });
    const counts = this.numbers(h.counts, `${path}.counts`, values.length, { int: true, min: 1 });
    for (let i = 1; i < values.length; i++) {
      if (!(values[i]! > values[i - 1]!)) this.fail(`${path}.values[${i}]`, 'values must be ascending and distinct');
    }
    return sum(counts);
  }

  /** A non-negative decimal integer string; returns it as a bigint. */
  decimalNs(v: unknown, path: string, min = 0n): bigint {
    const s = this.string(v, path, /^\d{1,30}$/, 'a decimal integer of nanoseconds');
    const n = BigInt(s);
    if (n < min) this.fail(path, `${s} is below ${min}`);
    return n;
  }

  close(actual: number, expected: number, path: string, what: string): void {
    const tol = PROFILE_TOLERANCE * Math.max(1, Math.abs(expected));
    if (!(Math.abs(actual - expected) <= tol)) this.fail(path, `${actual} does not match ${what} (${expected})`);
  }
}

function sum(a: readonly number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
