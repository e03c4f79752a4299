// Pub-sub in one file: publish, a durable consumer that resumes, a consumer
// group sharing the work, retention.
// Usage: node packages/pubsub/examples/orders.mjs [host:port]
import { Client } from '@holdfast/client';
import { PubSub } from '@holdfast/pubsub';

const client = new Client({ endpoints: [process.argv[2] ?? '127.0.0.1:2379'] });
await client.delete('demo-pubsub/', { prefix: true }); // start clean, so the output is always the same
const pubsub = new PubSub(client, { prefix: 'demo-pubsub/' });
try {
  // Publish: one message, then a batch (one txn: consecutive numbers, one revision).
  const first = await pubsub.publish('orders', JSON.stringify({ order: 1 }), { headers: { type: 'created' } });
  console.log(`published #${first.seq}`);
  const batch = await pubsub.publishBatch('orders', [2, 3, 4, 5].map((order) => JSON.stringify({ order })));
  console.log(`batch ${batch.map((published) => `#${published.seq}`).join(' ')} in one txn: ${new Set(batch.map((published) => published.revision)).size === 1}`);

  // A durable consumer: its cursor is stored, a new subscription resumes after it.
  const billing = await pubsub.subscribe('orders', { consumer: 'billing', from: 'beginning' });
  for await (const message of billing) {
    console.log(`billing: #${message.seq} ${message.text}`);
    if (message.seq === 3n) break; // leaving the loop acknowledges #3 and stores the cursor
  }
  console.log(`billing cursor: ${await pubsub.cursor('billing', 'orders')}`);
  const resumed = await pubsub.subscribe('orders', { consumer: 'billing' });
  console.log(`billing resumes at #${(await resumed.next()).value.seq}`);
  await resumed.close();

  // A consumer group: each message to one member, claimed 2 at a time.
  const a = await pubsub.join('shipping', 'orders', { name: 'a', claimSize: 2, ttlSeconds: 5 });
  const b = await pubsub.join('shipping', 'orders', { name: 'b', claimSize: 2, ttlSeconds: 5 });
  const got = { a: [], b: [] };
  for (const [name, member] of [['a', a], ['b', b], ['a', a], ['b', b], ['a', a]]) got[name].push((await member.next()).value.seq);
  console.log(`shipping: a got ${got.a.map((seq) => `#${seq}`).join(' ')}, b got ${got.b.map((seq) => `#${seq}`).join(' ')}`);
  await a.close();
  await b.close();

  // Retention: keep the newest 2.
  const trimmed = await pubsub.trim('orders', { maxMessages: 2 });
  console.log(`trimmed ${trimmed.deleted}, oldest kept #${trimmed.oldest}`);
} finally {
  await pubsub.close();
  await client.delete('demo-pubsub/', { prefix: true });
  client.close();
}
