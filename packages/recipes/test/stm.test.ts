import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@holdfast/client';
import { Isolation, runStm, StmConflictError, type Stm } from '../src/index.js';
import { forEachServer, uniqueName } from './helpers.js';

const strongLevels = [Isolation.SerializableSnapshot, Isolation.Serializable, Isolation.RepeatableReads] as const;
const allLevels = [...strongLevels, Isolation.ReadCommitted] as const;

/**
 * Runs `apply` as transaction A; on its first attempt, after A's first read,
 * pauses while `meanwhile` runs to completion. Returns how many times A's
 * apply ran and what A read in each attempt.
 */
async function interleave(
  client: Client,
  isolation: Isolation,
  apply: (stm: Stm, readsAfterPause: () => Promise<void>) => Promise<void>,
  meanwhile: () => Promise<unknown>,
): Promise<number> {
  let attempts = 0;
  await runStm(
    client,
    async (stm) => {
      attempts += 1;
      const first = attempts === 1;
      await apply(stm, async () => {
        if (first) await meanwhile();
      });
    },
    { isolation },
  );
  return attempts;
}

forEachServer('STM', (suite) => {
  for (const isolation of strongLevels) {
    test(`${isolation}: 4 clients x 10 concurrent increments lose no update`, async () => {
      const key = uniqueName(`counter-${isolation}`);
      const clients = [suite.client(), suite.newClient(), suite.newClient(), suite.newClient()];
      let attempts = 0;
      await Promise.all(
        clients.map(async (client) => {
          for (let round = 0; round < 10; round += 1) {
            await runStm(
              client,
              async (stm) => {
                attempts += 1;
                const value = Number((await stm.get(key)) || '0');
                await new Promise((resolve) => setImmediate(resolve));
                stm.put(key, String(value + 1));
              },
              { isolation },
            );
          }
        }),
      );
      assert.equal((await suite.client().get(key)).kvs[0]?.valueString, '40');
      // The increments really raced: some attempts conflicted and ran again.
      assert.ok(attempts > 40, `${attempts} attempts: no conflict at all`);
      console.log(`[${suite.kind}] ${isolation}: 40 increments in ${attempts} attempts`);
    });
  }

  for (const isolation of allLevels) {
    const weak = isolation === Isolation.ReadCommitted;
    test(`${isolation}: a read-modify-write overtaken by another ${weak ? 'loses the other update (read committed is that weak)' : 'retries and loses nothing'}`, async () => {
      const key = uniqueName(`lost-update-${isolation}`);
      await suite.client().put(key, '0');
      const attempts = await interleave(
        suite.client(),
        isolation,
        async (stm, pause) => {
          const value = Number(await stm.get(key));
          await pause();
          stm.put(key, String(value + 1));
        },
        () => runStm(suite.newClient(), async (stm) => stm.put(key, String(Number(await stm.get(key)) + 1)), { isolation }),
      );
      const final = (await suite.client().get(key)).kvs[0]?.valueString;
      if (weak) {
        assert.equal(final, '1', 'read committed commits the stale increment');
        assert.equal(attempts, 1);
      } else {
        assert.equal(final, '2');
        assert.equal(attempts, 2);
      }
    });
  }

  for (const isolation of allLevels) {
    const snapshot = isolation === Isolation.SerializableSnapshot || isolation === Isolation.Serializable;
    test(`${isolation}: reads ${snapshot ? 'are one snapshot (the first read fixes the revision)' : 'see each key as of its own first read'}`, async () => {
      const x = uniqueName('x');
      const y = uniqueName('y');
      await suite.client().put(x, 'x0');
      await suite.client().put(y, 'y0');
      const seen: string[] = [];
      await interleave(
        suite.client(),
        isolation,
        async (stm, pause) => {
          const xValue = await stm.get(x);
          await pause();
          seen.push(`${xValue} ${await stm.get(y)}`);
          stm.put(`${x}-result`, 'done');
        },
        async () => {
          await suite.client().put(x, 'x1');
          await suite.client().put(y, 'y1');
        },
      );
      assert.equal(seen[0], snapshot ? 'x0 y0' : 'x0 y1');
      // The strong levels then saw x change and ran again on the new state; read committed did not.
      assert.deepEqual(seen.slice(1), isolation === Isolation.ReadCommitted ? [] : ['x1 y1']);
    });
  }

  for (const isolation of [Isolation.SerializableSnapshot, Isolation.Serializable] as const) {
    const checksWrites = isolation === Isolation.SerializableSnapshot;
    test(`${isolation}: a blind write to a key changed since the first read ${checksWrites ? 'conflicts' : 'does not conflict'}`, async () => {
      const x = uniqueName('bx');
      const y = uniqueName('by');
      await suite.client().put(x, 'x0');
      const attempts = await interleave(
        suite.client(),
        isolation,
        async (stm, pause) => {
          await stm.get(x);
          await pause();
          stm.put(y, 'from the transaction');
        },
        () => suite.client().put(y, 'from elsewhere'),
      );
      assert.equal(attempts, checksWrites ? 2 : 1);
      assert.equal((await suite.client().get(y)).kvs[0]?.valueString, 'from the transaction');
    });
  }

  test('writes read back inside the transaction; del; rev; prefetch; an error in apply writes nothing', async () => {
    const key = uniqueName('misc');
    const other = uniqueName('misc-other');
    const put = await suite.client().put(key, 'v1');
    await runStm(
      suite.client(),
      async (stm) => {
        assert.equal(stm.attempt, 1);
        assert.equal(await stm.rev(key), put.header.revision);
        assert.equal(await stm.get(other), '');
        assert.equal((await stm.getKv(key))?.valueString, 'v1');
        stm.put(other, 'new');
        assert.equal(await stm.get(other), 'new');
        stm.del(key);
      },
      { prefetch: [key, other] },
    );
    assert.equal((await suite.client().get(key)).kvs.length, 0);
    assert.equal((await suite.client().get(other)).kvs[0]?.valueString, 'new');
    await assert.rejects(
      runStm(suite.client(), async (stm) => {
        stm.put(other, 'never');
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.equal((await suite.client().get(other)).kvs[0]?.valueString, 'new');
  });

  test('attemptsMax: a transaction conflicted every time gives up with StmConflictError; abort stops it', async () => {
    const key = uniqueName('always-conflicts');
    const meddler = suite.newClient();
    await assert.rejects(
      runStm(
        suite.client(),
        async (stm) => {
          stm.put(key, String(Number((await stm.get(key)) || '0') + 1));
          await meddler.put(key, 'meddled');
        },
        { attemptsMax: 3 },
      ),
      (error: unknown) => error instanceof StmConflictError && error.attempts === 3,
    );
    const controller = new AbortController();
    await assert.rejects(
      runStm(
        suite.client(),
        async (stm) => {
          await stm.get(key);
          await meddler.put(key, 'meddled');
          if (stm.attempt === 2) controller.abort(new Error('stop'));
        },
        { signal: controller.signal },
      ),
      /stop/,
    );
  });
});
