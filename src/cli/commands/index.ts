/** The table of commands, in the order `smig --help` lists them. */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { analyzeCommand } from './analyze.js';
import { benchCommand } from './bench.js';
import { captureCommand } from './capture.js';
import { demoCommand } from './demo.js';
import { controlCommand } from './control.js';
import { keygenCommand } from './keygen.js';
import { labCommand } from './lab.js';
import { profileCommand } from './profile.js';
import { recvCommand } from './recv.js';
import { relayCommand } from './relay.js';
import { sendCommand } from './send.js';

/** One CLI command: its options are declared in `configure`, its work is done in `run`. */
export interface CommandSpec {
  name: string;
  summary: string;
  examples: string[];
  configure(cmd: Command): void;
  /** Returns the exit status. Undefined for a command that only groups subcommands. */
  run?: (args: string[], opts: Record<string, unknown>, io: CliIO, cmd: Command) => Promise<number>;
}

export const COMMANDS: CommandSpec[] = [keygenCommand, sendCommand, relayCommand, recvCommand, controlCommand, analyzeCommand, profileCommand, captureCommand, labCommand, benchCommand, demoCommand];
