// Runnable example of @holdfast/recipes. Start a server first (`npm start` at
// the repository root serves Holdfast on 127.0.0.1:2379; etcd works the same),
// build with `npx tsc -b packages/recipes`, then:
//   node packages/recipes/examples/lock-and-elect.mjs [host:port]
import { Client, Op } from '@holdfast/client';
import { Session, Mutex, Election, guard, runStm, Isolation, SessionExpiredError } from '@holdfast/recipes';

const client = new Client({ endpoints: [process.argv[2] ?? '127.0.0.1:2379'] });
const other = new Client({ endpoints: client.endpoints });
try {
  // A session is a lease kept alive; everything it holds goes when it ends.
  const session = await Session.create(client, { ttlSeconds: 10 });
  session.on('lost', (error) => console.error('session lost:', error.message));

  // A mutex: the same lock as `etcdctl lock /demo/lock` and Go's concurrency.Mutex.
  const mutex = new Mutex(session, '/demo/lock');
  const fence = await mutex.lock({ signal: AbortSignal.timeout(10_000) });
  console.log('locked', fence.key.toString(), 'fencing token', fence.token);

  // Guarded write: applied only while the lock key still has our create revision.
  const write = await guard(client.txn(), fence).then(Op.put('/demo/config', 'written under the lock')).commit();
  console.log('guarded write applied:', write.succeeded);

  // Another session waits in line; tryLock gives up at once.
  const otherSession = await Session.create(other, { ttlSeconds: 10 });
  const otherMutex = new Mutex(otherSession, '/demo/lock');
  console.log('tryLock while held:', await otherMutex.tryLock()); // undefined
  const waiting = otherMutex.lock();
  await mutex.unlock();
  const next = await waiting;
  console.log('next holder token', next.token, '> ours:', next.token > fence.token);

  // The old fence no longer works: a late write from a paused ex-holder is refused.
  const late = await guard(client.txn(), fence).then(Op.put('/demo/config', 'stale')).commit();
  console.log('stale guarded write applied:', late.succeeded); // false
  await otherMutex.unlock();

  // An election: `etcdctl elect -l /demo/election` shows our proposal.
  const election = new Election(session, '/demo/election');
  const observer = new AbortController();
  const observed = (async () => {
    const values = [];
    for await (const kv of Election.observe(other, '/demo/election', { signal: observer.signal })) {
      values.push(kv.valueString);
      if (values.length === 2) break;
    }
    return values;
  })();
  await election.campaign('node-a');
  console.log('leader:', (await election.leader())?.valueString);
  await election.proclaim('node-a (v2)');
  console.log('observed:', await observed);
  await election.resign();

  // STM: a read-modify-write that retries on conflict.
  await runStm(client, async (stm) => {
    const count = Number((await stm.get('/demo/counter')) || '0');
    stm.put('/demo/counter', String(count + 1));
  }, { isolation: Isolation.SerializableSnapshot });
  console.log('counter:', (await client.get('/demo/counter')).kvs[0]?.valueString);

  // A session whose lease is revoked while waiting does not get the lock.
  // The waiter may hear of the revoke before the revoke's own reply comes
  // back, so its rejection is taken at once, not after the revoke returns.
  await mutex.lock();
  const doomed = new Mutex(otherSession, '/demo/lock').lock().then(
    () => 'the lock',
    (error) => error,
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  await client.lease.revoke(otherSession.leaseId);
  const outcome = await doomed;
  console.log('waiter whose lease was revoked:', outcome instanceof SessionExpiredError ? 'SessionExpiredError' : outcome);
  await mutex.unlock();

  await session.close(); // revokes the lease
  await client.delete('/demo/', { prefix: true });
} finally {
  other.close();
  client.close();
}
