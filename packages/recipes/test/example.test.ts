/** The README's runnable example runs, unchanged, against both servers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { forEachServer, repositoryRoot } from './helpers.js';

const example = join(repositoryRoot, 'packages', 'recipes', 'examples', 'lock-and-elect.mjs');

forEachServer('examples/lock-and-elect.mjs', (suite) => {
  test('runs to the end and prints what the README says', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [example, suite.server().endpoint], { cwd: repositoryRoot, timeout: 50_000 }, (error, out, err) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout: out, stderr: err }),
      ),
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /locked \/demo\/lock\/[0-9a-f]+ fencing token \d+/);
    assert.match(stdout, /guarded write applied: true/);
    assert.match(stdout, /tryLock while held: undefined/);
    assert.match(stdout, /> ours: true/);
    assert.match(stdout, /stale guarded write applied: false/);
    assert.match(stdout, /leader: node-a\n/);
    assert.match(stdout, /observed: \[ 'node-a', 'node-a \(v2\)' \]/);
    assert.match(stdout, /counter: 1/);
    assert.match(stdout, /waiter whose lease was revoked: SessionExpiredError/);
  });
});
