import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSimulation } from '../src/sim/cluster.js';
import { checkRegister } from '../src/sim/linearizability.js';
import { uint64NodeIds } from '../src/sim/prng.js';

const SEEDS_PER_NODE_COUNT = 200;
const STEPS = 600;

describe('simulation', () => {
  for (const nodes of [3, 5]) {
    it(`${SEEDS_PER_NODE_COUNT} seeds with ${nodes} nodes find no violation`, () => {
      const failures: string[] = [];
      let unchecked = 0;
      for (let seed = 1; seed <= SEEDS_PER_NODE_COUNT; seed++) {
        const r = runSimulation({ seed, nodes, steps: STEPS });
        if (r.violation) failures.push(`seed=${seed}: ${r.violation.invariant}: ${r.violation.details}`);
        if (r.linearizability === 'unchecked') unchecked++;
      }
      assert.deepEqual(failures, []);
      assert.equal(unchecked, 0, 'every history was fully checked');
    });
  }

  it('a seed replays identically', () => {
    const a = runSimulation({ seed: 4242, nodes: 5, steps: STEPS });
    const b = runSimulation({ seed: 4242, nodes: 5, steps: STEPS });
    assert.equal(a.stateHash, b.stateHash);
    assert.deepEqual(a.stats, b.stats);
    assert.ok(a.stats.committedIndex > 10, 'the run made progress');
    const c = runSimulation({ seed: 4243, nodes: 5, steps: STEPS });
    assert.notEqual(a.stateHash, c.stateHash, 'different seeds explore different runs');
  });

  it('draws uint64 member ids per seed, and only their order matters', () => {
    const ids = uint64NodeIds(4242, 5);
    assert.deepEqual(ids, uint64NodeIds(4242, 5), 'the same seed gives the same ids');
    assert.notDeepEqual(ids, uint64NodeIds(4243, 5));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, 'ascending and distinct');
    assert.ok(ids.every((id) => id > 2n ** 53n), 'beyond what a JS number holds exactly (true for this seed)');
    assert.ok(ids.some((id) => id >= 2n ** 63n), 'the top bit is used (true for this seed)');
    // Same seed, small ids in the same order: the same run, event for event.
    const wide = runSimulation({ seed: 4242, nodes: 5, steps: STEPS });
    const small = runSimulation({ seed: 4242, nodes: 5, steps: STEPS, nodeIds: [1n, 2n, 3n, 4n, 5n] });
    assert.deepEqual(wide.stats, small.stats);
    assert.ok(wide.stats.confChanges > 0, 'membership changes carried the wide ids through conf change entries');
  });
});

describe('linearizability checker', () => {
  const op = (kind: 'put' | 'get', value: string, call: number, ret: number) => ({ key: 'k', kind, value, call, ret });
  it('accepts a linearizable history with concurrency', () => {
    const h = [op('put', 'a', 1, 4), op('get', 'a', 2, 3), op('get', '', 0, 5)];
    assert.equal(checkRegister('k', h, 10_000).result, 'ok');
  });
  it('rejects a stale read', () => {
    const h = [op('put', 'a', 1, 2), op('put', 'b', 3, 4), op('get', 'a', 5, 6)];
    assert.equal(checkRegister('k', h, 10_000).result, 'violation');
  });
  it('treats a timed-out put as maybe-applied, at any time after its call or never', () => {
    const late = [op('put', 'a', 1, Infinity), op('get', '', 2, 3), op('get', 'a', 4, 5)];
    assert.equal(checkRegister('k', late, 10_000).result, 'ok');
    const never = [op('put', 'a', 1, Infinity), op('get', '', 2, 3)];
    assert.equal(checkRegister('k', never, 10_000).result, 'ok');
    const beforeCall = [op('get', 'a', 1, 2), op('put', 'a', 3, Infinity)];
    assert.equal(checkRegister('k', beforeCall, 10_000).result, 'violation');
  });
  it('reports unchecked rather than passing when over budget', () => {
    const h = Array.from({ length: 40 }, (_, i) => op('put', `v${i}`, 0, 100));
    h.push(op('get', 'nope', 101, 102));
    assert.equal(checkRegister('k', h, 50).result, 'unchecked');
  });
});
