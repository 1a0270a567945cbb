/** `smig keygen [-o FILE]`: the cluster key every smig channel is authenticated with (docs/DESIGN.md §3 "Channel"). */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { ensureParentDir } from '../output.js';
import type { CommandSpec } from '../spec.js';

interface KeygenFlags {
  output?: string;
  force?: boolean;
  identity?: boolean;
  comment?: string;
}

export const keygenCommand: CommandSpec = {
  name: 'keygen',
  summary: 'make a cluster key (32 random bytes) for the TLS-PSK channels; written with mode 0600',
  examples: [
    'smig keygen -o cluster.key',
    'smig keygen > cluster.key && chmod 600 cluster.key',
    'smig keygen --identity -o h1.id --comment h1   # h1.id (0600) and h1.id.pub for the inventory',
  ],
  configure(cmd: Command): void {
    cmd
      .option('-o, --output <file>', 'write the key to FILE (mode 0600, atomically; refuses an existing file)')
      .option('--force', 'with -o: replace an existing file')
      .option('--identity', "make a host's identity (Ed25519 + X25519) instead: FILE (0600) and FILE.pub; needs -o")
      .option('--comment <text>', 'with --identity: text after the public key (e.g. the host name)');
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as KeygenFlags;
    if (opts.identity === true) {
      const { smigError } = await import('../../errors.js');
      if (opts.output === undefined)
        throw smigError('SMIG_ERR_USAGE', '--identity needs -o FILE (the private file and FILE.pub)');
      const { destroyIdentity, fingerprint, generateIdentity, writeIdentityFiles } = await import(
        '../../crypto/identity.js'
      );
      await ensureParentDir(opts.output, '--output');
      const id = generateIdentity(opts.comment);
      try {
        await writeIdentityFiles(opts.output, id, { force: opts.force === true });
        io.stdout.write(`${fingerprint(id.public)}\n`);
      } finally {
        destroyIdentity(id);
      }
      io.stderr.write(`smig keygen: identity written to ${opts.output} (mode 0600) and ${opts.output}.pub\n`);
      return 0;
    }
    if (opts.comment !== undefined) {
      const { smigError } = await import('../../errors.js');
      throw smigError('SMIG_ERR_USAGE', '--comment only applies with --identity');
    }
    const { encodeKeyFile, generateKey, generateKeyFile } = await import('../../crypto/keyfile.js');
    const { wipe } = await import('../../crypto/wipe.js');
    if (opts.output !== undefined) {
      await ensureParentDir(opts.output, '--output');
      await generateKeyFile(opts.output, { force: opts.force === true });
      io.stderr.write(`smig keygen: key written to ${opts.output} (mode 0600)\n`);
      return 0;
    }
    const key = generateKey();
    try {
      io.stdout.write(encodeKeyFile(key));
    } finally {
      wipe(key);
    }
    io.stderr.write(
      'smig keygen: warning: the key went to standard output; a file it is saved in must be chmod 600 ' +
        '(every --key refuses a file that group or others can read)\n',
    );
    return 0;
  },
};
