/** Plain aligned text tables for stdout, like tshark's and iperf's summaries. */

export type Align = 'l' | 'r';

/** Formats rows under a header; numbers right-aligned by default, text left-aligned. */
export function table(header: string[], rows: (string | number)[][], align?: Align[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const al = align ?? header.map((_, i) => (rows.length > 0 && typeof rows[0]![i] === 'number' ? 'r' : 'l'));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (al[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Numbers for people: integers as they are, others with 4 significant digits, tiny p-values in e-notation. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '-' : String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}
