import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runThreeNodeExample } from '../src/example.js';

it('the README example elects a leader and commits an entry on all three nodes', () => {
  const { leader, applied } = runThreeNodeExample();
  // The example's ids are above 2^53: a JS number could not tell them apart from their neighbours.
  const ids = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n];
  assert.ok(ids.includes(leader), `leader ${leader.toString(16)} is one of the members`);
  assert.deepEqual([...applied.keys()], ids);
  for (const id of ids) assert.deepEqual(applied.get(id), ['hello raft']);
});
