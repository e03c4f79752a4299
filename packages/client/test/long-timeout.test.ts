/** setLongTimeout: delays past Node's 2^31 - 1 ms timer limit wait instead of firing at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { maxTimerDelayMs, setLongTimeout } from '../src/long-timeout.js';

/** Long enough for a timer Node clamped to 1 ms to have fired. */
const observeMs = 100;

test('a delay of 2^31 ms or more does not fire at once (a plain setTimeout would, after 1 ms)', async () => {
  for (const delayMs of [maxTimerDelayMs + 1, 2 ** 31, 2 ** 32 + 5, 1e12]) {
    let fired = false;
    const timer = setLongTimeout(() => (fired = true), delayMs);
    await sleep(observeMs);
    timer.clear();
    assert.equal(fired, false, `a ${delayMs} ms timeout fired within ${observeMs} ms`);
  }
});

test('short delays fire, and clear() stops them', async () => {
  let fired = 0;
  setLongTimeout(() => fired++, 10);
  const cleared = setLongTimeout(() => fired++, 20);
  cleared.clear();
  await sleep(observeMs);
  assert.equal(fired, 1);
});
