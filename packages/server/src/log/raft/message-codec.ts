/**
 * Raft messages on the wire between members: a compact binary form,
 * decoded strictly. A peer's bytes are hostile until proven otherwise, so
 * every length is checked against what is left and against a named bound,
 * every number against its range, and anything else refused with a
 * PeerMessageError, never half-decoded and never handed to Raft.
 *
 *   u8 format version (1)
 *   u8 type (index in networkMessageTypes: local types never travel)
 *   u64 from, u64 to                  member ids, uint64, non-zero
 *   u64 term, logTerm, index, commit, rejectHint   safe integers
 *   u8 flags: 1 reject, 2 leaderTransfer, 4 context, 8 snapshot
 *   u32 entry count, then each: u64 term, u64 index, u8 type, u32 length, data
 *   [u32 length, context]                          if flag 4
 *   [u64 index, u64 term, u32 n, n x u64 voter,
 *    u32 m, m x u64 learner, u32 length, data]     if flag 8
 *
 * All integers big-endian. The bytes end exactly where the message does.
 */
import { isValidNodeId, type ConfState, type Entry, type Message, type MessageType, type Snapshot } from '@holdfast/raft';

/** Message types that cross the network, numbered by position (append only). */
export const networkMessageTypes: readonly MessageType[] = [
  'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap',
  'heartbeat', 'heartbeatResp', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp',
];

const formatVersion = 1;
const entryTypes = ['normal', 'confChange'] as const;

/**
 * The largest encoded message a member accepts by default. Raft cuts its
 * appends at maxSizePerMessageBytes (1 MiB), but one entry may be a whole
 * request (--max-request-bytes, 1.5 MiB by default): 64 MiB leaves room for
 * both. The transport passes a larger bound when --max-request-bytes asks
 * for one; past the bound a message is refused, not read.
 */
export const maxPeerMessageBytes = 64 * 1024 * 1024;
/** Entries in one message at most (Raft sends far fewer: its in-flight window is 256 messages of 1 MiB). */
export const maxEntriesPerPeerMessage = 65_536;
/** Members named in a snapshot's membership at most. */
export const maxMembersPerSnapshot = 1_024;

/** A peer message this member refuses: malformed, oversized, or of a kind that never travels. */
export class PeerMessageError extends Error {
  override name = 'PeerMessageError';
}

const flagReject = 1;
const flagLeaderTransfer = 2;
const flagContext = 4;
const flagSnapshot = 8;

export function encodePeerMessage(message: Message, maxBytes = maxPeerMessageBytes): Buffer {
  const typeCode = networkMessageTypes.indexOf(message.type);
  if (typeCode < 0) throw new PeerMessageError(`raft message type ${message.type} is local and never sent`);
  let size = 2 + 8 * 7 + 1 + 4;
  for (const entry of message.entries) size += 8 + 8 + 1 + 4 + entry.data.byteLength;
  if (message.context !== undefined) size += 4 + message.context.byteLength;
  const snapshot = message.snapshot;
  if (snapshot !== undefined) size += 8 + 8 + 4 + 8 * snapshot.metadata.confState.voters.length + 4 + 8 * snapshot.metadata.confState.learners.length + 4 + snapshot.data.byteLength;
  if (size > maxBytes) throw new PeerMessageError(`raft message of ${size} bytes is over the ${maxBytes}-byte bound`);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  at = out.writeUInt8(formatVersion, at);
  at = out.writeUInt8(typeCode, at);
  at = out.writeBigUInt64BE(message.from, at);
  at = out.writeBigUInt64BE(message.to, at);
  for (const value of [message.term, message.logTerm, message.index, message.commit, message.rejectHint]) at = out.writeBigUInt64BE(BigInt(value), at);
  const flags = (message.reject ? flagReject : 0) | (message.leaderTransfer === true ? flagLeaderTransfer : 0) | (message.context !== undefined ? flagContext : 0) | (snapshot !== undefined ? flagSnapshot : 0);
  at = out.writeUInt8(flags, at);
  at = out.writeUInt32BE(message.entries.length, at);
  for (const entry of message.entries) {
    at = out.writeBigUInt64BE(BigInt(entry.term), at);
    at = out.writeBigUInt64BE(BigInt(entry.index), at);
    at = out.writeUInt8(entryTypes.indexOf(entry.type), at);
    at = out.writeUInt32BE(entry.data.byteLength, at);
    out.set(entry.data, at);
    at += entry.data.byteLength;
  }
  if (message.context !== undefined) {
    at = out.writeUInt32BE(message.context.byteLength, at);
    out.set(message.context, at);
    at += message.context.byteLength;
  }
  if (snapshot !== undefined) {
    const { index, term, confState } = snapshot.metadata;
    at = out.writeBigUInt64BE(BigInt(index), at);
    at = out.writeBigUInt64BE(BigInt(term), at);
    for (const ids of [confState.voters, confState.learners]) {
      at = out.writeUInt32BE(ids.length, at);
      for (const id of ids) at = out.writeBigUInt64BE(id, at);
    }
    at = out.writeUInt32BE(snapshot.data.byteLength, at);
    out.set(snapshot.data, at);
    at += snapshot.data.byteLength;
  }
  return out;
}

