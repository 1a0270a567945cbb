// The structure of src/ as scripts/check-structure.mjs sees it: no import cycle (static, type-only or dynamic), no
// CLI command importing another, no file over 500 lines unless the script's allow-list names it with a reason.
// Any finding fails.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Finding {
  kind: 'cycle' | 'long-file' | 'command-imports-command';
  files: string[];
  lines?: number;
}

function check(): { status: number | null; files: number; findings: Finding[] } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'check-structure.mjs'), '--json'], {
    cwd: root,
    encoding: 'utf8',
  });
  const out = JSON.parse(r.stdout) as { files: number; findings: Finding[] };
  return { status: r.status, ...out };
}

describe('structure of src/', () => {
  const { status, files, findings } = check();

  it('walks the source tree', () => {
    expect(files).toBeGreaterThan(100);
  });

  it('has no finding: no cycle, no command importing a command, no long file', () => {
    expect(findings).toEqual([]);
    // the script's exit status agrees with its findings
    expect(status).toBe(0);
  });
});
