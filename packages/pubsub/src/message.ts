/**
 * Messages: the stored envelope and the Message object consumers get.
 *
 * Envelope (the value of a message key): one line of JSON, a newline, then
 * the payload bytes untouched:
 *
 *   {"id":"V1StGXR8_Z5jdHi6B-myT","ts":1732200000000,"h":{"type":"order"}}\n<payload>
 *
 * `id` is unique per message (nanoid): it lets a publisher whose txn failed
 * ambiguously find out whether it was applied. `ts` is the publisher's clock
 * (ms since the epoch), which age-based retention reads. `h`, the headers,
 * is left out when empty.
 */
import type { KeyValue } from '@holdfast/client';

export type Payload = string | Uint8Array;

export interface OutgoingMessage {
  readonly data: Payload;
  readonly headers?: Readonly<Record<string, string>>;
}

interface EnvelopeHeader {
  readonly id: string;
  readonly ts: number;
  readonly h?: Record<string, string>;
}

const newline = 0x0a;

export function encodeEnvelope(id: string, publishedAt: number, message: OutgoingMessage): Buffer {
  const header: EnvelopeHeader = { id, ts: publishedAt, ...(message.headers !== undefined && Object.keys(message.headers).length > 0 ? { h: { ...message.headers } } : {}) };
  const payload = typeof message.data === 'string' ? Buffer.from(message.data, 'utf8') : Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
  return Buffer.concat([Buffer.from(JSON.stringify(header), 'utf8'), Buffer.from([newline]), payload]);
}

export interface DecodedEnvelope {
  readonly id: string;
  readonly publishedAt: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Buffer;
}

/** Reads an envelope; a value that is not one (written by something else) gives an empty id and the whole value as data. */
export function decodeEnvelope(value: Buffer): DecodedEnvelope {
  const end = value.indexOf(newline);
  if (end > 0) {
    try {
      const header = JSON.parse(value.subarray(0, end).toString('utf8')) as Partial<EnvelopeHeader>;
      if (typeof header.id === 'string' && typeof header.ts === 'number') {
        return { id: header.id, publishedAt: header.ts, headers: header.h ?? {}, data: value.subarray(end + 1) };
      }
    } catch {
      // Not ours: fall through.
    }
  }
  return { id: '', publishedAt: 0, headers: {}, data: value };
}

/** A delivered message. */
export class Message {
  constructor(
    readonly topic: string,
    /** Position in the topic: 1, 2, 3, ... in publish order. */
    readonly seq: bigint,
    /** The store revision of the publish: increases with seq (several messages of one batch share one). */
    readonly revision: bigint,
    readonly id: string,
    /** The publisher's clock when it published, in ms since the epoch. */
    readonly publishedAt: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly data: Buffer,
  ) {}

  static fromKeyValue(topic: string, seq: bigint, kv: KeyValue): Message {
    const envelope = decodeEnvelope(kv.value);
    return new Message(topic, seq, kv.modRevision, envelope.id, envelope.publishedAt, envelope.headers, envelope.data);
  }

  /** The payload as UTF-8. */
  get text(): string {
    return this.data.toString('utf8');
  }

  /** The payload parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text) as T;
  }
}
