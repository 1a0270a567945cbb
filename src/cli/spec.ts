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
}
