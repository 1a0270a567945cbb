/** What a command may touch of the outside world: passed in, so tests can run commands in-process. */
import type { Command } from 'commander';

/** A text sink: process.stdout/stderr, or a string collector in tests. */
export interface TextSink {
  write(text: string): boolean;
  isTTY?: boolean;
}

export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
}

const bound = new WeakMap<Command, CliIO>();

/** main.ts binds its sinks to every command it registers, for {@link ioOf}. */
export function bindIO(cmd: Command, io: CliIO): void {
  bound.set(cmd, io);
}

/**
 * The CLI sinks of a subcommand (`smig control status`, `smig profile plan`): CommandSpec.configure gets no
 * CliIO, so a subcommand finds the sinks main.ts bound to it or to its nearest ancestor.
 */
export function ioOf(cmd: Command): CliIO {
  for (let c: Command | null = cmd; c !== null; c = c.parent) {
    const io = bound.get(c);
    if (io !== undefined) return io;
  }
  return { stdout: process.stdout, stderr: process.stderr };
}

/** `smig control status` for the status subcommand of control. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Sends a command's (and its subcommands') output to `io`, with commander's error messages in smig's
 * one-line format: `smig CMD: unknown option '--frob' (smig CMD --help lists the options)`.
 */
export function configureCommandOutput(cmd: Command, io: CliIO): void {
  bindIO(cmd, io);
  const path = commandPath(cmd);
  cmd.configureOutput({
    writeOut: (s) => void io.stdout.write(s),
    writeErr: (s) => void io.stderr.write(s),
    outputError: (s, write) =>
      write(
        `${path}: ${s
          .trim()
          .replace(/^error: /, '')
          .replace(/\s*\n\s*\(Did you/g, ' (did you')
          .replace(/\s*\n\s*/g, ' ')} (see ${path} --help)\n`,
      ),
  });
  for (const sub of cmd.commands) configureCommandOutput(sub, io);
}
