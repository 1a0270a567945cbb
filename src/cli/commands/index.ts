/** The table of commands, in the order `smig --help` lists them. */
import type { CommandSpec } from '../spec.js';
import { analyzeCommand } from './analyze.js';
import { benchCommand } from './bench.js';
import { captureCommand } from './capture.js';
import { controlCommand } from './control.js';
import { demoCommand } from './demo.js';
import { keygenCommand } from './keygen.js';
import { labCommand } from './lab.js';
import { profileCommand } from './profile.js';
import { recvCommand } from './recv.js';
import { relayCommand } from './relay.js';
import { sendCommand } from './send.js';

export type { CommandSpec } from '../spec.js';

export const COMMANDS: CommandSpec[] = [
  keygenCommand,
  sendCommand,
  relayCommand,
  recvCommand,
  controlCommand,
  analyzeCommand,
  profileCommand,
  captureCommand,
  labCommand,
  benchCommand,
  demoCommand,
];
