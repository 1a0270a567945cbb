/** What a command may touch of the outside world: passed in, so tests can run commands in-process. */
import { InvalidArgumentError } from 'commander';
import { isSmigError } from '../errors.js';
/**
 * Wraps one of our parsers (parseDuration, parseRate, …) for commander: a SmigError becomes commander's
 * InvalidArgumentError, so the message comes out as `error: option '--bin <dur>' argument '1x' is invalid. …`.
 */
export function argParser(parse) {
    return (text) => {
        try {
            return parse(text);
        }
        catch (err) {
            if (isSmigError(err))
                throw new InvalidArgumentError(err.message);
            throw err;
        }
    };
}
/** Collects repeated options (`--class a=x --class b=y`). */
export function collect(value, previous) {
    return [...(previous ?? []), value];
}
//# sourceMappingURL=io.js.map