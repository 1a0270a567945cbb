/**
 * The data an agent may be told to migrate away (`smig relay --source`): parsing a `--source` spec and
 * opening it as a stream — a file, a command's stdout, or (the spec only) a VM's QMP socket.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { smigError } from '../errors.js';
import { NAME_PATTERN } from './inventory.js';

/**
 * One `--source NAME=PATH` (a file), `--source NAME=|CMD` (a command whose stdout is the stream) or
 * `--source NAME=qmp:SOCKET` (a running QEMU VM, migrated over its QMP monitor: src/vm/source.ts).
 */
export interface SourceSpec {
  name: string;
  path: string | null;
  command: string | null;
  /** The VM's QMP socket (a VM source); absent or null otherwise. */
  qmp?: string | null;
}

/**
 * Parses `--source NAME=PATH` or `NAME=|CMD`.
 * @throws SmigError SMIG_ERR_USAGE
 * @example parseSourceSpec('db=|pg_dump appdb') // { name: 'db', path: null, command: 'pg_dump appdb' }
 */
export function parseSourceSpec(text: string): SourceSpec {
  const eq = text.indexOf('=');
  const name = eq < 0 ? '' : text.slice(0, eq);
  if (!NAME_PATTERN.test(name))
    throw smigError(
      'SMIG_ERR_USAGE',
      `--source: '${text}' is not NAME=PATH or NAME=|CMD (NAME: letters, digits, '.', '_', '-')`,
    );
  const rest = text.slice(eq + 1);
  if (rest.startsWith('|')) {
    const command = rest.slice(1);
    if (command.trim() === '') throw smigError('SMIG_ERR_USAGE', `--source ${name}: the command after '|' is empty`);
    return { name, path: null, command };
  }
  if (rest.startsWith('qmp:')) {
    if (rest.length === 4)
      throw smigError('SMIG_ERR_USAGE', `--source ${name}: the QMP socket path after 'qmp:' is empty`);
    return { name, path: null, command: null, qmp: rest.slice(4) };
  }
  if (rest === '') throw smigError('SMIG_ERR_USAGE', `--source ${name}: the path is empty`);
  return { name, path: rest, command: null };
}

/** What a source feeds runSource. */
export interface OpenedSource {
  stream: AsyncIterable<Uint8Array>;
  length: number | null;
  /** The name the destination installs it under: the file's base name, or the source's name for a command. */
  name: string;
}

/**
 * Opens a source: a file (its length known), or a command run as `/bin/sh -c CMD` in its own process group
 * whose stdout is the stream. A command that exits with a status other than 0 fails the stream at its end,
 * so a half-written snapshot is never confirmed as a migration. Aborting kills the command.
 * @throws SmigError SMIG_ERR_FILE for a missing or unreadable file
 */
export async function openSource(spec: SourceSpec, signal?: AbortSignal): Promise<OpenedSource> {
  if (spec.path !== null) {
    const st = await stat(spec.path).catch((err: NodeJS.ErrnoException) => {
      throw smigError(
        'SMIG_ERR_FILE',
        `--source ${spec.name}: ${spec.path}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`,
      );
    });
    if (!st.isFile()) throw smigError('SMIG_ERR_FILE', `--source ${spec.name}: ${spec.path}: not a regular file`);
    return {
      stream: createReadStream(spec.path, { highWaterMark: 1024 * 1024 }),
      length: st.size,
      name: basename(spec.path),
    };
  }
  return { stream: commandStream(spec, signal), length: null, name: spec.name };
}

async function* commandStream(spec: SourceSpec, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const child = spawn('/bin/sh', ['-c', spec.command!], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, sig) => resolve({ code, signal: sig }));
  });
  const kill = (): void => {
    try {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  signal?.addEventListener('abort', kill, { once: true });
  try {
    for await (const chunk of child.stdout!) yield chunk as Uint8Array;
    const end = await exited;
    if (end.error !== undefined)
      throw smigError(
        'SMIG_ERR_FILE',
        `--source ${spec.name}: cannot run the command (${(end.error as NodeJS.ErrnoException).code ?? end.error.message})`,
      );
    if (end.code !== 0) {
      throw smigError(
        'SMIG_ERR_FILE',
        `--source ${spec.name}: the command ${end.signal !== null ? `was killed by ${end.signal}` : `exited with status ${end.code}`}`,
      );
    }
  } finally {
    signal?.removeEventListener('abort', kill);
    kill();
  }
}
