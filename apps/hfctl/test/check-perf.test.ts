/**
 * check perf: a minute of 150 writes/s from 50 clients, then etcdctl's
 * verdicts. etcdctl and hfctl must print the same lines against a fresh
 * Holdfast and a fresh etcd, once the measured numbers (writes/s, seconds)
 * are masked and the progress bar's frames ("\r 1 / 60 1.67%") are left out;
 * and the same errors for a bad --load and a prefix that has keys.
 *
 * Slow: two minutes (four runs of a minute each, two at a time: 150
 * writes/s each leave the verdicts unaffected).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, transcriptsOfBothTools, type Scenario } from './compare.js';
import { etcdMissing, type ServerKind } from './support.js';

const perfScenario: Scenario = async ({ run, tool }) => {
  await run(['check', 'perf', '--load', 'huge']);
  await run(['put', '/etcdctl-check-perf/leftover', 'x']);
  await run(['check', 'perf']);
  await run(['del', '/etcdctl-check-perf/', '--prefix']);
  const result = await run(['check', 'perf', '--auto-compact', '--auto-defrag'], { timeoutMs: 150_000, label: 'etcdctl check perf --auto-compact --auto-defrag' });
  assert.match(result.stdout, /PASS: Throughput is \d+ writes\/s|FAIL: Throughput too low/, `${tool} check perf printed no verdict: ${result.stdout.slice(-500)}`);
};

/** etcdctl's verdict rules for the default load "s" (ctlv3/command/check.go): 150 writes/s wanted. */
const verdictRules = { writesPerSecondWanted: 150, throughputShareMin: 0.9, slowestSecondsMax: 0.5, stddevSecondsMax: 0.1 } as const;

/**
 * Each verdict a run printed must follow from the numbers it printed (so
 * hfctl's verdict logic is checked on every run), and the final PASS/FAIL
 * and exit code from the three. Returns the step with the verdicts masked:
 * two runs at once on a loaded machine may measure a slow request in one
 * and not the other.
 */
function checkVerdicts(step: string): string {
  if (!/PASS: Throughput|FAIL: Throughput/.test(step)) return step;
  const throughput = /(PASS: Throughput is|FAIL: Throughput too low:) (\d+) writes\/s/.exec(step);
  const slowest = /(PASS: Slowest request took|Slowest request took too long:) ([\d.]+)s/.exec(step);
  const stddev = /(PASS: Stddev is|Stddev too high:) ([\d.]+)s/.exec(step);
  assert.ok(throughput && slowest && stddev, `verdict lines missing:\n${step}`);
  // etcdctl prints int(rate) + 1, so the rate lies in [printed - 1, printed): at the boundary either verdict holds.
  const printedRate = Number(throughput[2]);
  const rateFloorPasses = (printedRate - 1) / verdictRules.writesPerSecondWanted > verdictRules.throughputShareMin;
  const rateCeilingPasses = printedRate / verdictRules.writesPerSecondWanted > verdictRules.throughputShareMin;
  const throughputPrinted = throughput[1]!.startsWith('PASS');
  const checks = [
    [throughputPrinted, rateFloorPasses === rateCeilingPasses ? rateFloorPasses : throughputPrinted],
    [slowest[1]!.startsWith('PASS'), Number(slowest[2]) <= verdictRules.slowestSecondsMax],
    [stddev[1]!.startsWith('PASS'), Number(stddev[2]) <= verdictRules.stddevSecondsMax],
  ] as const;
  for (const [printed, expected] of checks) assert.equal(printed, expected, `a verdict that does not follow from its number:\n${step}`);
  const passed = checks.every(([printed]) => printed);
  assert.match(step, passed ? /^exit 0$[^]*^PASS$/m : /^exit 1$[^]*^FAIL$/m, `final verdict or exit code wrong:\n${step}`);
  return step
    .replace(/^exit [01]$/m, 'exit <verdict>')
    .replace(/(PASS: Throughput is|FAIL: Throughput too low:) /, '<verdict> throughput ')
    .replace(/(PASS: Slowest request took|Slowest request took too long:) /, '<verdict> slowest request ')
    .replace(/(PASS: Stddev is|Stddev too high:) /, '<verdict> stddev ')
    .replace(/^(PASS|FAIL)$/m, '<verdict>');
}

/**
 * The progress frames (and the blank lines around them, which depend on
 * whether etcdctl's bar finished before the verdicts), and what was measured.
 */
function maskMeasurements(step: string): string {
  return checkVerdicts(step)
    .replace(/\r *\d+ \/ \d+ +[\d.]+%( \d+m\d+s| \d+(\.\d+)?(ms|s))?/g, '')
    .replace(/\n{2,}/g, '\n')
    .replace(/(throughput) \d+ writes\/s/g, '$1 <n> writes/s')
    .replace(/(slowest request|stddev) [\d.]+s/g, '$1 <seconds>s')
    .replace(/(Compacting|Compacted) with revision \d+/g, '$1 with revision <revision>')
    .replace(/hfctl del --prefix/g, 'etcdctl del --prefix');
}

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`check perf: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 600_000 }, async () => {
    const transcripts = await transcriptsOfBothTools(kind, 'perf', perfScenario, { mapStep: maskMeasurements });
    assertSame(`check perf against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
  });
}
