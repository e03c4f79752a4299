/**
 * check perf: a minute of 150 writes/s from 50 clients, then etcdctl's
 * verdicts. etcdctl and hfctl must print the same lines against a fresh
 * Holdfast and a fresh etcd, once the measured numbers (writes/s, seconds)
 * are masked and the progress bar's frames ("\r 1 / 60 1.67%") are left out;
 * and the same errors for a bad --load and a prefix that has keys.
 *
 * Slow: four minutes (four runs of a minute each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, runScenario, type Scenario } from './compare.js';
import { etcdMissing, removeDirectory, startServer, temporaryDirectory, type ServerKind, type Tool } from './support.js';

const perfScenario: Scenario = async ({ run, tool }) => {
  await run(['check', 'perf', '--load', 'huge']);
  await run(['put', '/etcdctl-check-perf/leftover', 'x']);
  await run(['check', 'perf']);
  await run(['del', '/etcdctl-check-perf/', '--prefix']);
  const result = await run(['check', 'perf', '--auto-compact', '--auto-defrag'], { timeoutMs: 150_000, label: 'etcdctl check perf --auto-compact --auto-defrag' });
  assert.match(result.stdout, /PASS: Throughput is \d+ writes\/s|FAIL: Throughput too low/, `${tool} check perf printed no verdict: ${result.stdout.slice(-500)}`);
};

/**
 * The progress frames (and the blank lines around them, which depend on
 * whether etcdctl's bar finished before the verdicts), and what was measured.
 */
function maskMeasurements(step: string): string {
  return step
    .replace(/\r *\d+ \/ \d+ +[\d.]+%( \d+m\d+s| \d+(\.\d+)?(ms|s))?/g, '')
    .replace(/\n{2,}/g, '\n')
    .replace(/(Throughput is|Throughput too low:) \d+ writes\/s/g, '$1 <n> writes/s')
    .replace(/(took|took too long:|Stddev is|Stddev too high:) [\d.]+s/g, '$1 <seconds>s')
    .replace(/(Compacting|Compacted) with revision \d+/g, '$1 with revision <revision>')
    .replace(/hfctl del --prefix/g, 'etcdctl del --prefix');
}

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`check perf: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 600_000 }, async () => {
    const transcripts = {} as Record<Tool, string[]>;
    for (const tool of ['etcdctl', 'hfctl'] as const) {
      const server = await startServer(kind);
      const directory = temporaryDirectory('perf');
      try {
        transcripts[tool] = (await runScenario(tool, server, directory, perfScenario)).map(maskMeasurements);
      } finally {
        await server.stop();
        removeDirectory(directory);
      }
    }
    assertSame(`check perf against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
  });
}
