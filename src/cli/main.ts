/**
 * The command-line entry: registers one module per command with commander and maps errors to exit codes.
 * Nothing here knows what a command does; each module in ./commands/ parses its options and calls the library.
 * Only the module of the command on the line is loaded (commands/index.ts).
 *
 * Every error is one line in one format, whoever finds it: `smig CMD: what (where)` — commander's own
 * (an unknown option, a bad option argument, a missing argument) are rewritten from `error: …` to it.
 * An option a command does not take is an error everywhere: options are positional (a parent's option
 * must come before its subcommand), so `smig control status --listen H:P` is refused instead of setting
 * the daemon's --listen and being ignored.
 */
import { Command, CommanderError } from 'commander';
import { isSmigError } from '../errors.js';
import { COMMAND_LOADERS, loadCommands } from './commands/index.js';
import type { CliIO } from './io.js';
import { commandPath, configureCommandOutput } from './io.js';
import { ParsedOnly, parseOnly } from './spec.js';

export type { CliIO } from './io.js';

/** Runs smig with `argv` (without node and script), returning the exit status instead of exiting. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let status = 0;
  let current = 'smig';
  // only the command on the line is loaded and registered (all of them for `smig --help`, `smig help …`, a typo)
  const commands = await loadCommands(argv.find((a) => !a.startsWith('-')));
  const program = new Command('smig')
    .description('stealth migration: move a workload so that no link gives it away, and measure that it did')
    .version(await packageVersion(), '-V, --version')
    .enablePositionalOptions()
    .exitOverride();
  for (const spec of commands) {
    const cmd = program.command(spec.name).description(spec.summary).exitOverride();
    spec.configure(cmd);
    if (spec.examples.length > 0) {
      cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
    }
    if (spec.run) {
      const run = spec.run;
      cmd.action(async (...args: unknown[]) => {
        // commander passes (...positionals, options, command)
        const command = args.at(-1) as Command;
        status = await run(command.args, command.opts(), io, command);
      });
    }
  }
  configureCommandOutput(program, io);
  forEachCommand(program, (c) => void c.exitOverride());
  program.hook('preAction', (_program, actionCommand) => {
    current = commandPath(actionCommand);
    const spec = commands.find((c) => `smig ${c.name}` === current);
    if (parseOnly() && spec?.ownParser !== true) throw new ParsedOnly();
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (err) {
    if (err instanceof ParsedOnly) return 0;
    return reportError(err, current === 'smig' ? guessCommand(argv) : current, io);
  }
}

function forEachCommand(cmd: Command, f: (c: Command) => void): void {
  f(cmd);
  for (const sub of cmd.commands) forEachCommand(sub, f);
}

/** The command named on the line, for an error before any action ran. */
function guessCommand(argv: string[]): string {
  const cmd = argv.find((a) => !a.startsWith('-'));
  return cmd !== undefined && COMMAND_LOADERS.some((c) => c.name === cmd) ? `smig ${cmd}` : 'smig';
}

function reportError(err: unknown, prefix: string, io: CliIO): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; everything else commander reports is bad usage (it already printed the message)
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return 0;
    return 2;
  }
  if (isSmigError(err)) {
    io.stderr.write(`${prefix}: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`${prefix}: internal error: ${message}\n`);
  if (process.env.SMIG_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return 1;
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
