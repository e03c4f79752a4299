/**
 * Wire and log types. Everything here is plain data so that a server can
 * encode it with whatever codec it likes; nothing holds references to live
 * state machine objects.
 */

/**
 * A member id: an unsigned 64-bit integer, as etcd's member ids are (etcd
 * derives them from a hash of the peer URLs and cluster name, so they spread
 * over the whole range, e.g. 0x8e9e05c52164694dn). A JS number would lose
 * precision above 2^53, hence bigint. Valid ids are 1..MAX_NODE_ID; 0
 * (NO_NODE) means "nobody". Ids are only compared and used as Set/Map keys,
 * never used as array indexes or in arithmetic.
 */
export type NodeId = bigint;
export const NO_NODE: NodeId = 0n;
/** The largest uint64. */
export const MAX_NODE_ID: NodeId = (1n << 64n) - 1n;

/** True for a bigint in 1..MAX_NODE_ID (a JS number, even a small one, is not an id). */
export function isValidNodeId(id: unknown): id is NodeId {
  return typeof id === 'bigint' && id > NO_NODE && id <= MAX_NODE_ID;
}

/** Ascending order of ids, for Array.prototype.sort (bigints cannot be subtracted into a number). */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An id as etcd prints member ids: lowercase hex without a prefix (8e9e05c52164694d). */
export function formatNodeId(id: NodeId): string {
  return id.toString(16);
}

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state that must be durable before any message of the same Ready is sent. */
export interface HardState {
  readonly term: number;
  /** Whom this node voted for in `term`, or NO_NODE. */
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NO_NODE, commit: 0 });

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The membership of the cluster. Voters and learners are disjoint. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  /** Last log index covered by the snapshot. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** Opaque application state machine image. */
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0, term: 0, confState: Object.freeze({ voters: [], learners: [] }) }),
  data: new Uint8Array(0),
});

/**
 * Message types. Those marked (local) are never sent over the network: they
 * are created by the node itself or by the RawNode API and `RawNode.step`
 * rejects them.
 */
export type MessageType =
  | 'hup' // (local) start an election
  | 'beat' // (local) leader: send heartbeats
  | 'checkQuorum' // (local) leader: step down if a quorum was not heard from
  | 'unreachable' // (local) the transport could not reach `from`
  | 'snapStatus' // (local) result of sending a snapshot to `from`; reject = failed
  | 'prop' // proposal; local, or forwarded from a follower to the leader
  | 'app' // append entries
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap' // install snapshot
  | 'heartbeat'
  | 'heartbeatResp'
  | 'transferLeader' // `from` is the transferee; local or forwarded to the leader
  | 'timeoutNow' // leader -> transferee: campaign immediately
  | 'readIndex' // local, or forwarded from a follower to the leader
  | 'readIndexResp';

const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'hup',
  'beat',
  'checkQuorum',
  'unreachable',
  'snapStatus',
]);

export function isLocalMessageType(type: MessageType): boolean {
  return LOCAL_MESSAGE_TYPES.has(type);
}

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; 0 for local messages and forwarded prop/readIndex. */
  readonly term: number;
  /** app: term of the entry at `index`. appResp (reject): term of the hinted entry. vote: last log term. */
  readonly logTerm: number;
  /** app: index preceding `entries`. appResp: last index accepted, or the rejected index. vote: last log index. readIndexResp: the read index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** appResp (reject): the follower's guess at the last index that may match. */
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** heartbeat/heartbeatResp/readIndex/readIndexResp: opaque ReadIndex request context. */
  readonly context?: Uint8Array;
  /** vote: this election was triggered by a leadership transfer and may break leases. */
  readonly leaderTransfer?: boolean;
}

/** Builds a message with every field defaulted, so call sites name only what matters. */
export function makeMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NO_NODE,
    to: NO_NODE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** A single-server membership change (see README: why not joint consensus). */
export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque application data (e.g. the new member's peer URLs). */
  readonly context?: Uint8Array;
}

const CONF_CHANGE_TYPE_CODES: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode'];
const CONF_CHANGE_HEADER_BYTES = 1 + 8;

/**
 * Encodes a ConfChange as the data of a confChange entry:
 * [type:u8][nodeId:u64 big-endian][context...]. For example an addLearner
 * (code 1) of 0x8e9e05c52164694d is 01 8e 9e 05 c5 21 64 69 4d, then the context.
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  // setBigUint64 would silently wrap an id outside uint64, so check first.
  if (!isValidNodeId(cc.nodeId)) throw new RangeError(`conf change nodeId must be a uint64 bigint > 0, got ${String(cc.nodeId)}`);
  const typeCode = CONF_CHANGE_TYPE_CODES.indexOf(cc.type);
  if (typeCode < 0) throw new RangeError(`unknown conf change type ${String(cc.type)}`);
  const context = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(CONF_CHANGE_HEADER_BYTES + context.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, typeCode);
  view.setBigUint64(1, cc.nodeId);
  out.set(context, CONF_CHANGE_HEADER_BYTES);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength < CONF_CHANGE_HEADER_BYTES) {
    throw new RangeError(`conf change data too short: ${data.byteLength} bytes`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = CONF_CHANGE_TYPE_CODES[view.getUint8(0)];
  const nodeId = view.getBigUint64(1);
  if (type === undefined || nodeId === NO_NODE) {
    throw new RangeError('malformed conf change');
  }
  return { type, nodeId, context: data.slice(CONF_CHANGE_HEADER_BYTES) };
}

/** Bytes counted per entry beyond its payload when sizing messages. */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

export function payloadSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += e.data.byteLength;
  return total;
}

/**
 * Returns the longest prefix of `entries` whose total size is within
 * `maxSizeBytes`, but always at least one entry so progress is possible.
 */
export function limitSize<T extends Entry>(entries: readonly T[], maxSizeBytes: number): T[] {
  if (entries.length === 0) return [];
  let size = 0;
  let count = 0;
  for (const e of entries) {
    size += entrySizeBytes(e);
    if (count > 0 && size > maxSizeBytes) break;
    count++;
  }
  return entries.slice(0, count);
}

/** A ReadIndex result: once `applied >= index`, reads issued with `context` are linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

export type StateRole = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state useful for logging and routing; not persisted. */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: StateRole;
}
