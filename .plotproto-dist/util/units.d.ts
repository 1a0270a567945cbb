/**
 * Parses a duration into integer nanoseconds. A bare number means seconds.
 * @throws SmigError SMIG_ERR_BAD_DURATION
 * @example parseDuration('250us') === 250_000n
 */
export declare function parseDuration(text: string, what?: string): bigint;
/** Formats nanoseconds the way the parser reads them back (`1s`, `250us`, `1.5ms`). */
export declare function formatDuration(ns: bigint): string;
/**
 * Parses a size (`1500`, `64KiB`, `256MB`, `1G`) into bytes.
 * @throws SmigError SMIG_ERR_BAD_SIZE
 */
export declare function parseSize(text: string, what?: string): number;
/**
 * Parses a rate into bytes per second: `6MB/s`, `750KiB/s`, `10Mbit/s`, `1Gbps`, `500kbps`.
 * @throws SmigError SMIG_ERR_BAD_RATE
 */
export declare function parseRate(text: string, what?: string): number;
/** Human-readable byte count with a binary prefix: `1.5 MiB`. */
export declare function formatBytes(n: number): string;
