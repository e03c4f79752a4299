/**
 * Retention: a topic keeps its newest maxMessages messages and/or those
 * younger than maxAgeMs (by the publisher's clock in each envelope); older
 * ones are deleted from the oldest end with ranged deletes. Retention does
 * not wait for consumers: a subscription or group that falls further behind
 * skips what was deleted (Subscription.stats.skipped counts it).
 */
import type { Namespace } from '@holdfast/client';
import { decodeEnvelope } from './message.js';
import { firstSequence, type TopicKeys } from './keys.js';

export interface RetentionPolicy {
  /** Keep at most this many of the newest messages. */
  readonly maxMessages?: number;
  /** Delete messages published more than this long ago. */
  readonly maxAgeMs?: number;
}

export interface TrimResult {
  /** Messages deleted. */
  readonly deleted: bigint;
  /** The oldest sequence number kept (head + 1 when the topic is now empty). */
  readonly oldest: bigint;
}

const agePageSize = 256;

export function checkRetention(policy: RetentionPolicy): void {
  if (policy.maxMessages !== undefined && (!Number.isSafeInteger(policy.maxMessages) || policy.maxMessages < 0)) throw new RangeError('maxMessages must be a non-negative integer');
  if (policy.maxAgeMs !== undefined && (!Number.isFinite(policy.maxAgeMs) || policy.maxAgeMs < 0)) throw new RangeError('maxAgeMs must be a non-negative number');
}

/** Applies `policy` to one topic now. */
export async function trimTopic(space: Namespace, keys: TopicKeys, policy: RetentionPolicy, now: number = Date.now()): Promise<TrimResult> {
  checkRetention(policy);
  let deleted = 0n;
  const headRead = await space.get(keys.head);
  const head = headRead.kvs[0] === undefined ? 0n : BigInt(headRead.kvs[0].valueString);
  let keepFrom = firstSequence;
  if (policy.maxMessages !== undefined) {
    const byCount = head - BigInt(policy.maxMessages) + 1n;
    if (byCount > keepFrom) keepFrom = byCount;
    if (keepFrom > firstSequence) deleted += (await space.delete(keys.message(0n), { rangeEnd: keys.message(keepFrom) })).deleted;
  }
  if (policy.maxAgeMs !== undefined) {
    const cutoff = now - policy.maxAgeMs;
    for (;;) {
      const page = await space.get(keys.message(keepFrom), { rangeEnd: keys.messageRangeEnd, limit: agePageSize });
      let firstYoung: bigint | undefined;
      let lastSeen: bigint | undefined;
      for (const kv of page.kvs) {
        const seq = keys.sequenceOf(kv.keyString);
        if (seq === undefined) continue;
        if (decodeEnvelope(kv.value).publishedAt >= cutoff) {
          firstYoung = seq;
          break;
        }
        lastSeen = seq;
      }
      const deleteBelow = firstYoung ?? (lastSeen === undefined ? undefined : lastSeen + 1n);
      if (deleteBelow !== undefined && deleteBelow > keepFrom) {
        deleted += (await space.delete(keys.message(0n), { rangeEnd: keys.message(deleteBelow) })).deleted;
        keepFrom = deleteBelow;
      }
      if (firstYoung !== undefined || !page.more) break;
    }
  }
  const oldestRead = await space.get(keys.messagePrefix, { prefix: true, limit: 1, keysOnly: true });
  const oldestKey = oldestRead.kvs[0]?.keyString;
  return { deleted, oldest: oldestKey === undefined ? head + 1n : (keys.sequenceOf(oldestKey) ?? head + 1n) };
}
