/**
 * The table of commands, in the order `smig --help` lists them. Each command's module is loaded only when it is
 * needed: `smig analyze FILE` loads the analyze module alone (not send's crypto nor bench's harness), which is a
 * good part of the start-up time of a short command.
 */
import type { CommandSpec } from '../spec.js';

export type { CommandSpec } from '../spec.js';

/** Every command's name with the loader of its module (the name is the spec's `name`, checked by the tests). */
export const COMMAND_LOADERS: readonly { name: string; load: () => Promise<CommandSpec> }[] = [
  { name: 'keygen', load: async () => (await import('./keygen.js')).keygenCommand },
  { name: 'send', load: async () => (await import('./send.js')).sendCommand },
  { name: 'relay', load: async () => (await import('./relay.js')).relayCommand },
  { name: 'recv', load: async () => (await import('./recv.js')).recvCommand },
  { name: 'control', load: async () => (await import('./control.js')).controlCommand },
  { name: 'analyze', load: async () => (await import('./analyze.js')).analyzeCommand },
  { name: 'profile', load: async () => (await import('./profile.js')).profileCommand },
  { name: 'capture', load: async () => (await import('./capture.js')).captureCommand },
  { name: 'lab', load: async () => (await import('./lab.js')).labCommand },
  { name: 'bench', load: async () => (await import('./bench.js')).benchCommand },
  { name: 'demo', load: async () => (await import('./demo.js')).demoCommand },
];

/** The command named `name`, or every command (in table order) when `name` names none. */
export async function loadCommands(name?: string): Promise<CommandSpec[]> {
  const one = COMMAND_LOADERS.filter((c) => c.name === name);
  return Promise.all((one.length > 0 ? one : COMMAND_LOADERS).map((c) => c.load()));
}
