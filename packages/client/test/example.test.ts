/** The README's runnable example runs, unchanged, against both servers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { forEachServer } from './helpers.js';
import { repositoryRoot } from './support/index.js';

const example = join(repositoryRoot, 'packages', 'client', 'examples', 'quickstart.mjs');

forEachServer('examples/quickstart.mjs', (suite) => {
  test('runs to the end and prints what the README says', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [example, suite.server().endpoint], { cwd: repositoryRoot, timeout: 50_000 }, (error, out, err) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout: out, stderr: err }),
      ),
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /owner created by us: true/);
    assert.match(stdout, /watched put \/demo\/greeting hello again/);
    assert.match(stdout, /namespaced keys: \[ 'config' \]/);
    assert.match(stdout, /compacted, as expected/);
  });
});
