/**
 * The key layout, under the PubSub's prefix (default `pubsub/`):
 *
 *   t/<topic>/head                     last sequence number published (decimal)
 *   t/<topic>/m/<seq, 20 digits>       one message (envelope: JSON header line, then the payload)
 *   c/<consumer>/<topic>               a durable consumer's cursor: {"seq":"…","revision":"…","at":ms}
 *   g/<group>/members/<member id>      a live group member, under its session's lease
 *   g/<group>/t/<topic>/next           the group's next unclaimed sequence number (decimal)
 *   g/<group>/t/<topic>/claims/<seq>   a claim on [seq, end]: {"member":"…","end":"…","attempt":n}
 *
 * Names (topics, consumers, groups) are percent-encoded (encodeURIComponent),
 * so any name is one path segment and no topic's range reaches into another's.
 * Sequence numbers are zero-padded to 20 digits (the width of 2^64), so key
 * order is sequence order and a range read from a position is one Range.
 */
import { prefixRangeEnd } from '@holdfast/proto';

export const sequenceDigits = 20;
/** The first sequence number of a topic. */
export const firstSequence = 1n;

export function encodeName(kind: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`a ${kind} name must be a non-empty string`);
  return encodeURIComponent(name);
}

export function encodeSequence(seq: bigint): string {
  if (seq < 0n) throw new RangeError(`a sequence number cannot be negative: ${seq}`);
  return seq.toString().padStart(sequenceDigits, '0');
}

/** Keys of one topic. */
export class TopicKeys {
  readonly topic: string;
  readonly head: string;
  /** The prefix of every message key: `t/<topic>/m/`. */
  readonly messagePrefix: string;

  constructor(topic: string) {
    this.topic = topic;
    const base = `t/${encodeName('topic', topic)}/`;
    this.head = `${base}head`;
    this.messagePrefix = `${base}m/`;
  }

  message(seq: bigint): string {
    return `${this.messagePrefix}${encodeSequence(seq)}`;
  }

  /** The end of the message range (exclusive): every message key is below it. */
  get messageRangeEnd(): Buffer {
    return Buffer.from(prefixRangeEnd(Buffer.from(this.messagePrefix)));
  }

  /** The sequence number in a message key, or undefined for another key. */
  sequenceOf(key: string): bigint | undefined {
    if (!key.startsWith(this.messagePrefix)) return undefined;
    const text = key.slice(this.messagePrefix.length);
    return /^\d{20}$/.test(text) ? BigInt(text) : undefined;
  }
}

export function cursorKey(consumer: string, topic: string): string {
  return `c/${encodeName('consumer', consumer)}/${encodeName('topic', topic)}`;
}

/** Keys of one consumer group. */
export class GroupKeys {
  readonly base: string;
  readonly membersPrefix: string;

  constructor(readonly group: string) {
    this.base = `g/${encodeName('group', group)}/`;
    this.membersPrefix = `${this.base}members/`;
  }

  member(memberId: string): string {
    return `${this.membersPrefix}${encodeURIComponent(memberId)}`;
  }

  topicPrefix(topic: string): string {
    return `${this.base}t/${encodeName('topic', topic)}/`;
  }

  next(topic: string): string {
    return `${this.topicPrefix(topic)}next`;
  }

  claimsPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}claims/`;
  }

  claim(topic: string, start: bigint): string {
    return `${this.claimsPrefix(topic)}${encodeSequence(start)}`;
  }
}
