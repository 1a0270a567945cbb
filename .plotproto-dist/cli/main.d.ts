import type { CliIO } from './io.js';
export type { CliIO } from './io.js';
/** Runs smig with `argv` (without node and script), returning the exit status instead of exiting. */
export declare function main(argv: string[], io: CliIO): Promise<number>;
