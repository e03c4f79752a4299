/** The README's runnable example runs, unchanged, against both servers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { forEachServer, repositoryRoot } from './helpers.js';

const example = join(repositoryRoot, 'packages', 'registry', 'examples', 'greeter.mjs');

forEachServer('examples/greeter.mjs', (suite) => {
  test('runs to the end and prints what the README says', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [example, suite.server().endpoint], { cwd: repositoryRoot, timeout: 50_000 }, (error, out, err) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout: out, stderr: err }),
      ),
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /instances: \[ 'alpha', 'beta' \]/);
    assert.match(stdout, /round-robin: (alpha beta alpha beta|beta alpha beta alpha)\n/);
    assert.match(stdout, /answers: \[ 'hello you from alpha', 'hello you from beta' \]/);
    assert.match(stdout, /event: removed beta\n/);
    assert.match(stdout, /now: \[ 'alpha' \]/);
    // Everything was deregistered on the way out.
    const { kvs } = await suite.client().get('demo/greeter/', { prefix: true });
    assert.equal(kvs.length, 0);
  });
});
