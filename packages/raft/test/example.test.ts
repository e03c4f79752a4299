import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runThreeNodeExample } from '../src/example.js';

it('the README example elects a leader and commits an entry on all three nodes', () => {
  const { leader, applied } = runThreeNodeExample();
  assert.ok([1, 2, 3].includes(leader));
  for (const id of [1, 2, 3]) assert.deepEqual(applied.get(id), ['hello raft']);
});
