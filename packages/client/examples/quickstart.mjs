// A tour of @holdfast/client. Start a server first (`npm start` serves on
// 127.0.0.1:2379; real etcd works the same), build (`npx tsc -b packages/client`),
// then run from the repository root:
//
//   node packages/client/examples/quickstart.mjs [host:port]
import { Client, Compare, Op, CompactedError } from '@holdfast/client';

const client = new Client({ endpoints: [process.argv[2] ?? '127.0.0.1:2379'] });
try {
  // KV: strings or bytes in, Buffers (with string helpers) and bigints out.
  const { header } = await client.put('/demo/greeting', 'hello');
  console.log('put at revision', header.revision); // e.g. 2n
  const { kvs } = await client.get('/demo/', { prefix: true });
  console.log(kvs.map((kv) => `${kv.keyString}=${kv.valueString} (version ${kv.version})`));

  // A txn: create-if-absent.
  const created = await client
    .txn()
    .if(Compare.createRevision('/demo/owner', '=', 0n))
    .then(Op.put('/demo/owner', 'me'))
    .else(Op.get('/demo/owner'))
    .commit();
  console.log('owner created by us:', created.succeeded);

  // A watch: an async iterable of batches; an AbortSignal or close() ends it.
  const watch = client.watch('/demo/', { prefix: true, signal: AbortSignal.timeout(5_000) });
  await watch.created;
  await client.put('/demo/greeting', 'hello again');
  for await (const batch of watch) {
    for (const event of batch.events) console.log('watched', event.type, event.kv.keyString, event.kv.valueString, 'at', event.kv.modRevision);
    break; // leaving the loop closes the watch
  }

  // A lease kept alive every TTL/3; 'lost' fires if it can no longer be proven alive.
  const lease = await client.lease.grant(10);
  const keepAlive = lease.keepAlive();
  keepAlive.on('lost', (error) => console.error('lease lost:', error.message));
  await client.put('/demo/ephemeral', 'gone when the lease goes', { lease: lease.id });
  console.log('lease', lease.id.toString(16), 'ttl', (await lease.timeToLive()).ttlSeconds, 's');
  await lease.close(); // stops the keepalive and revokes: the key is deleted

  // A namespace: keys relative to a prefix, on the server and in results.
  const app = client.namespace('/demo/app/');
  await app.put('config', 'on');
  console.log('namespaced keys:', (await app.get('', { prefix: true })).kvs.map((kv) => kv.keyString)); // [ 'config' ]

  // Typed errors.
  const latest = (await client.get('/demo/greeting')).header.revision;
  await client.compact(latest);
  try {
    await client.get('/demo/greeting', { revision: latest - 1n });
  } catch (error) {
    if (error instanceof CompactedError) console.log('compacted, as expected:', error.message);
    else throw error;
  }

  const status = await client.maintenance.status();
  console.log('server', status.version, 'db', status.dbSizeBytes, 'bytes, leader', status.leader.toString(16));
  await client.delete('/demo/', { prefix: true });
} finally {
  client.close();
}
