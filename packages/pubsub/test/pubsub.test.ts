/**
 * Publishing and subscribing against Holdfast and etcd: sequence and
 * revision order, batches as txns, racing publishers, every start position,
 * payloads and headers, durable cursors across a consumer restart and a
 * crash, backpressure (a bounded buffer, the watch stopped), retention by
 * count and by age (manual and automatic), a subscription across a
 * compaction during a network cut and across a server kill -9 and restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@holdfast/client';
import { PubSub, TopicKeys, type Message, type Subscription } from '../src/index.js';
import { TcpProxy, forEachServer, sleep, testClientOptions, uniqueName, waitUntil } from './helpers.js';

const timeout = 90_000;

/** Reads `count` messages (failing after `timeoutMs`). */
async function take(subscription: Subscription, count: number, timeoutMs = 20_000): Promise<Message[]> {
  const messages: Message[] = [];
  const timer = setTimeout(() => void subscription.close(), timeoutMs);
  try {
    while (messages.length < count) {
      const result = await subscription.next();
      if (result.done === true) throw new Error(`the subscription ended after ${messages.length} of ${count} messages`);
      messages.push(result.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return messages;
}

const texts = (messages: readonly Message[]): string[] => messages.map((message) => message.text);
const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, index) => `m${from + index}`);

forEachServer('pubsub', (suite) => {
  test('publish: consecutive sequence numbers in revision order; a batch of up to 127 is one txn; layout', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('layout');
    const first = await pubsub.publish(topic, 'hello', { headers: { kind: 'greeting' } });
    assert.equal(first.seq, 1n);
    const batch = await pubsub.publishBatch(topic, range(2, 128));
    assert.equal(batch.length, 127);
    assert.deepEqual(
      batch.map((published) => published.seq),
      Array.from({ length: 127 }, (_, index) => BigInt(index + 2)),
    );
    assert.equal(new Set(batch.map((published) => published.revision)).size, 1, '127 messages, one txn');
    assert.ok(batch[0]!.revision > first.revision);
    const big = await pubsub.publishBatch(topic, range(129, 400));
    assert.equal(new Set(big.map((published) => published.revision)).size, 3, '272 messages: three txns');
    assert.deepEqual(await pubsub.info(topic), { topic, head: 400n, headRevision: big[271]!.revision, oldest: 1n, count: 400n });
    // The keys as documented.
    const keys = new TopicKeys(topic);
    const raw = await suite.client().get(`pubsub/${keys.message(1n)}`);
    assert.equal(raw.kvs[0]!.keyString, `pubsub/t/${encodeURIComponent(topic)}/m/00000000000000000001`);
    const envelope = raw.kvs[0]!.valueString;
    assert.match(envelope, /^\{"id":"[\w-]{21}","ts":\d+,"h":\{"kind":"greeting"\}\}\nhello$/);
    assert.equal((await suite.client().get(`pubsub/${keys.head}`)).kvs[0]!.valueString, '400');
  });

  test('racing publishers on one topic: no number twice, no gap, revision order = sequence order', { timeout }, async () => {
    const topic = uniqueName('race');
    const clients = [suite.newClient(), suite.newClient(), suite.newClient()];
    const publishers = clients.map((client) => new PubSub(client));
    const results = await Promise.all(
      publishers.map(async (pubsub, publisher) => {
        const published = [];
        for (let round = 0; round < 20; round++) {
          published.push(...(await Promise.all([pubsub.publish(topic, `${publisher}-${round}-a`), pubsub.publish(topic, `${publisher}-${round}-b`)])));
          published.push(...(await pubsub.publishBatch(topic, [`${publisher}-${round}-c`, `${publisher}-${round}-d`, `${publisher}-${round}-e`])));
        }
        return published;
      }),
    );
    const all = results.flat().sort((a, b) => (a.seq < b.seq ? -1 : 1));
    assert.equal(all.length, 300);
    all.forEach((published, index) => assert.equal(published.seq, BigInt(index + 1)));
    for (let index = 1; index < all.length; index++) assert.ok(all[index]!.revision >= all[index - 1]!.revision);
    // And what is stored is what each publisher was told.
    const subscription = await publishers[0]!.subscribe(topic, { from: 'beginning' });
    const stored = await take(subscription, 300);
    await subscription.close();
    assert.deepEqual(
      stored.map((message) => [message.seq, message.revision, message.id]),
      all.map((published) => [published.seq, published.revision, published.id]),
    );
  });

  test('subscribe from now, the beginning, a revision, a sequence number; payload bytes and headers', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('positions');
    await pubsub.publishBatch(topic, range(1, 10));
    const fromNow = await pubsub.subscribe(topic);
    const [eleventh] = await pubsub.publishBatch(topic, range(11, 20));
    const binary = Uint8Array.from([0, 255, 10, 13, 0x80]);
    await pubsub.publish(topic, binary, { headers: { 'content-type': 'application/octet-stream' } });
    assert.deepEqual(texts(await take(fromNow, 10)), range(11, 20));
    const last = (await take(fromNow, 1))[0]!;
    assert.deepEqual([...last.data], [...binary]);
    assert.deepEqual(last.headers, { 'content-type': 'application/octet-stream' });
    assert.equal(last.seq, 21n);
    await fromNow.close();

    const fromBeginning = await pubsub.subscribe(topic, { from: 'beginning', pageSize: 3 });
    assert.deepEqual(texts(await take(fromBeginning, 20)), range(1, 20));
    assert.ok(fromBeginning.stats.pagesRead >= 7, 'read in pages of 3');
    await fromBeginning.close();

    const fromRevision = await pubsub.subscribe(topic, { from: { revision: eleventh!.revision } });
    assert.deepEqual(texts(await take(fromRevision, 10)), range(11, 20), 'every message published at that revision or later');
    await fromRevision.close();

    const fromSeq = await pubsub.subscribe(topic, { from: { seq: 18n } });
    assert.deepEqual(texts(await take(fromSeq, 3)), ['m18', 'm19', 'm20']);
    await fromSeq.close();

    // A revision in the future: everything published from then on.
    const future = await pubsub.subscribe(topic, { from: { revision: last.revision + 1_000n } });
    await pubsub.publish(topic, 'later');
    assert.deepEqual(texts(await take(future, 1)), ['later']);
    await future.close();
  });

  test('a subscription from a compacted revision finds its start by binary search', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('compacted-start');
    await pubsub.publishBatch(topic, range(1, 5));
    const sixth = await pubsub.publish(topic, 'm6');
    await pubsub.publishBatch(topic, range(7, 40));
    await suite.client().compact((await pubsub.info(topic)).headRevision);
    const subscription = await pubsub.subscribe(topic, { from: { revision: sixth.revision } });
    assert.deepEqual(texts(await take(subscription, 35)), range(6, 40));
    await subscription.close();
  });

  test('durable consumer: resumes after its cursor on restart; after a crash, at-least-once from the last commit', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('durable');
    const consumer = uniqueName('billing');
    await pubsub.publishBatch(topic, range(1, 100));
    const first = await pubsub.subscribe(topic, { consumer, from: 'beginning', commitEveryMessages: 10 });
    assert.deepEqual(texts(await take(first, 30)), range(1, 30));
    await first.close(); // the 30th counts as processed: we asked for no more and closed
    assert.equal(await pubsub.cursor(consumer, topic), 30n);
    const second = await pubsub.subscribe(topic, { consumer, from: 'now' });
    assert.deepEqual(texts(await take(second, 5)), range(31, 35), 'the cursor wins over `from`');
    await second.close();
    assert.equal(await pubsub.cursor(consumer, topic), 35n);

    // A crash: the process dies without close(); commits happened every 10 messages.
    const doomedClient = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint] });
    const doomed = await new PubSub(doomedClient).subscribe(topic, { consumer, commitEveryMessages: 10, commitIntervalMs: 60_000 });
    const processed = await take(doomed, 25); // 36..60; 36..55 acknowledged (the 25th is not: no next() after it)
    assert.equal(processed[24]!.seq, 60n);
    await waitUntil(async () => (await pubsub.cursor(consumer, topic)) === 55n, 5_000, 'the commit after 20 acknowledgements');
    doomedClient.close();
    const revived = await pubsub.subscribe(topic, { consumer });
    const again = await take(revived, 5);
    assert.deepEqual(texts(again), range(56, 60), 'redelivered from the last commit: at-least-once');
    await revived.close();

    // A consumer that starts 'now' has its start stored at once: a message published before its first commit is not lost.
    const late = uniqueName('late');
    const lateFirst = await pubsub.subscribe(topic, { consumer: late, from: 'now' });
    await lateFirst.close();
    await pubsub.publish(topic, 'm101');
    const lateAgain = await pubsub.subscribe(topic, { consumer: late });
    assert.deepEqual(texts(await take(lateAgain, 1)), ['m101']);
    await lateAgain.close();
  });

  test('with autoAck false only ack() moves the cursor', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('manual');
    const consumer = uniqueName('manual-consumer');
    await pubsub.publishBatch(topic, range(1, 10));
    const subscription = await pubsub.subscribe(topic, { consumer, from: 'beginning', autoAck: false });
    const messages = await take(subscription, 6);
    subscription.ack(messages[3]!);
    await subscription.close();
    assert.equal(await pubsub.cursor(consumer, topic), 4n);
  });

  test('backpressure: a consumer that does not read holds at most highWaterMark messages; the watch is stopped, then nothing is lost', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('slow');
    const subscription = await pubsub.subscribe(topic, { highWaterMark: 50, pageSize: 40 });
    assert.equal(subscription.readingMode, 'tailing');
    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, subscription.buffered)), 1);
    try {
      const bodies = range(1, 3_000);
      for (let offset = 0; offset < bodies.length; offset += 127) await pubsub.publishBatch(topic, bodies.slice(offset, offset + 127));
      await sleep(300);
      assert.equal(subscription.readingMode, 'catching-up', 'the watch was stopped');
      assert.ok(subscription.stats.pauses >= 1);
      assert.ok(subscription.buffered <= 50 + 127, `buffered ${subscription.buffered}`);
      // Reading everything: in order, nothing lost, the buffer never above highWaterMark + one txn's messages.
      const messages = await take(subscription, 3_000, 60_000);
      assert.deepEqual(texts(messages), bodies);
      assert.ok(subscription.stats.maxBuffered <= 50 + 127, `max buffered ${subscription.stats.maxBuffered}`);
      assert.ok(maxBuffered <= 50 + 127);
      // Caught up: tailing again.
      await pubsub.publish(topic, 'tail');
      assert.deepEqual(texts(await take(subscription, 1)), ['tail']);
      assert.equal(subscription.readingMode, 'tailing');
      assert.ok(subscription.stats.watchesStarted >= 2);
    } finally {
      clearInterval(sampler);
      await subscription.close();
    }
  });

  test('retention by count and by age; consumers skip what was deleted, and say how much', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('retention');
    const consumer = uniqueName('behind');
    await pubsub.publishBatch(topic, range(1, 10));
    const behind = await pubsub.subscribe(topic, { consumer, from: 'beginning' });
    await take(behind, 5);
    await behind.close(); // cursor at 5
    await pubsub.publishBatch(topic, range(11, 50));
    const byCount = await pubsub.trim(topic, { maxMessages: 20 });
    assert.deepEqual(byCount, { deleted: 30n, oldest: 31n });
    assert.deepEqual(await pubsub.info(topic), { topic, head: 50n, headRevision: (await pubsub.info(topic)).headRevision, oldest: 31n, count: 20n });
    const resumed = await pubsub.subscribe(topic, { consumer });
    assert.deepEqual(texts(await take(resumed, 20)), range(31, 50));
    assert.equal(resumed.stats.skipped, 25n, '6..30 were deleted before it read them');
    await resumed.close();
    const fromBeginning = await pubsub.subscribe(topic, { from: 'beginning' });
    assert.equal((await take(fromBeginning, 1))[0]!.text, 'm31');
    assert.equal(fromBeginning.stats.skipped, 0n, 'from the beginning means from the oldest kept');
    await fromBeginning.close();

    await sleep(400);
    await pubsub.publishBatch(topic, range(51, 55));
    const byAge = await pubsub.trim(topic, { maxAgeMs: 200 });
    assert.deepEqual(byAge, { deleted: 20n, oldest: 51n });
  });

  test('automatic retention after publishing', { timeout }, async () => {
    const pubsub = new PubSub(suite.client(), { retention: { maxMessages: 100 }, retentionIntervalMs: 0 });
    const topic = uniqueName('auto-retention');
    const trimmed: bigint[] = [];
    pubsub.on('trimmed', (_topic, result) => trimmed.push(result.deleted));
    const bodies = range(1, 1_000);
    for (let offset = 0; offset < bodies.length; offset += 127) await pubsub.publishBatch(topic, bodies.slice(offset, offset + 127));
    await pubsub.publish(topic, 'last');
    await waitUntil(async () => (await pubsub.info(topic)).count <= 100n, 10_000, 'retention to apply');
    const info = await pubsub.info(topic);
    assert.equal(info.head, 1_001n);
    assert.ok(trimmed.length > 0);
  });

  test('a subscription across a compaction during a network cut: nothing lost, nothing twice', { timeout }, async () => {
    const writer = new PubSub(suite.client());
    const topic = uniqueName('cut');
    const proxy = await TcpProxy.start(suite.server().clientPort);
    const reader = new PubSub(suite.newClient(proxy.endpoint));
    try {
      const subscription = await reader.subscribe(topic);
      await writer.publishBatch(topic, range(1, 10));
      assert.deepEqual(texts(await take(subscription, 10)), range(1, 10));
      proxy.cut();
      await writer.publishBatch(topic, range(11, 60));
      await suite.client().compact((await writer.info(topic)).headRevision);
      proxy.restore();
      assert.deepEqual(texts(await take(subscription, 50)), range(11, 60));
      await writer.publish(topic, 'm61');
      assert.deepEqual(texts(await take(subscription, 1)), ['m61']);
      await subscription.close();
    } finally {
      await proxy.close();
    }
  });

  test('a subscription across a server kill -9 and restart: nothing lost, nothing twice', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('restart');
    const subscription = await pubsub.subscribe(topic);
    await pubsub.publishBatch(topic, range(1, 20));
    assert.deepEqual(texts(await take(subscription, 20)), range(1, 20));
    await suite.server().restart();
    await pubsub.publishBatch(topic, range(21, 40));
    assert.deepEqual(texts(await take(subscription, 20)), range(21, 40));
    await subscription.close();
  });
});
