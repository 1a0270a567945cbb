/** Numbers for people in command output: durations in seconds. Rates are util/units.ts formatRate (parseRate reads them back). */
import { formatNumber } from './table.js';

/** Seconds for people: `42.5 s`, `7380 s (2h 3m 0s)`. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${formatNumber(s)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = Math.round(s % 60);
  return `${formatNumber(s)} s (${h > 0 ? `${h}h ` : ''}${m}m ${rest}s)`;
}
