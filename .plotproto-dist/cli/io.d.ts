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
export declare function argParser<T>(parse: (text: string) => T): (text: string) => T;
/** Collects repeated options (`--class a=x --class b=y`). */
export declare function collect(value: string, previous: string[] | undefined): string[];
