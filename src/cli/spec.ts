/** The shape of one CLI command module (src/cli/commands/*.ts); main.ts registers them in the order of commands/index.ts. */
import type { Command } from 'commander';
import type { CliIO } from './io.js';

/** One CLI command: its options are declared in `configure`, its work is done in `run`. */
export interface CommandSpec {
  name: string;
  summary: string;
  examples: string[];
  configure(cmd: Command): void;
  /** Returns the exit status. Undefined for a command that only groups subcommands. */
  run?: (args: string[], opts: Record<string, unknown>, io: CliIO, cmd: Command) => Promise<number>;
  /**
   * The command parses its own arguments in `run` (`smig lab`): with SMIG_PARSE_ONLY=1, `run` is called and
   * must stop after parsing ({@link parseOnly}).
   */
  ownParser?: boolean;
}

/**
 * `SMIG_PARSE_ONLY=1`: parse the command line as usual (every option, argument and value checked) and exit 0
 * without doing anything — the README's test checks the examples that need root or run for minutes this way.
 */
export function parseOnly(): boolean {
  return process.env.SMIG_PARSE_ONLY === '1';
}

/** Thrown by a preAction hook in parse-only mode: the line parsed. */
export class ParsedOnly extends Error {
  constructor() {
    super('parsed only');
  }
}
