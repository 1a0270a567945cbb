#!/usr/bin/env node
// The project's test command (`npm test`): builds, runs vitest with its JSON reporter beside the default one,
// and ends with the plain line `N passed, N failed[, N skipped]` that CI reads. Exit status is vitest's.
// Extra arguments go to vitest (e.g. `npm test -- test/unit/ks.test.ts`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(build.status ?? 1);
}
const dir = mkdtempSync(join(tmpdir(), 'smig-test-'));
const out = join(dir, 'vitest.json');
const run = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
  skipped = r.numPendingTests + r.numTodoTests;
} catch {
  failed = 1;
}
rmSync(dir, { recursive: true, force: true });
// vitest exits non-zero for errors outside any test (an unhandled rejection, an uncaught exception) that its
// JSON report does not count: the closing line must not say 0 failed then
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status === 0 && failed === 0 ? 0 : run.status || 1);
