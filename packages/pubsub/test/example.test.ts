/** The README's runnable example runs, unchanged, against both servers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { forEachServer, repositoryRoot } from './helpers.js';

const example = join(repositoryRoot, 'packages', 'pubsub', 'examples', 'orders.mjs');

forEachServer('examples/orders.mjs', (suite) => {
  test('runs to the end and prints what the README says', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [example, suite.server().endpoint], { cwd: repositoryRoot, timeout: 50_000 }, (error, out, err) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout: out, stderr: err }),
      ),
    );
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      [
        'published #1',
        'batch #2 #3 #4 #5 in one txn: true',
        'billing: #1 {"order":1}',
        'billing: #2 {"order":2}',
        'billing: #3 {"order":3}',
        'billing cursor: 3',
        'billing resumes at #4',
        'shipping: a got #1 #2 #5, b got #3 #4',
        'trimmed 3, oldest kept #4',
        '',
      ].join('\n'),
    );
    const { kvs } = await suite.client().get('demo-pubsub/', { prefix: true });
    assert.equal(kvs.length, 0, 'it cleans up after itself');
  });
});
