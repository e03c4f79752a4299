/**
 * Hand-made gRPC request bodies for every method Holdfast serves: bad
 * framing (flag bytes, compressed flag without an encoding, length
 * prefixes that promise more than comes, no message) and bad protobuf
 * (field 0, wrong wire types for every field, truncated varints and
 * lengths, ...), fixed and from a seeded generator. Used by
 * test/grpc-framing-compare.test.ts (Holdfast against etcd 3.4) and the
 * grpc-framing attack.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { etcdserverpb, healthpb, strict } from '@holdfast/proto';

export type MethodKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

export interface MethodUnderTest {
  readonly path: string;
  readonly kind: MethodKind;
  readonly schema: strict.MessageSchema;
}

/** Every method Holdfast serves, in service order. */
export const servedMethods: readonly MethodUnderTest[] = [
  etcdserverpb.KVService,
  etcdserverpb.WatchService,
  etcdserverpb.LeaseService,
  etcdserverpb.ClusterService,
  etcdserverpb.MaintenanceService,
  healthpb.HealthService,
].flatMap((service) =>
  Object.values(service).map((method: { path: string; requestStream: boolean; responseStream: boolean }) => ({
    path: method.path,
    kind: (method.requestStream ? (method.responseStream ? 'bidi' : 'clientStream') : method.responseStream ? 'serverStream' : 'unary') as MethodKind,
    schema: strict.requestSchemaByPath.get(method.path)!,
  })),
);

