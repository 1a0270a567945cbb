/** The relays of a bench migration (`--data-relays`, `--key-relays`, `--threshold`) and the cost measure of a run. */
import { smigError } from '../errors.js';

/** The paper's default: chunks over 2 data relays, the key 2-of-3 over key relays, a leader of its own. */
export const DEFAULT_LAYOUT: BenchLayout = { dataRelays: 2, keyRelays: 3, threshold: 2 };

/**
 * A layout from `--data-relays`, `--key-relays`, `--threshold` (each optional, over `base`).
 * @throws SmigError SMIG_ERR_USAGE for counts outside 1…255 or a threshold above the key relays.
 */
export function parseLayout(
  o: { dataRelays?: string | number; keyRelays?: string | number; threshold?: string | number },
  base: BenchLayout = DEFAULT_LAYOUT,
): BenchLayout {
  const int = (v: string | number | undefined, flag: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 32)
      throw smigError('SMIG_ERR_USAGE', `${flag}: '${v}' is not a whole number from 1 to 32`);
    return n;
  };
  const dataRelays = int(o.dataRelays, '--data-relays', base.dataRelays);
  const keyRelays = int(o.keyRelays, '--key-relays', base.keyRelays);
  const threshold = int(o.threshold, '--threshold', Math.min(base.threshold, keyRelays));
  if (threshold > keyRelays)
    throw smigError('SMIG_ERR_USAGE', `--threshold ${threshold} is above --key-relays ${keyRelays}`);
  return { dataRelays, keyRelays, threshold };
}

/** 1 − hops × size ÷ the links' wire bytes (see {@link BenchRun.wireOverhead}); 0 for no bytes. */
export function wireOverhead(size: number, hops: number, linkBytes: readonly number[]): number {
  const wire = linkBytes.reduce((a, b) => a + b, 0);
  return wire > 0 ? 1 - (hops * size) / wire : 0;
}

/** How many relays a migration uses. */
export interface BenchLayout {
  dataRelays: number;
  keyRelays: number;
  threshold: number;
}
