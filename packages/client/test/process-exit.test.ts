/**
 * After client.close() nothing of the client keeps the process alive: a
 * process that closes its client exits at once, also when a watch or a
 * keepalive was stopped before (or while) its gRPC stream opened.
 *
 * Before the fix, a watch closed before its stream opened left an HTTP/2
 * stream open (grpc-js loses a cancel made right after a call's creation),
 * so the process stayed alive for about 30 s after client.close().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { forEachServer } from './helpers.js';

const childScript = fileURLToPath(new URL('./fixtures/close-early.js', import.meta.url));

/** How long a process may take to exit after closing its client: generous for a loaded machine, far below the 30 s of the leak. */
const exitAfterCloseMsMax = 5_000;
/** Whole child run: start, connect, a few calls, exit. */
const childRunMsMax = 30_000;

const scenarios = [
  'watch-closed-before-its-stream-opens',
  'watch-closed-after-its-stream-opens',
  'keepalive-closed-before-its-stream-opens',
  'watch-aborted-while-its-stream-opens',
] as const;

/** Runs the child; resolves with the milliseconds between its "closed" line and its exit. */
async function exitDelayMs(endpoint: string, scenario: string): Promise<number> {
  const child = spawn(process.execPath, [childScript, endpoint, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let closedAtMs: number | undefined;
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (closedAtMs === undefined && output.includes('closed\n')) closedAtMs = performance.now();
  });
  const killTimer = setTimeout(() => child.kill('SIGKILL'), childRunMsMax);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
  );
  const exitedAtMs = performance.now();
  clearTimeout(killTimer);
  assert.equal(signal, null, `the child was killed after ${childRunMsMax} ms (it never exited by itself):\n${output}`);
  assert.equal(code, 0, `the child failed:\n${output}`);
  assert.ok(closedAtMs !== undefined, `the child never closed its client:\n${output}`);
  return exitedAtMs - closedAtMs;
}

forEachServer('process exit after client.close()', (suite) => {
  for (const scenario of scenarios) {
    test(`${scenario}: the process exits within ${exitAfterCloseMsMax} ms of client.close()`, { timeout: childRunMsMax + 10_000 }, async (t) => {
      const delayMs = await exitDelayMs(suite.server().endpoint, scenario);
      t.diagnostic(`exited ${delayMs.toFixed(0)} ms after client.close()`);
      assert.ok(delayMs < exitAfterCloseMsMax, `the process stayed alive ${delayMs.toFixed(0)} ms after client.close()`);
    });
  }
});
