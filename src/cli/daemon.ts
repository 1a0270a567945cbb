/** What the daemons (`smig relay`, `smig recv`, `smig control`) share: their logger, their life until a signal, their --out check. */
import { smigError } from '../errors.js';
import type { LogFormat, Logger } from '../util/log.js';
import type { CliIO } from './io.js';

/** The logger of a command: one line per event on stderr. */
export async function commandLogger(f: { logFormat: LogFormat }, io: CliIO, component: string): Promise<Logger> {
  const { createLogger } = await import('../util/log.js');
  return createLogger({ format: f.logFormat, sink: io.stderr, component });
}

/**
 * Runs a daemon until SIGINT or SIGTERM, then closes it and logs its resource usage (CPU seconds, peak
 * memory): the numbers `npm run bench:transfer` collects. An unexpected rejection anywhere is logged and
 * the daemon goes on (a bad peer must not take it down).
 */
export async function serveUntilSignal(log: Logger, close: () => Promise<void>): Promise<number> {
  const onInternal = (err: unknown): void =>
    log.event('internal-error', { reason: err instanceof Error ? err.message : String(err) });
  process.on('unhandledRejection', onInternal);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.event('stopping', { signal });
  await close();
  process.off('unhandledRejection', onInternal);
  const ru = process.resourceUsage();
  log.event('stopped', {
    cpuUserSeconds: ru.userCPUTime / 1e6,
    cpuSystemSeconds: ru.systemCPUTime / 1e6,
    maxRssKiB: ru.maxRSS,
  });
  return 0;
}

/** `--out DIR` of a daemon must be a writable directory (checked at start, not at the first session). */
export async function checkOutDir(dir: string): Promise<void> {
  const { access, stat } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  try {
    if (!(await stat(dir)).isDirectory()) throw smigError('SMIG_ERR_FILE', `--out ${dir}: not a directory`);
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('SMIG_')) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw smigError(
      'SMIG_ERR_FILE',
      `--out ${dir}: ${code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'not writable' : (code ?? 'error')}`,
      err,
    );
  }
}
