/**
 * One error taxonomy for smig: every error that reaches a user carries a stable, documented `code`
 * (a literal type) and the exit code the CLI maps it to. Messages are one line and name what and where.
 * The table of codes is in docs/ARCHITECTURE.md ("Error codes"); keep both in step.
 */

/** Exit status: 0 success, 1 the operation failed (peer refused, migration incomplete), 2 bad usage or input. */
export type ExitCode = 0 | 1 | 2;

export const ERROR_CODES = {
  // usage and configuration (exit 2)
  SMIG_ERR_USAGE: 2,
  SMIG_ERR_BAD_DURATION: 2,
  SMIG_ERR_BAD_RATE: 2,
  SMIG_ERR_BAD_SIZE: 2,
  SMIG_ERR_BAD_ADDRESS: 2,
  SMIG_ERR_FILTER: 2,
  SMIG_ERR_FILE: 2,
  SMIG_ERR_KEY_FILE: 2,
  SMIG_ERR_CONFIG: 2,
  SMIG_ERR_PROFILE: 2,
  // capture input (exit 2)
  SMIG_ERR_NOT_CAPTURE: 2,
  SMIG_ERR_CAPTURE_FORMAT: 2,
  SMIG_ERR_CAPTURE_TRUNCATED: 2,
  SMIG_ERR_GZIP: 2,
  // wire protocol and crypto (exit 1: a peer or the data failed, not the user)
  SMIG_ERR_FRAME_TOO_LARGE: 1,
  SMIG_ERR_FRAME_TYPE: 1,
  SMIG_ERR_FRAME_MALFORMED: 1,
  SMIG_ERR_PROTOCOL_STATE: 1,
  SMIG_ERR_BUFFER_LIMIT: 1,
  SMIG_ERR_AUTH: 1,
  SMIG_ERR_SHARES: 1,
  SMIG_ERR_HANDSHAKE: 1,
  SMIG_ERR_TIMEOUT: 1,
  SMIG_ERR_PEER: 1,
  SMIG_ERR_CONNECTION: 1,
  SMIG_ERR_VERIFY: 1,
  SMIG_ERR_MIGRATION: 1,
  SMIG_ERR_CAPTURE_LIVE: 1,
  SMIG_ERR_INTERNAL: 1,
  // a file re-read for a re-send differs from what was sealed (exit 1)
  SMIG_ERR_SOURCE_CHANGED: 1,
  // lab hosts and live capture: not root / no capture permission (exit 2); an ip/tc step failed (exit 1)
  SMIG_ERR_PERMISSION: 2,
  SMIG_ERR_LAB: 1,
  // smig control: too few available hosts for a session (exit 1)
  SMIG_ERR_NO_HOSTS: 1,
  // a virtual machine's monitor (QMP) refused, failed or the hypervisor failed the migration (exit 1)
  SMIG_ERR_VM: 1,
} as const;

export type SmigErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error smig raises on purpose. `message` is a single line meant for the user. */
export class SmigError extends Error {
  readonly code: SmigErrorCode;
  override name: string = 'SmigError';

  constructor(code: SmigErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** Exit status the CLI uses for this error. */
  get exitCode(): ExitCode {
    return ERROR_CODES[this.code];
  }
}

/** Narrowing helper that also works across module instances (checks the shape, not the prototype). */
export function isSmigError(err: unknown): err is SmigError {
  return (
    err instanceof SmigError ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as { code?: unknown }).code === 'string' &&
      (err as { code: string }).code in ERROR_CODES)
  );
}

/** Shorthand factory: `throw smigError('SMIG_ERR_USAGE', '--bin: expected a duration')`. */
export function smigError(code: SmigErrorCode, message: string, cause?: unknown): SmigError {
  return new SmigError(code, message, cause === undefined ? undefined : { cause });
}
