/** Every command answers --help with its usage and at least one example, and the top level lists them all. */
import { describe, expect, it } from 'vitest';
import { COMMAND_LOADERS, loadCommands } from '../../src/cli/commands/index.js';
import { runCli } from '../helpers/cli.js';

const COMMANDS = await loadCommands();

describe('smig --help', () => {
  it("the table's names are its modules' command names, in order", () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(COMMAND_LOADERS.map((c) => c.name));
  });
  it('lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.status).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.name);
  });
  for (const c of COMMANDS) {
    it(`smig ${c.name} --help shows usage and examples`, async () => {
      const r = await runCli([c.name, '--help']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: smig ${c.name}`));
      expect(r.stdout).toMatch(/Examples:\n {2}\$ smig /);
    });
  }
  it('an unknown command or option is exit 2 with a message', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    const o = await runCli(['analyze', '--frob']);
    expect(o.status).toBe(2);
    expect(o.stderr).toMatch(/unknown option '--frob'/);
  });
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