export interface FramingCase {
  readonly label: string;
  /** The whole request body: prefixes and messages. */
  readonly payload: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * For a single, well-framed message (flag 0, exact length): its bytes,
   * whose fate the protobuf decoder decides. Undefined when the framing
   * alone decides (the call fails before any message is decoded).
   */
  readonly message?: Buffer;
  /** A stream whose first message is good: it must be answered before the call fails. */
  readonly answersFirst?: boolean;
  /** Half-close the request after the payload (default true); false leaves it open, so only an answer given as the call starts comes. */
  readonly end?: boolean;
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function varint(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  out.push(value);
  return out;
}

const tag = (fieldNumber: number, wireType: number): number[] => varint(fieldNumber * 8 + wireType);

function frame(flag: number, body: Uint8Array | readonly number[], lengthBytes?: number): Buffer {
  const bytes = Buffer.from(body as Uint8Array);
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(lengthBytes ?? bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

const fields = (schema: strict.MessageSchema): strict.FieldSchema[] => schema.fieldsByNumber.filter((field): field is strict.FieldSchema => field !== undefined);

/** A field number `schema` does not use, from 15 up (etcd 3.4 skips it as unknown). */
function unknownFieldNumber(schema: strict.MessageSchema): number {
  let number = 15;
  while (schema.fieldsByNumber[number] !== undefined) number++;
  return number;
}

/** A valid encoding of `schema` with every field set (one member per oneof), nested `depth` levels at most. */
export function sampleMessage(schema: strict.MessageSchema, depth = 2): Buffer {
  const out: number[] = [];
  const oneofsDone = new Set<string>();
  for (const field of fields(schema)) {
    if (field.oneof !== undefined) {
      if (oneofsDone.has(field.oneof)) continue;
      oneofsDone.add(field.oneof);
    }
    if (field.kind === 'varint' || field.kind === 'packable') out.push(...tag(field.number, 0), 1);
    else if (field.kind === 'message') {
      if (depth === 0) continue;
      const nested = sampleMessage(field.message!(), depth - 1);
      out.push(...tag(field.number, 2), ...varint(nested.length), ...nested);
    } else out.push(...tag(field.number, 2), 1, 0x61);
  }
  return Buffer.from(out);
}

const decodeCase = (label: string, message: readonly number[] | Buffer): FramingCase => {
  const bytes = Buffer.from(message as Uint8Array);
  return { label, payload: frame(0, bytes), message: bytes };
};

/** The fixed cases for `method`: each framing rule and each decoder rule once, every field's wrong wire type. */
export function fixedCases(method: MethodUnderTest): FramingCase[] {
  const { schema } = method;
  const sample = sampleMessage(schema);
  const unknown = unknownFieldNumber(schema);
  const cases: FramingCase[] = [
    { label: 'flag 2, empty message', payload: frame(2, []) },
    { label: 'flag 7, the sample message', payload: frame(7, sample) },
    { label: 'flag 128', payload: frame(128, [0x08, 0x01]) },
    { label: 'flag 255', payload: frame(255, []) },
    { label: 'compressed flag, no grpc-encoding', payload: frame(1, sample) },
    { label: 'compressed flag, grpc-encoding identity', payload: frame(1, sample), headers: { 'grpc-encoding': 'identity' } },
    { label: 'grpc-encoding snappy (no decompressor)', payload: frame(1, sample), headers: { 'grpc-encoding': 'snappy' } },
    // etcd 3.4 registers no compressor: gzip and deflate are refused like snappy, as the call starts.
    { label: 'grpc-encoding gzip, the sample gzipped', payload: frame(1, gzipSync(sample)), headers: { 'grpc-encoding': 'gzip' } },
    { label: 'grpc-encoding gzip, the sample plain (flag 0)', payload: frame(0, sample), headers: { 'grpc-encoding': 'gzip' } },
    { label: 'grpc-encoding deflate, the sample deflated', payload: frame(1, deflateSync(sample)), headers: { 'grpc-encoding': 'deflate' } },
    { label: 'grpc-encoding gzip, the sample gzipped, request left open', payload: frame(1, gzipSync(sample)), headers: { 'grpc-encoding': 'gzip' }, end: false },
    { label: 'grpc-encoding gzip, no message, request left open', payload: Buffer.alloc(0), headers: { 'grpc-encoding': 'gzip' }, end: false },
    { label: 'length prefix 10, 1 byte sent', payload: frame(0, [0x08], 10) },
    { label: 'length prefix past the sample message', payload: frame(0, sample, sample.length + 100) },
    { label: 'a prefix of 3 bytes', payload: Buffer.from([0, 0, 0]) },
    { label: 'a prefix of 1 byte', payload: Buffer.from([0]) },
    { label: 'no message', payload: Buffer.alloc(0) },
    { label: 'length prefix 4 GiB - 1', payload: frame(0, [0x08, 0x01], 0xffffffff) },
    decodeCase('2 zero bytes', Buffer.alloc(2)),
    decodeCase('64 zero bytes', Buffer.alloc(64)),
    decodeCase('field 0, varint', [0x00, 0x01]),
    decodeCase('field 0, length-delimited', [0x02, 0x00]),
    decodeCase('field 1, end group', [0x0c]),
    decodeCase('field 1, wire type 6', [0x0e]),
    decodeCase('unknown field, wire type 7', [...tag(unknown, 7)]),
    decodeCase('truncated tag', [0x80]),
    decodeCase('tag varint of 11 bytes', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    decodeCase('10-byte tag of field 0', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    decodeCase('unknown field, truncated varint', [...tag(unknown, 0), 0x80]),
    decodeCase('unknown field, length past the end', [...tag(unknown, 2), 0x05, 0x01]),
    decodeCase('unknown field, negative length', [...tag(unknown, 2), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    decodeCase('unknown field, fixed64 cut short', [...tag(unknown, 1), 1, 2, 3]),
    decodeCase('unknown group, unterminated', [...tag(unknown, 3), 0x08, 0x01]),
    decodeCase('unknown group', [...tag(unknown, 3), 0x08, 0x01, ...tag(unknown, 4)]),
    decodeCase('unknown field with a 5-byte tag', [0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00]),
    decodeCase('the sample message, cut by one byte', sample.subarray(0, Math.max(0, sample.length - 1))),
  ];
  if (method.kind === 'bidi' && method.path !== '/etcdserverpb.Watch/Watch') {
    // grpc-go hands the handler the good message before failing on the bad frame.
    // (Not for Watch: whether etcd's reply to a create precedes the status is a race there.)
    cases.push({ label: 'the sample message, then flag 3', payload: Buffer.concat([frame(0, sample), frame(3, [])]), answersFirst: true });
    cases.push({ label: 'the sample message, then field 0', payload: Buffer.concat([frame(0, sample), frame(0, [0x00, 0x01])]), answersFirst: true });
  }
  for (const field of fields(schema)) {
    const name = field.protoName;
    if (field.kind === 'varint') {
      cases.push(decodeCase(`${name}: wire type 2`, [...tag(field.number, 2), 0x00]));
      cases.push(decodeCase(`${name}: truncated varint`, [...tag(field.number, 0), 0xff]));
    } else if (field.kind === 'packable') {
      cases.push(decodeCase(`${name}: wire type 5`, [...tag(field.number, 5), 0, 0, 0, 0]));
      cases.push(decodeCase(`${name}: packed, last varint past the end`, [...tag(field.number, 2), 0x01, 0x80]));
    } else {
      cases.push(decodeCase(`${name}: wire type 0`, [...tag(field.number, 0), 0x01]));
      cases.push(decodeCase(`${name}: length past the end`, [...tag(field.number, 2), 0x03, 0x61]));
      cases.push(decodeCase(`${name}: negative length`, [...tag(field.number, 2), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
      if (field.kind === 'message') cases.push(decodeCase(`${name}: field 0 inside`, [...tag(field.number, 2), 0x02, 0x00, 0x01]));
    }
  }
  return cases;
}

/** The finding's own case: 2 MB of zero bytes as a LeaseGrant (decoded as a valid empty request before the fix). */
export const twoMegabytesOfZeros: FramingCase = decodeCase('2,000,000 zero bytes', Buffer.alloc(2_000_000));

/** `count` random cases for `method`: mutated samples, random bytes, random framing. */
export function randomCases(method: MethodUnderTest, random: () => number, count: number): FramingCase[] {
  const below = (n: number) => Math.floor(random() * n);
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => below(256)));
  const sample = sampleMessage(method.schema);
  const cases: FramingCase[] = [];
  for (let i = 0; i < count; i++) {
    const choice = random();
    if (choice < 0.45) {
      let bytes = Buffer.from(sample);
      const edits: string[] = [];
      for (let m = 1 + below(3); m > 0; m--) {
        const at = below(bytes.length + 1);
        const op = below(5);
        if (op === 0 && bytes.length > 0) {
          bytes[Math.min(at, bytes.length - 1)] = below(256);
          edits.push(`set@${at}`);
        } else if (op === 1) {
          bytes = bytes.subarray(0, at);
          edits.push(`cut@${at}`);
        } else if (op === 2) {
          bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(1), bytes.subarray(at)]);
          edits.push(`insert@${at}`);
        } else if (op === 3 && bytes.length > 0) {
          bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          edits.push(`delete@${at}`);
        } else {
          bytes = Buffer.concat([bytes, randomBytes(1 + below(4))]);
          edits.push('append');
        }
      }
      cases.push(decodeCase(`mutated sample (${edits.join(',')}): ${bytes.toString('hex')}`, bytes));
    } else if (choice < 0.8) {
      const bytes = randomBytes(below(41));
      cases.push(decodeCase(`random bytes: ${bytes.toString('hex')}`, bytes));
    } else {
      const body = random() < 0.5 ? sample : randomBytes(below(16));
      const kind = below(4);
      if (kind === 0) {
        const flag = 2 + below(254);
        cases.push({ label: `flag ${flag}, ${body.length} bytes`, payload: frame(flag, body) });
      } else if (kind === 1) {
        cases.push({ label: `compressed flag, no encoding, ${body.length} bytes`, payload: frame(1, body) });
      } else if (kind === 2) {
        const claimed = body.length + 1 + below(1000);
        cases.push({ label: `length prefix ${claimed}, ${body.length} bytes sent`, payload: frame(0, body, claimed) });
      } else {
        const prefix = randomBytes(1 + below(4));
        cases.push({ label: `a prefix of ${prefix.length} bytes: ${prefix.toString('hex')}`, payload: prefix });
      }
    }
  }
  return cases;
}

/** Whether an answer is a refusal of how the request was framed or encoded (not of what it asked). */
export function isReadRefusal(code: number | undefined, message: string | undefined): boolean {
  if (message === undefined) return false;
  if (code === 13) return /^(grpc: (error unmarshalling request|failed to unmarshal|received unexpected payload format|compressed flag set)|unexpected EOF$)/.test(message);
  if (code === 2) return message === 'EOF' || message === 'unexpected EOF';
  if (code === 8) return message.startsWith('grpc: received message larger than max');
  if (code === 12) return message.startsWith('grpc: Decompressor is not installed');
  return false;
}

/**
 * Whether a request the decoder accepts would crash etcd 3.4.23: a Range
 * (or a txn's range) sorting by a target outside KEY..VALUE with sort_order
 * NONE, ASCEND or DESCEND makes applierV3backend.Range call sort.Sort with
 * a nil sorter, and etcd exits (measured).
 */
export function crashesEtcd34(path: string, message: Buffer): boolean {
  const unknownSort = (range: etcdserverpb.RangeRequest | undefined): boolean =>
    range !== undefined && (range.sortTarget < 0 || range.sortTarget > 4) && range.sortOrder >= 0 && range.sortOrder <= 2;
  const txnSorts = (txn: etcdserverpb.TxnRequest): boolean =>
    [...txn.success, ...txn.failure].some((op) => unknownSort(op.requestRange) || (op.requestTxn !== undefined && txnSorts(op.requestTxn)));
  if (path === '/etcdserverpb.KV/Range') return unknownSort(strict.strictDecoder(strict.requestSchemas.RangeRequest, etcdserverpb.RangeRequest)(message));
  if (path === '/etcdserverpb.KV/Txn') return txnSorts(strict.strictDecoder(strict.requestSchemas.TxnRequest, etcdserverpb.TxnRequest)(message));
  return false;
}

export type CaseVerdict = 'framing' | 'refused' | 'accepted' | 'overflow';

/** What decides a case: its framing, or the strict decoder's verdict on its one message (with the decoder's text). */
export function caseVerdict(schema: strict.MessageSchema, testCase: FramingCase): { verdict: CaseVerdict; text?: string } {
  if (testCase.message === undefined) return { verdict: 'framing' };
  try {
    strict.checkMessage(schema, testCase.message);
    return { verdict: 'accepted' };
  } catch (error) {
    return { verdict: error instanceof strict.ProtoLengthOverflowError ? 'overflow' : 'refused', text: (error as Error).message };
  }
}

/** etcd 3.4's request schemas where they differ from etcd 3.5's (ours): MemberListRequest has no fields there. */
const etcd34Schemas: ReadonlyMap<string, strict.MessageSchema> = new Map([['/etcdserverpb.Cluster/MemberList', strict.messageSchema('etcdserverpb.MemberListRequest', {})]]);

/** Whether etcd 3.4's decoder decides `testCase` differently from ours (a 3.5 field it skips as unknown). */
export function etcd34DecidesOtherwise(method: MethodUnderTest, testCase: FramingCase): boolean {
  const etcd34 = etcd34Schemas.get(method.path);
  if (etcd34 === undefined || testCase.message === undefined) return false;
  const ours = caseVerdict(method.schema, testCase);
  const theirs = caseVerdict(etcd34, testCase);
  return ours.verdict !== theirs.verdict || ours.text !== theirs.text;
}
