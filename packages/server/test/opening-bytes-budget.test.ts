/**
 * OpeningBytesBudget: the bytes all HTTP/2 openings hold, under one bound;
 * past it the openings holding the most are refused. Through Holdfast:
 * test/test/http-hostile-http2.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxPendingOpeningBytesTotal, OpeningBytesBudget } from '../src/api/client-port/client-listener.js';
import { maxOpeningBytes } from '../src/api/client-port/http2-authority.js';

function holders(): { refused: string[]; holder: (name: string) => { heldBytes: number; refuse: () => void } } {
  const refused: string[] = [];
  return { refused, holder: (name) => ({ heldBytes: 0, refuse: () => refused.push(name) }) };
}

test('opening bytes: within the bound nothing is refused; past it the largest holders go until the total fits, the newest not first', () => {
  const budget = new OpeningBytesBudget(100);
  const { refused, holder } = holders();
  const big = holder('big');
  const middle = holder('middle');
  const small = holder('small');
  budget.hold(big, 60);
  budget.hold(middle, 30);
  budget.hold(small, 10);
  assert.equal(budget.totalHeldBytes, 100);
  assert.deepEqual(refused, []);
  // A new small opening passes the bound: the largest holder is refused, not the newcomer.
  const newcomer = holder('newcomer');
  budget.hold(newcomer, 5);
  assert.deepEqual(refused, ['big']);
  assert.equal(budget.totalHeldBytes, 45);
  // One opening growing past everything is itself the largest.
  budget.hold(small, 80);
  assert.deepEqual(refused, ['big', 'small']);
  assert.equal(budget.totalHeldBytes, 35);
  // Release is idempotent, and a released holder counts nothing.
  budget.release(middle);
  budget.release(middle);
  budget.release(big);
  assert.equal(budget.totalHeldBytes, 5);
  budget.hold(middle, 95);
  assert.deepEqual(refused, ['big', 'small']);
  assert.equal(budget.totalHeldBytes, 100);
});

test('opening bytes: the default bound is maxPendingOpeningBytesTotal, above one opening\'s own bound', () => {
  assert.equal(new OpeningBytesBudget().maxBytes, maxPendingOpeningBytesTotal);
  assert.ok(maxPendingOpeningBytesTotal >= 100 * maxOpeningBytes, 'a hundred openings at their own bound fit');
});
