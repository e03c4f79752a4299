/**
 * Many concurrent calls, watches, keepalives and waiters never make Node
 * warn about listeners (MaxListenersExceededWarning, which Node prints past
 * 10 listeners on one signal or emitter), and every waiter is gone from a
 * signal once its work is done (abortWaiterCount returns to 0: no leak).
 *
 * Before the fix every call in flight added a listener to the client's close
 * signal, and every watch one to its caller's signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abortWaiterCount, watchConfig } from '../src/index.js';
import { describeWarnings, forEachServer, sleep, warningsDuring } from './helpers.js';

/** Far above Node's default of 10 listeners per signal, and above what one test call site would ever add by accident. */
const concurrentCalls = 200;
const watchesOnOneSignal = 100;
const keptLeases = 40;
const revisionWaiters = 40;

forEachServer('no listener warnings under many concurrent operations', (suite) => {
  test(`${concurrentCalls} concurrent calls, ${watchesOnOneSignal} watches on one caller's signal, ${keptLeases} keepalives, ${revisionWaiters} revision waiters`, { timeout: 60_000 }, async () => {
    const client = suite.newClient();
    const callerController = new AbortController();
    const warnings = await warningsDuring(async () => {
      // Unary calls in flight at once, each with the caller's signal too.
      await Promise.all(Array.from({ length: concurrentCalls }, (_, index) => client.put(`warnings/key-${index % 20}`, `v${index}`, { signal: callerController.signal })));

      // Watches sharing one signal, then aborted together through it.
      const watches = Array.from({ length: watchesOnOneSignal }, (_, index) => client.watch(`warnings/key-${index % 20}`, { signal: callerController.signal }));
      await Promise.all(watches.map((watch) => watch.created));
      assert.equal(abortWaiterCount(callerController.signal), watchesOnOneSignal, 'one waiter per watch, behind one listener');

      // Leases kept alive at once on the shared keepalive stream.
      const leases = await Promise.all(Array.from({ length: keptLeases }, () => client.lease.grant(6)));
      for (const lease of leases) lease.keepAlive();
      await sleep(2_500); // at least one keepalive round (TTL/3 = 2 s)

      // Callers of watchConfig().waitForRevision() waiting at once, with a signal each from one controller.
      const config = await watchConfig(client, 'warnings/config/', (entries) => entries.size);
      const waits = Array.from({ length: revisionWaiters }, () => config.waitForRevision(config.revision + 1n, { signal: callerController.signal }));
      const written = await client.put('warnings/config/a', '1');
      for (const version of await Promise.all(waits)) assert.ok(version.revision >= written.header.revision);
      config.close();

      callerController.abort(new Error('test over'));
      for (const watch of watches) assert.equal(watch.done, true);
      await Promise.all(leases.map((lease) => lease.close()));
    });
    assert.deepEqual(describeWarnings(warnings), '', 'no process warnings');
    assert.equal(abortWaiterCount(callerController.signal), 0, 'no waiter left on the caller signal');
  });

  test('the waiters of finished calls leave the caller signal (no slow leak)', { timeout: 30_000 }, async () => {
    const client = suite.newClient();
    const controller = new AbortController();
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, index) => client.get(`warnings/key-${index}`, { signal: controller.signal })));
    }
    assert.equal(abortWaiterCount(controller.signal), 0);
  });
});
