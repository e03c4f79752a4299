/**
 * The adversarial suite, short form (test/src/adversarial; the long form is
 * `npm run adversarial -- --long`). Every attack runs against Holdfast and,
 * as the control, against etcd 3.4. Holdfast must survive each: a new
 * client's Put + Range (1 s deadline) and GET /health succeed afterwards,
 * every key acknowledged before (or during) the attack is there, and the
 * peak RSS stays under the attack's bound. Where an attack's answers are
 * deterministic, they must equal etcd's. etcd's own outcomes are printed,
 * not asserted: the control shows what the reference does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailability } from '../src/support.js';
import { attacks, comparableFigures } from '../src/adversarial/attacks/index.js';
import { formatReport, runSuite, type AttackResult } from '../src/adversarial/run.js';

const etcd = await etcdAvailability();

test('the adversarial suite (short form): Holdfast survives every attack, answering as etcd 3.4', { timeout: 20 * 60_000 }, async (t) => {
  const results = await runSuite({ kinds: etcd.available ? ['holdfast', 'etcd'] : ['holdfast'], attacks, scale: 'short', log: (line) => t.diagnostic(line) });
  console.log(formatReport(results));
  const holdfast = results.filter((result) => result.target === 'holdfast');
  assert.equal(holdfast.length, attacks.length, 'every attack ran against Holdfast');
  const failures = holdfast.filter((result) => result.problems.length > 0).map((result) => `${result.attack}: ${result.problems.join('; ')}`);
  assert.deepEqual(failures, [], 'Holdfast survived every attack');
  if (!etcd.available) {
    t.diagnostic(`no etcd comparison: ${etcd.reason}`);
    return;
  }
  const byAttack = (kind: AttackResult['target'], name: string) => results.find((result) => result.target === kind && result.attack === name)!;
  for (const [name, figureNames] of Object.entries(comparableFigures)) {
    const ours = byAttack('holdfast', name);
    const theirs = byAttack('etcd', name);
    if (ours.skipped !== undefined || theirs.skipped !== undefined) continue;
    for (const figure of figureNames) assert.equal(ours.figures[figure], theirs.figures[figure], `${name}: ${figure} answered as etcd 3.4 answers it`);
  }
});
