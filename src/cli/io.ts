/** What a command may touch of the outside world: passed in, so tests can run commands in-process. */
import { InvalidArgumentError } from 'commander';
import { isSmigError } from '../errors.js';

/** A text sink: process.stdout/stderr, or a string collector in tests. */
export interface TextSink {
  write(text: string): boolean;
  isTTY?: boolean;
}

export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
}

/**
 * Wraps one of our parsers (parseDuration, parseRate, …) for commander: a SmigError becomes commander's
 * InvalidArgumentError, so the message comes out as `error: option '--bin <dur>' argument '1x' is invalid. …`.
 */
export function argParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text: string): T => {
    try {
      return parse(text);
    } catch (err) {
      if (isSmigError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** Collects repeated options (`--class a=x --class b=y`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
