#!/usr/bin/env node
// Runs every compiled test file of every workspace with Node's own test
// runner, in one process tree, so that the closing summary covers the whole
// repository. Test sources live in <workspace>/test/*.test.ts and compile to
// <workspace>/dist/test/*.test.js (run `npm run build` first; `npm test` does).
//
// Usage: node test/run-tests.mjs [substring ...]   (filters test file paths)
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const workspaceGlobs = ['packages', 'apps'];
const workspaceDirs = [join(repositoryRoot, 'test')];
for (const parent of workspaceGlobs) {
  for (const name of readdirSync(join(repositoryRoot, parent))) {
    workspaceDirs.push(join(repositoryRoot, parent, name));
  }
}

/** Recursively lists *.test.js below a directory. */
function findTestFiles(directory) {
  if (!existsSync(directory)) return [];
  const found = [];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...findTestFiles(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const testFiles = workspaceDirs
  .flatMap((dir) => findTestFiles(join(dir, 'dist', 'test')))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();

if (testFiles.length === 0) {
  console.error('run-tests: no compiled test files found; run `npm run build` first');
  process.exit(1);
}
console.log(`run-tests: ${testFiles.length} test files`);
for (const file of testFiles) console.log(`  ${relative(repositoryRoot, file)}`);

// Two cores: run two test files at a time. Files that start servers pick free
// ports and temporary directories, so they do not interfere.
const testConcurrency = Number(process.env.HOLDFAST_TEST_CONCURRENCY ?? 2);
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${testConcurrency}`, '--test-reporter=spec', ...testFiles],
  { stdio: 'inherit', cwd: repositoryRoot },
);
process.exit(result.status ?? 1);
