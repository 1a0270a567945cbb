/** Plain aligned text tables for stdout, like tshark's and iperf's summaries. */
export type Align = 'l' | 'r';
/** Formats rows under a header; numbers right-aligned by default, text left-aligned. */
export declare function table(header: string[], rows: (string | number)[][], align?: Align[]): string;
/** Numbers for people: integers as they are, others with 4 significant digits, tiny p-values in e-notation. */
export declare function formatNumber(v: number): string;
