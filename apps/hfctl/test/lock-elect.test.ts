/**
 * lock and elect (over @holdfast/recipes): a holder, a waiter that runs a
 * command with ETCD_LOCK_KEY and ETCD_LOCK_REV once the holder lets go, a
 * failing command, an observer that sees every leader, candidates taking
 * turns, and the argument errors. etcdctl and hfctl must print the same
 * against a fresh Holdfast and a fresh etcd; and an etcdctl holder and an
 * hfctl waiter must exclude each other (the same keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, transcriptsOfBothTools, type Scenario } from './compare.js';
import { background, etcdMissing, sleep, startServer, waitFor, type ServerKind } from './support.js';

/** Time for a background lock or elect to start and reach the server. */
const startMs = 2_500;

const lockElectScenario: Scenario = async (context) => {
  const holder = context.start(['lock', 'mylock']);
  await sleep(startMs);
  const waiter = context.start(['lock', 'mylock', '--', 'sh', '-c', 'echo "got $ETCD_LOCK_KEY at $ETCD_LOCK_REV"']);
  await sleep(startMs);
  // The waiter must not have the lock while the holder has it.
  context.record('waiter while held', waiter.stdout());
  context.recordBackground('lock mylock (released by SIGTERM)', holder, await holder.stop());
  context.recordBackground('lock mylock -- sh -c ... (after the release)', waiter, await Promise.race([waiter.exited(), sleep(15_000).then(() => waiter.stop())]));
  await context.run(['lock', 'mylock', '--', 'sh', '-c', 'exit 3']);
  await context.run(['lock', 'mylock', '--', 'no-such-command-here']);
  await context.run(['lock', 'other', '--ttl', '5', '--', 'sh', '-c', 'echo "ttl lock $ETCD_LOCK_KEY"']);
  const json = context.start(['lock', 'jsonlock', '-w', 'json']);
  await sleep(startMs);
  context.recordBackground('lock jsonlock -w json', json, await json.stop('SIGINT'));
  await context.run(['lock']);
  await context.run(['get', 'mylock', '--prefix', '--keys-only']);

  const observer = context.start(['elect', '-l', 'myelection']);
  await sleep(startMs);
  const alice = context.start(['elect', 'myelection', 'alice']);
  await sleep(startMs);
  const bob = context.start(['elect', 'myelection', 'bob']);
  await sleep(startMs);
  context.record('bob while alice leads', bob.stdout());
  context.recordBackground('elect myelection alice (resigns on SIGTERM)', alice, await alice.stop());
  await sleep(startMs);
  context.recordBackground('elect myelection bob (leads after alice)', bob, await bob.stop('SIGINT'));
  await sleep(1_000);
  context.recordBackground('elect -l myelection', observer, await observer.stop());
  await context.run(['elect']);
  await context.run(['elect', 'a', 'b', 'c']);
  await context.run(['elect', 'a']);
  await context.run(['elect', '-l', 'a', 'b']);
  await context.run(['get', 'myelection', '--prefix', '--keys-only']);
};

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`lock and elect: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 300_000 }, async () => {
    const transcripts = await transcriptsOfBothTools(kind, 'lock', lockElectScenario);
    assertSame(`lock and elect against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
    assert.match(transcripts.hfctl.join('\n'), /got mylock\/<id-\d+> at \d+/);
  });

  test(`an etcdctl lock excludes an hfctl lock and the other way round (${kind})`, { skip: missing ?? false, timeout: 120_000 }, async () => {
    const server = await startServer(kind);
    try {
      for (const [first, second] of [['etcdctl', 'hfctl'], ['hfctl', 'etcdctl']] as const) {
        const holder = background(first, ['--endpoints', server.endpoint, 'lock', `shared-${first}`]);
        await waitFor(() => holder.stdout().includes(`shared-${first}/`), 15_000, `${first} to take the lock`);
        const waiter = background(second, ['--endpoints', server.endpoint, 'lock', `shared-${first}`, '--', 'echo', 'acquired']);
        await sleep(startMs);
        assert.equal(waiter.stdout(), '', `${second} got a lock ${first} holds`);
        await holder.stop();
        assert.equal(await waiter.exited(), 0, waiter.stderr());
        assert.equal(waiter.stdout(), 'acquired\n');
      }
    } finally {
      await server.stop();
    }
  });
}