export function decodePeerMessage(bytes: Uint8Array, maxBytes = maxPeerMessageBytes): Message {
  if (bytes.byteLength > maxBytes) throw new PeerMessageError(`raft message of ${bytes.byteLength} bytes is over the ${maxBytes}-byte bound`);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (count: number, what: string): void => {
    if (count > buffer.length - at) throw new PeerMessageError(`raft message truncated: ${what} needs ${count} bytes at offset ${at}, ${buffer.length - at} left`);
  };
  const u8 = (what: string): number => {
    need(1, what);
    return buffer.readUInt8(at++);
  };
  const u32 = (what: string): number => {
    need(4, what);
    const value = buffer.readUInt32BE(at);
    at += 4;
    return value;
  };
  const u64 = (what: string): bigint => {
    need(8, what);
    const value = buffer.readBigUInt64BE(at);
    at += 8;
    return value;
  };
  const safe = (what: string): number => {
    const value = u64(what);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeerMessageError(`raft message: ${what} ${value} is out of range`);
    return Number(value);
  };
  const id = (what: string): bigint => {
    const value = u64(what);
    if (!isValidNodeId(value)) throw new PeerMessageError(`raft message: ${what} is not a member id`);
    return value;
  };
  const bytesOf = (length: number, what: string): Uint8Array => {
    need(length, what);
    // A copy: the message outlives the buffer it came in.
    const copy = new Uint8Array(buffer.subarray(at, at + length));
    at += length;
    return copy;
  };
  const version = u8('version');
  if (version !== formatVersion) throw new PeerMessageError(`raft message format ${version} is not ${formatVersion}`);
  const typeCode = u8('type');
  const type = networkMessageTypes[typeCode];
  if (type === undefined) throw new PeerMessageError(`raft message type ${typeCode} is unknown`);
  const from = id('from');
  const to = id('to');
  const term = safe('term');
  const logTerm = safe('logTerm');
  const index = safe('index');
  const commit = safe('commit');
  const rejectHint = safe('rejectHint');
  const flags = u8('flags');
  if ((flags & ~(flagReject | flagLeaderTransfer | flagContext | flagSnapshot)) !== 0) throw new PeerMessageError(`raft message flags ${flags} are unknown`);
  const entryCount = u32('entry count');
  if (entryCount > maxEntriesPerPeerMessage) throw new PeerMessageError(`raft message of ${entryCount} entries is over the ${maxEntriesPerPeerMessage}-entry bound`);
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const entryTerm = safe('entry term');
    const entryIndex = safe('entry index');
    const entryType = entryTypes[u8('entry type')];
    if (entryType === undefined) throw new PeerMessageError('raft message: entry type is unknown');
    const data = bytesOf(u32('entry length'), 'entry data');
    entries.push({ term: entryTerm, index: entryIndex, type: entryType, data });
  }
  const context = (flags & flagContext) !== 0 ? bytesOf(u32('context length'), 'context') : undefined;
  let snapshot: Snapshot | undefined;
  if ((flags & flagSnapshot) !== 0) {
    const snapshotIndex = safe('snapshot index');
    const snapshotTerm = safe('snapshot term');
    const members = (what: string): bigint[] => {
      const count = u32(`${what} count`);
      if (count > maxMembersPerSnapshot) throw new PeerMessageError(`raft message: ${count} ${what} is over the ${maxMembersPerSnapshot}-member bound`);
      return Array.from({ length: count }, () => id(what));
    };
    const confState: ConfState = { voters: members('voters'), learners: members('learners') };
    snapshot = { metadata: { index: snapshotIndex, term: snapshotTerm, confState }, data: bytesOf(u32('snapshot length'), 'snapshot data') };
  }
  if (at !== buffer.length) throw new PeerMessageError(`raft message has ${buffer.length - at} bytes after its end`);
  return {
    type, from, to, term, logTerm, index, entries, commit, rejectHint,
    reject: (flags & flagReject) !== 0,
    ...((flags & flagLeaderTransfer) !== 0 ? { leaderTransfer: true } : {}),
    ...(context !== undefined ? { context } : {}),
    ...(snapshot !== undefined ? { snapshot } : {}),
  };
}
