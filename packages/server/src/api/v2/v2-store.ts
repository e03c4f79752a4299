/**
 * etcd's v2 keys store (etcdserver/api/v2store) emulated on the v3 store,
 * so that the v2 API etcd's documents teach with curl works on Holdfast.
 *
 * Layout (packages/server/README.md has the full mapping for v3 clients):
 *
 *   v2 file  /a/b  ->  v3 key "/_holdfast/v2/keys/a/b", value = the v2 value
 *   v2 dir   /a    ->  v3 key "/_holdfast/v2/keys/a/" (a marker, empty value)
 *   every v2 write  ->  also puts "/_holdfast/v2/event" (what the write was)
 *
 * - Indexes are v3 revisions. A file's modifiedIndex and createdIndex are
 *   its key's mod and create revisions; a directory's are both its marker's
 *   create revision (a v2 directory is never modified); the store index
 *   (X-Etcd-Index) is the current revision. A v2 `set` makes a new node
 *   (new createdIndex): its transaction deletes the key and puts it again,
 *   so the key starts a new generation at that revision.
 * - TTLs are leases. A node given a TTL is attached to a new lease with
 *   that TTL; a node without one is attached to its parent directory's
 *   lease, so that when a directory's lease expires its whole subtree goes
 *   in the same revision, as one v2 "expire". A node reports a TTL when its
 *   lease is not its parent's. A node whose TTL would outlive its parent's
 *   takes the parent's lease (it would go with the parent anyway).
 * - The event key records what each write was (set, create, update,
 *   compareAndSwap, delete, compareAndDelete), the node, and the TTLs as
 *   they were, so that waiters and history replay (v2-watch.ts) describe the
 *   write exactly as its response did. A revision that deletes v2 keys
 *   without an event record is a lease expiry: "expire".
 * - Every write is one v3 Txn through the log: the compares are exactly the
 *   reads the decision was based on (the node's mod revision, the absence of
 *   what must not exist, the parent's marker, the emptiness of a directory),
 *   so a concurrent change makes the Txn fail and the write is planned
 *   again. After a conflict, writes queue on a lock and are planned one at a
 *   time, so they cannot starve each other.
 */
import { etcdserverpb } from '@holdfast/proto';
import { decodeKeyValue, keyToBytes, type HistoryEvent, type KeyValue } from '@holdfast/mvcc';
import type { MemberApi } from '../member-api.js';
import type { V2Event, V2Node } from './v2-json.js';

/** Where v2 nodes live in the v3 key space: node "/a/b" is this + "/a/b". */
export const v2KeysPrefix = '/_holdfast/v2/keys';
/** The key every v2 write also puts: JSON describing the write (an EventRecord). */
export const v2EventKey = '/_holdfast/v2/event';
/** Everything the v2 emulation keeps: [v2RangeStart, v2RangeEnd). */
export const v2RangeStart = '/_holdfast/v2/';
export const v2RangeEnd = '/_holdfast/v20';

/** Revisions whose v2 events are kept for the waiters that are handed them. */
const eventCacheRevisions = 256;

/** Planning attempts of one write before it gives up (each lost race is one). */
export const maxWriteAttempts = 64;

export const v2ErrorMessages: Readonly<Record<number, string>> = {
  100: 'Key not found',
  101: 'Compare failed',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  107: 'Root is read only',
  108: 'Directory not empty',
  201: 'PrevValue is Required in POST form',
  202: 'The given TTL in POST form is not a number',
  203: 'The given index in POST form is not a number',
  209: 'Invalid field',
  210: 'Invalid POST form',
  211: 'Value provided on refresh',
  212: 'A TTL must be provided on refresh',
  300: 'Raft Internal Error',
  401: 'The event in requested index is outdated and cleared',
};

/** HTTP status by v2 error code; any other code is 400 (v2error.StatusCode). */
const v2ErrorStatus: Readonly<Record<number, number>> = { 100: 404, 101: 412, 102: 403, 105: 412, 108: 403, 110: 401, 300: 500, 301: 500 };

/** A v2 error: etcd's code, message and cause, and the store index when it happened. */
export class V2Error extends Error {
  override name = 'V2Error';
  constructor(
    readonly errorCode: number,
    readonly errorCause: string,
    readonly index: number,
  ) {
    super(`${v2ErrorMessages[errorCode] ?? 'Unknown error'} (${errorCause})`);
  }

  get status(): number {
    return v2ErrorStatus[this.errorCode] ?? 400;
  }
}

/** What the event key holds for each write. */
export interface EventRecord {
  readonly action: string;
  readonly key: string;
  readonly dir?: boolean;
  readonly ttl?: number;
  /** Unix milliseconds. */
  readonly expiration?: number;
  readonly prevTtl?: number;
  readonly prevExpiration?: number;
  /** A refresh: written, but watchers are not told (etcd's Refresh events). */
  readonly refresh?: boolean;
}

/** A write's or read's outcome: the event and the store index to report. */
export interface V2Result {
  readonly event: V2Event;
  readonly index: number;
  /** 201 Created: a create, or a set that made a node where there was none. */
  readonly created: boolean;
}

export interface SetRequest {
  readonly path: string;
  readonly dir: boolean;
  readonly value: string;
  /** Seconds; undefined: no TTL. */
  readonly ttlSeconds: number | undefined;
  readonly refresh: boolean;
}

export interface CompareRequest {
  readonly prevValue: string;
  /** 0: not compared. */
  readonly prevIndex: bigint;
}

const { Compare_CompareResult: Result, Compare_CompareTarget: Target } = etcdserverpb;

const fileKey = (path: string): string => v2KeysPrefix + path;
/** A directory's marker; the root's is the prefix of every node. */
const markerKey = (path: string): string => (path === '/' ? `${v2KeysPrefix}/` : `${v2KeysPrefix}${path}/`);
const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';
const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** The key just after every key starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const bytes = keyToBytes(prefix);
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  if (i < 0) return '\0';
  bytes[i]! += 1;
  return bytes.subarray(0, i + 1).toString('latin1');
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/** The node path a v2 v3-key stands for, and whether it is a directory marker. */
export function nodeOfKey(key: string): { path: string; dir: boolean } | undefined {
  if (!key.startsWith(`${v2KeysPrefix}/`)) return undefined;
  const rest = key.slice(v2KeysPrefix.length);
  if (rest === '/') return undefined;
  return rest.endsWith('/') ? { path: rest.slice(0, -1), dir: true } : { path: rest, dir: false };
}

/** Go's TTL of a node: whole seconds left, rounded up. */
export function ttlFromRemainingMs(remainingMs: number): number {
  const whole = Math.trunc(remainingMs / 1000);
  return remainingMs % 1000 > 0 ? whole + 1 : whole;
}

/** What a walk down to a path found (v2store's internalGet and checkDir). */
interface Walk {
  /** The deepest existing directory above the path, and its marker (undefined: the root). */
  readonly parent: { path: string; marker: KeyValue | undefined };
  /** The first missing directory on the way, if any (everything below it is missing too). */
  readonly missing: string | undefined;
  /** A file where a directory had to be. */
  readonly notDir: string | undefined;
}

/** A planned write: its Txn, and what it needs. */
interface Plan {
  readonly compares: etcdserverpb.Compare[];
  readonly ops: etcdserverpb.RequestOp[];
  readonly record: EventRecord;
  /** Bytes it adds, for the quota. */
  readonly costBytes: number;
  /** Leases its keys leave, revoked once nothing is attached to them. */
  readonly releasedLeases: readonly bigint[];
  /** A lease it keeps for the same TTL: kept alive (renewed) before the Txn. */
  readonly renewedLease: bigint | undefined;
}

/** The plan needs a lease of its own before it can be made. */
const needsLease = Symbol('needsLease');

/** The lease a node gets: its own, or its parent's; `renewed`: its own it already had, kept alive. */
interface ChosenLease {
  readonly id: bigint;
  readonly own: boolean;
  readonly renewed: boolean;
}

/** A lease this close to expiring is not kept for a TTL refresh (a new one is granted). */
const renewMarginMs = 1_000;
type Planner = (ownLease: bigint | undefined) => Plan | V2Error | typeof needsLease;

export class V2Store {
  private readonly member: MemberApi;
  /** Held by writes planned one at a time (after a conflict). */
  private lockTail: Promise<void> = Promise.resolve();
  private lockWaiters = 0;
  /** Recent revisions' events: every waiter is handed the same revisions. */
  private readonly eventCache = new Map<number, ReturnType<V2Store['buildEvent']>>();

  constructor(member: MemberApi) {
    this.member = member;
  }

  /** The store index: the current revision. */
  get index(): number {
    return this.member.store.currentRevision;
  }

  // ---- reads ----

  /**
   * A GET. Everything up to the listing's first read runs at once, so the
   * index and the listing are of one revision; a directory's listing is
   * read in slices that yield (MvccStore.rangeInSlices), so a large tree
   * leaves the server answering others.
   */
  async get(path: string, recursive: boolean, sorted: boolean): Promise<V2Result> {
    const index = this.index;
    if (path === '/') {
      return { event: { action: 'get', node: { key: '', dir: true, nodes: await this.list('/', 0n, recursive, sorted), modifiedIndex: 0, createdIndex: 0 } }, index, created: false };
    }
    const walk = this.walk(path);
    const found = this.existing(path, walk, index);
    const parentLease = walk.parent.marker?.lease ?? 0n;
    const node = found.dir
      ? { ...this.dirNode(path, found.kv, parentLease), nodes: await this.list(path, found.kv.lease, recursive, sorted) }
      : this.fileNode(path, found.kv, parentLease);
    return { event: { action: 'get', node }, index, created: false };
  }

  /**
   * A directory's children (recursive: their children too), hidden ones
   * ("_" names) left out, in key order (etcd's is Go map order unless sorted).
   */
  private async list(path: string, lease: bigint, recursive: boolean, sorted: boolean): Promise<V2Node[]> {
    const prefix = markerKey(path);
    const top: V2Node[] = [];
    // Directories shown so far: their child lists and their leases.
    const dirs = new Map<string, { nodes: V2Node[]; lease: bigint }>([[path, { nodes: top, lease }]]);
    await this.member.store.rangeInSlices(keyToBytes(prefix), keyToBytes(prefixEnd(prefix)), {}, (record) => {
      const kv = decodeKeyValue(record);
      const node = nodeOfKey(text(kv.key));
      if (node === undefined || node.path === path) return;
      const parent = dirs.get(parentOf(node.path));
      // Under a hidden or (for a non-recursive listing) unlisted directory.
      if (parent === undefined || nameOf(node.path).startsWith('_')) return;
      if (node.dir) {
        const children: V2Node[] = [];
        parent.nodes.push({ ...this.dirNode(node.path, kv, parent.lease), nodes: children });
        if (recursive) dirs.set(node.path, { nodes: children, lease: kv.lease });
      } else {
        parent.nodes.push(this.fileNode(node.path, kv, parent.lease));
      }
    });
    if (sorted) {
      const sortTree = (nodes: V2Node[]): void => {
        nodes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        for (const node of nodes) if (node.nodes !== undefined) sortTree(node.nodes as V2Node[]);
      };
      sortTree(top);
    }
    return top;
  }

  // ---- writes (v2store's Set, Create, Update, CompareAndSwap, Delete, CompareAndDelete) ----

  set(request: SetRequest): Promise<V2Result> {
    return this.write(request.ttlSeconds, (ownLease) => {
      const { path } = request;
      const index = this.index;
      if (path === '/') return new V2Error(107, '/', index);
      const walk = this.walk(path);
      if (walk.notDir !== undefined) return new V2Error(104, walk.notDir, index);
      const file = this.kv(fileKey(path));
      const marker = this.kv(markerKey(path));
      let value = request.value;
      if (request.refresh) {
        if (walk.missing !== undefined) return new V2Error(100, walk.missing, index);
        if (file === undefined && marker === undefined) return new V2Error(100, path, index);
        value = file === undefined ? '' : text(file.value);
      }
      if (marker !== undefined) return new V2Error(102, path, index);
      const parentLease = walk.parent.marker?.lease ?? 0n;
      const lease = this.chooseLease(request.ttlSeconds, parentLease, ownLease, file?.lease);
      if (lease === needsLease) return needsLease;
      const compares = [...this.walkGuards(walk), file === undefined ? versionIs(fileKey(path), 0) : modIs(fileKey(path), file.modRevision), versionIs(markerKey(path), 0)];
      const ops = this.createMissingDirs(path, walk);
      // A set replaces the node: delete and put again, a new generation (new createdIndex).
      if (file !== undefined) ops.push(deleteOp(fileKey(path)));
      ops.push(putOp(request.dir ? markerKey(path) : fileKey(path), request.dir ? '' : value, lease.id));
      const prev = file === undefined ? {} : this.prevTtl(file, parentLease);
      return this.plan(compares, ops, { action: 'set', key: path, ...(request.dir ? { dir: true } : {}), ...this.ttlRecord(lease), ...prev, ...(request.refresh ? { refresh: true } : {}) }, file === undefined ? [] : [file.lease], lease);
    });
  }

  /** Create (prevExist=false) and POST's in-order keys (`unique`: the path gets a 20-digit index). */
  create(request: SetRequest, unique: boolean): Promise<V2Result> {
    return this.write(request.ttlSeconds, (ownLease) => {
      const index = this.index;
      // The name is the revision this write expects to get (etcd's index of it).
      const path = unique ? `${request.path === '/' ? '' : request.path}/${String(index + 1).padStart(20, '0')}` : request.path;
      if (path === '/') return new V2Error(107, '/', index);
      const walk = this.walk(path);
      if (walk.notDir !== undefined) return new V2Error(104, walk.notDir, index);
      if (this.kv(fileKey(path)) !== undefined || this.kv(markerKey(path)) !== undefined) return new V2Error(105, path, index);
      const lease = this.chooseLease(request.ttlSeconds, walk.parent.marker?.lease ?? 0n, ownLease);
      if (lease === needsLease) return needsLease;
      const compares = [...this.walkGuards(walk), versionIs(fileKey(path), 0), versionIs(markerKey(path), 0)];
      const ops = this.createMissingDirs(path, walk);
      ops.push(putOp(request.dir ? markerKey(path) : fileKey(path), request.dir ? '' : request.value, lease.id));
      return this.plan(compares, ops, { action: 'create', key: path, ...(request.dir ? { dir: true } : {}), ...this.ttlRecord(lease) }, [], lease);
    });
  }

  /** Update (prevExist=true): a file's value and TTL, or a directory's TTL. */
  update(request: SetRequest): Promise<V2Result> {
    return this.write(request.ttlSeconds, (ownLease) => {
      const { path } = request;
      const index = this.index;
      if (path === '/') return new V2Error(107, '/', index);
      const walk = this.walk(path);
      const found = this.existingOrError(path, walk, index);
      if (found instanceof V2Error) return found;
      if (found.dir && request.value !== '') return new V2Error(102, path, index);
      const parentLease = walk.parent.marker?.lease ?? 0n;
      const lease = this.chooseLease(request.ttlSeconds, parentLease, ownLease, found.kv.lease);
      if (lease === needsLease) return needsLease;
      const record = { action: 'update', key: path, ...(found.dir ? { dir: true } : {}), ...this.ttlRecord(lease), ...this.prevTtl(found.kv, parentLease), ...(request.refresh ? { refresh: true } : {}) };
      // The parent's marker too: the lease a node takes from it must still be the parent's.
      if (found.dir) return this.relaseDir(path, found.kv, lease, record, this.walkGuards(walk));
      const value = request.refresh ? text(found.kv.value) : request.value;
      return this.plan([...this.walkGuards(walk), modIs(fileKey(path), found.kv.modRevision)], [putOp(fileKey(path), value, lease.id)], record, [found.kv.lease], lease);
    });
  }

  compareAndSwap(request: SetRequest & CompareRequest): Promise<V2Result> {
    return this.write(request.ttlSeconds, (ownLease) => {
      const { path } = request;
      const index = this.index;
      if (path === '/') return new V2Error(107, '/', index);
      const walk = this.walk(path);
      const found = this.existingOrError(path, walk, index);
      if (found instanceof V2Error) return found;
      if (found.dir) return new V2Error(102, path, index);
      const failed = compareFailure(found.kv, request);
      if (failed !== undefined) return new V2Error(101, failed, index);
      const parentLease = walk.parent.marker?.lease ?? 0n;
      const lease = this.chooseLease(request.ttlSeconds, parentLease, ownLease, found.kv.lease);
      if (lease === needsLease) return needsLease;
      const value = request.refresh ? text(found.kv.value) : request.value;
      const record = { action: 'compareAndSwap', key: path, ...this.ttlRecord(lease), ...this.prevTtl(found.kv, parentLease), ...(request.refresh ? { refresh: true } : {}) };
      return this.plan([...this.walkGuards(walk), modIs(fileKey(path), found.kv.modRevision)], [putOp(fileKey(path), value, lease.id)], record, [found.kv.lease], lease);
    });
  }

  delete(path: string, dirRequested: boolean, recursive: boolean): Promise<V2Result> {
    return this.write(undefined, () => {
      const index = this.index;
      if (path === '/') return new V2Error(107, '/', index);
      const walk = this.walk(path);
      const found = this.existingOrError(path, walk, index);
      if (found instanceof V2Error) return found;
      const parentLease = walk.parent.marker?.lease ?? 0n;
      const record = { action: 'delete', key: path, ...(found.dir ? { dir: true } : {}), ...this.prevTtl(found.kv, parentLease) };
      if (!found.dir) return this.plan([modIs(fileKey(path), found.kv.modRevision)], [deleteOp(fileKey(path))], record, []);
      // recursive implies dir.
      if (!dirRequested && !recursive) return new V2Error(102, path, index);
      const marker = markerKey(path);
      const childrenStart = `${marker}\0`;
      const compares = [modIs(marker, found.kv.modRevision)];
      if (!recursive) {
        if (this.member.store.range(keyToBytes(childrenStart), keyToBytes(prefixEnd(marker)), { countOnly: true }).count > 0) return new V2Error(108, path, index);
        compares.push(rangeVersionIs(childrenStart, prefixEnd(marker), 0));
      }
      // The marker and everything under it, in one revision.
      return this.plan(compares, [deleteOp(marker, prefixEnd(marker))], record, []);
    });
  }

  compareAndDelete(path: string, request: CompareRequest): Promise<V2Result> {
    return this.write(undefined, () => {
      const index = this.index;
      // v2store's CompareAndDelete has no root check: the root is a directory.
      if (path === '/') return new V2Error(102, '', index);
      const walk = this.walk(path);
      const found = this.existingOrError(path, walk, index);
      if (found instanceof V2Error) return found;
      if (found.dir) return new V2Error(102, path, index);
      const failed = compareFailure(found.kv, request);
      if (failed !== undefined) return new V2Error(101, failed, index);
      const record = { action: 'compareAndDelete', key: path, ...this.prevTtl(found.kv, walk.parent.marker?.lease ?? 0n) };
      return this.plan([modIs(fileKey(path), found.kv.modRevision)], [deleteOp(fileKey(path))], record, []);
    });
  }

  // ---- events (also read by waiters: v2-watch.ts) ----

  /**
   * The v2 event a revision's changes make (its changes under the v2
   * prefix, in order), or undefined if it changed no v2 node. `refresh`
   * events are returned marked: watchers skip them.
   */
  eventOf(revision: number, changes: readonly HistoryEvent[]): { event: V2Event; refresh: boolean; removed: string[] } | undefined {
    if (this.eventCache.has(revision)) return this.eventCache.get(revision);
    const made = this.buildEvent(revision, changes);
    this.eventCache.set(revision, made);
    if (this.eventCache.size > eventCacheRevisions) this.eventCache.delete(this.eventCache.keys().next().value!);
    return made;
  }

  private buildEvent(revision: number, changes: readonly HistoryEvent[]): { event: V2Event; refresh: boolean; removed: string[] } | undefined {
    let record: EventRecord | undefined;
    const nodes: Array<{ path: string; dir: boolean; change: HistoryEvent }> = [];
    for (const change of changes) {
      const key = text(change.kv.key);
      if (key === v2EventKey && change.kind === 'put') record = parseRecord(change.kv.value);
      const node = nodeOfKey(key);
      if (node !== undefined) nodes.push({ ...node, change });
    }
    if (nodes.length === 0) return undefined;
    // Paths of nodes a delete or an expiry removed (watchers on them hear of it; a set's replaced node does not count).
    const deletion = record === undefined || record.action === 'delete' || record.action === 'compareAndDelete';
    const removed = deletion ? nodes.filter((node) => node.change.kind === 'delete').map((node) => node.path) : [];
    if (record !== undefined) {
      const previous = ['create'].includes(record.action) ? undefined : this.nodeAt(record.key, revision - 1);
      const prevNode = previous === undefined ? undefined : this.historicNode(record.key, previous, record.prevTtl, record.prevExpiration);
      const ttl = record.ttl === undefined ? {} : { ttl: record.ttl, expirationMs: record.expiration };
      let node: V2Node;
      if (record.action === 'delete' || record.action === 'compareAndDelete') {
        node = { key: record.key, ...(record.dir ? { dir: true } : {}), modifiedIndex: revision, createdIndex: prevNode?.createdIndex ?? 0 };
      } else {
        const put = nodes.find((candidate) => candidate.path === record!.key && candidate.change.kind === 'put' && candidate.dir === (record!.dir ?? false));
        const createdIndex = put?.change.kv.createRevision ?? prevNode?.createdIndex ?? revision;
        node = record.dir
          ? { key: record.key, dir: true, ...ttl, modifiedIndex: revision, createdIndex }
          : { key: record.key, value: put === undefined ? '' : text(put.change.kv.value), ...ttl, modifiedIndex: revision, createdIndex };
      }
      return { event: { action: record.action, node, ...(prevNode === undefined ? {} : { prevNode }) }, refresh: record.refresh === true, removed };
    }
    // No record: a lease expired (or a v3 client wrote v2 keys). The event is the top node changed.
    const depth = (path: string): number => path.split('/').length;
    const top = nodes.reduce((best, node) => (depth(node.path) < depth(best.path) ? node : best));
    const previous = this.nodeAt(top.path, revision - 1);
    if (top.change.kind === 'delete') {
      const expired = previous !== undefined && previous.lease !== 0n;
      const expiration = expired ? this.recordedExpiration(top.path, previous) : undefined;
      const prevNode = previous === undefined ? undefined : this.historicNode(top.path, previous, undefined, expiration);
      const node = { key: top.path, ...(top.dir ? { dir: true } : {}), modifiedIndex: revision, createdIndex: prevNode?.createdIndex ?? 0 };
      return { event: { action: expired ? 'expire' : 'delete', node, ...(prevNode === undefined ? {} : { prevNode }) }, refresh: false, removed };
    }
    const kv = top.change.kv;
    const node: V2Node = top.dir
      ? { key: top.path, dir: true, modifiedIndex: kv.createRevision, createdIndex: kv.createRevision }
      : { key: top.path, value: text(kv.value), modifiedIndex: revision, createdIndex: kv.createRevision };
    const prevNode = previous === undefined ? undefined : this.historicNode(top.path, previous, undefined, undefined);
    return { event: { action: 'set', node, ...(prevNode === undefined ? {} : { prevNode }) }, refresh: false, removed };
  }

  /** A node as it was at `revision` (its file or its marker), if it existed then and that is still readable. */
  private nodeAt(path: string, revision: number): KeyValue | undefined {
    if (revision < Math.max(1, this.member.store.compactRevision)) return undefined;
    for (const key of [fileKey(path), markerKey(path)]) {
      const found = this.member.store.range(keyToBytes(key), undefined, { revision }).kvs[0];
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** A past node: indexes and value from its key, TTL as recorded then. */
  private historicNode(path: string, kv: KeyValue, ttl: number | undefined, expirationMs: number | undefined): V2Node {
    const timing = { ...(expirationMs === undefined ? {} : { expirationMs }), ...(ttl === undefined ? {} : { ttl }) };
    return text(kv.key).endsWith('/')
      ? { key: path, dir: true, ...timing, modifiedIndex: kv.createRevision, createdIndex: kv.createRevision }
      : { key: path, value: text(kv.value), ...timing, modifiedIndex: kv.modRevision, createdIndex: kv.createRevision };
  }

  /** When an expired node was due to expire: what the write that last set it recorded. */
  private recordedExpiration(path: string, kv: KeyValue): number | undefined {
    if (kv.modRevision < Math.max(1, this.member.store.compactRevision)) return undefined;
    const recorded = this.member.store.range(keyToBytes(v2EventKey), undefined, { revision: kv.modRevision }).kvs[0];
    if (recorded === undefined || recorded.modRevision !== kv.modRevision) return undefined;
    const record = parseRecord(recorded.value);
    return record?.key === path ? record.expiration : undefined;
  }

  // ---- planning helpers ----

  private kv(key: string): KeyValue | undefined {
    return this.member.store.range(keyToBytes(key), undefined).kvs[0];
  }

  /** Walks the directories above `path` from the top, as v2store does. */
  private walk(path: string): Walk {
    let parent: Walk['parent'] = { path: '/', marker: undefined };
    const names = path.split('/').slice(1, -1);
    let current = '';
    for (const name of names) {
      current += `/${name}`;
      const marker = this.kv(markerKey(current));
      if (marker !== undefined) {
        parent = { path: current, marker };
        continue;
      }
      if (this.kv(fileKey(current)) !== undefined) return { parent, missing: undefined, notDir: current };
      return { parent, missing: current, notDir: undefined };
    }
    return { parent, missing: undefined, notDir: undefined };
  }

  /** The node at `path` (a file or a directory's marker), or v2store's error for it (internalGet). */
  private existingOrError(path: string, walk: Walk, index: number): { dir: boolean; kv: KeyValue } | V2Error {
    if (walk.notDir !== undefined) return new V2Error(104, walk.notDir, index);
    if (walk.missing !== undefined) return new V2Error(100, walk.missing, index);
    const file = this.kv(fileKey(path));
    if (file !== undefined) return { dir: false, kv: file };
    const marker = this.kv(markerKey(path));
    if (marker !== undefined) return { dir: true, kv: marker };
    return new V2Error(100, path, index);
  }

  private existing(path: string, walk: Walk, index: number): { dir: boolean; kv: KeyValue } {
    const found = this.existingOrError(path, walk, index);
    if (found instanceof V2Error) throw found;
    return found;
  }

  /** What the walk relied on: the parent it found still there, the first missing directory still missing. */
  private walkGuards(walk: Walk): etcdserverpb.Compare[] {
    const guards: etcdserverpb.Compare[] = [];
    if (walk.parent.marker !== undefined) guards.push(modIs(markerKey(walk.parent.path), walk.parent.marker.modRevision));
    if (walk.missing !== undefined) guards.push(versionIs(markerKey(walk.missing), 0), versionIs(fileKey(walk.missing), 0));
    return guards;
  }

  /** Markers for the missing directories above `path` (v2store's checkDir), with the parent's lease. */
  private createMissingDirs(path: string, walk: Walk): etcdserverpb.RequestOp[] {
    if (walk.missing === undefined) return [];
    const ops: etcdserverpb.RequestOp[] = [];
    const lease = walk.parent.marker?.lease ?? 0n;
    // Every directory above `path` from the first missing one down.
    for (let slash = path.indexOf('/', walk.missing.length); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      ops.push(putOp(markerKey(path.slice(0, slash)), '', lease));
    }
    return ops;
  }

  /**
   * The lease for a node: its own (the caller grants it first) when it has a
   * TTL that ends before its parent's; otherwise its parent's.
   */
  private chooseLease(ttlSeconds: number | undefined, parentLease: bigint, ownLease: bigint | undefined, currentLease = 0n): ChosenLease | typeof needsLease {
    if (ttlSeconds === undefined) return { id: parentLease, own: false, renewed: false };
    const { lessor } = this.member;
    const parent = parentLease === 0n ? undefined : lessor.get(parentLease);
    if (parent !== undefined && lessor.remainingMs(parent) <= ttlSeconds * 1000) return { id: parentLease, own: false, renewed: false };
    // The node's own lease already has this TTL: keep it and keep it alive
    // (a directory's TTL refresh then leaves its children alone).
    const current = currentLease === 0n || currentLease === parentLease ? undefined : lessor.get(currentLease);
    if (current !== undefined && current.ttlSeconds === Math.max(ttlSeconds, lessor.minTtlSeconds) && lessor.remainingMs(current) > renewMarginMs) {
      return { id: currentLease, own: true, renewed: true };
    }
    return ownLease === undefined ? needsLease : { id: ownLease, own: true, renewed: false };
  }

  /** A node's own TTL now (none when its lease is its parent's). */
  private ownTtl(lease: bigint, parentLease: bigint): { ttl: number; expirationMs: number } | undefined {
    if (lease === 0n || lease === parentLease) return undefined;
    const found = this.member.lessor.get(lease);
    if (found === undefined) return undefined;
    const remainingMs = this.member.lessor.remainingMs(found);
    return { ttl: ttlFromRemainingMs(remainingMs), expirationMs: Date.now() + remainingMs };
  }

  private ttlRecord(lease: ChosenLease): { ttl?: number; expiration?: number } {
    if (lease.renewed) {
      const ttl = this.member.lessor.get(lease.id)!.ttlSeconds;
      return { ttl, expiration: Date.now() + ttl * 1000 };
    }
    const own = lease.own ? this.ownTtl(lease.id, 0n) : undefined;
    return own === undefined ? {} : { ttl: own.ttl, expiration: own.expirationMs };
  }

  private prevTtl(kv: KeyValue, parentLease: bigint): { prevTtl?: number; prevExpiration?: number } {
    const own = this.ownTtl(kv.lease, parentLease);
    return own === undefined ? {} : { prevTtl: own.ttl, prevExpiration: own.expirationMs };
  }

  private fileNode(path: string, kv: KeyValue, parentLease: bigint): V2Node {
    return { key: path, value: text(kv.value), ...this.ownTtl(kv.lease, parentLease), modifiedIndex: kv.modRevision, createdIndex: kv.createRevision };
  }

  private dirNode(path: string, kv: KeyValue, parentLease: bigint): V2Node {
    return { key: path, dir: true, ...this.ownTtl(kv.lease, parentLease), modifiedIndex: kv.createRevision, createdIndex: kv.createRevision };
  }

  /**
   * A directory's new lease: its marker is put again with it, and every
   * node below that went with the old one (or would outlive the new one)
   * takes it too; their keys are put again, so files below get a new
   * modifiedIndex (the one v2 difference of a directory TTL change).
   */
  private relaseDir(path: string, marker: KeyValue, chosen: ChosenLease, record: EventRecord, guards: etcdserverpb.Compare[]): Plan {
    const lease = chosen.id;
    const compares = [...guards, modIs(markerKey(path), marker.modRevision)];
    const ops = [putOp(markerKey(path), '', lease)];
    const released = [marker.lease];
    if (marker.lease !== lease) {
      const prefix = markerKey(path);
      const leases = new Map<string, { old: bigint; now: bigint }>([[path, { old: marker.lease, now: lease }]]);
      const remaining = (id: bigint): number => {
        const found = this.member.lessor.get(id);
        return found === undefined ? 0 : this.member.lessor.remainingMs(found);
      };
      for (const kv of this.member.store.range(keyToBytes(`${prefix}\0`), keyToBytes(prefixEnd(prefix))).kvs) {
        const node = nodeOfKey(text(kv.key));
        const parent = node === undefined ? undefined : leases.get(parentOf(node.path));
        if (node === undefined || parent === undefined) continue;
        let now = kv.lease;
        if (kv.lease === parent.old || (parent.now !== 0n && (kv.lease === 0n || remaining(kv.lease) >= remaining(parent.now)))) now = parent.now;
        if (node.dir) leases.set(node.path, { old: kv.lease, now });
        if (now === kv.lease) continue;
        compares.push(modIs(text(kv.key), kv.modRevision));
        ops.push(putOp(text(kv.key), text(kv.value), now));
        released.push(kv.lease);
      }
      // Nothing may appear below meanwhile (it would keep the old lease).
      compares.push(rangeModBelow(`${prefix}\0`, prefixEnd(prefix), this.index + 1));
    }
    return this.plan(compares, ops, record, released, chosen);
  }

  private plan(compares: etcdserverpb.Compare[], ops: etcdserverpb.RequestOp[], record: EventRecord, releasedLeases: readonly bigint[], lease?: ChosenLease): Plan {
    const recordValue = JSON.stringify(record);
    ops.push(putOp(v2EventKey, recordValue, 0n));
    let costBytes = 0;
    for (const op of ops) if (op.requestPut !== undefined) costBytes += op.requestPut.key.length + op.requestPut.value.length;
    const released = releasedLeases.filter((id) => id !== 0n && id !== lease?.id);
    return { compares, ops, record, costBytes, releasedLeases: released, renewedLease: lease?.renewed === true ? lease.id : undefined };
  }

  /** Plans and commits one write, planning again after a lost race. */
  private async write(ttlSeconds: number | undefined, planner: Planner): Promise<V2Result> {
    let ownLease: bigint | undefined;
    let release: (() => void) | undefined;
    // While writes are queued on the lock, new ones queue too.
    if (this.lockWaiters > 0) release = await this.lock();
    try {
      for (let attempt = 0; attempt < maxWriteAttempts; attempt++) {
        const plan = planner(ownLease);
        if (plan instanceof V2Error) throw plan;
        if (plan === needsLease) {
          ownLease = await this.grantLease(ttlSeconds ?? 0);
          continue;
        }
        await this.member.checkQuota(plan.costBytes);
        if (plan.renewedLease !== undefined) this.renew(plan.renewedLease);
        const { response } = await this.member.propose({ txn: etcdserverpb.TxnRequest.fromPartial({ compare: plan.compares, success: plan.ops, failure: [] }) });
        const txn = response as etcdserverpb.TxnResponse;
        if (txn.succeeded) {
          const revision = Number(txn.header!.revision);
          for (const id of plan.releasedLeases) this.revokeIfUnused(id);
          const changes = this.member.store.readHistory(revision, revision, Number.MAX_SAFE_INTEGER).events;
          const made = this.eventOf(revision, changes);
          if (made === undefined) throw new Error('v2: a committed write changed no node');
          const created = plan.record.action === 'create' || (plan.record.action === 'set' && made.event.prevNode === undefined);
          return { event: made.event, index: revision, created };
        }
        // Lost a race: plan again, one writer at a time.
        release ??= await this.lock();
      }
      throw new Error('etcdserver: too many concurrent changes to the same v2 keys');
    } finally {
      release?.();
      if (ownLease !== undefined) this.revokeIfUnused(ownLease);
    }
  }

  private async lock(): Promise<() => void> {
    this.lockWaiters++;
    const previous = this.lockTail;
    let release!: () => void;
    this.lockTail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return () => {
      this.lockWaiters--;
      release();
    };
  }

  private async grantLease(ttlSeconds: number): Promise<bigint> {
    const ID = this.member.newLeaseId();
    await this.member.propose({ leaseGrant: { ID, TTL: BigInt(ttlSeconds) } });
    return ID;
  }

  /** Keeps a lease alive; one that just expired is left to its revoke (the Txn then finds its keys gone or fails). */
  private renew(id: bigint): void {
    try {
      this.member.lessor.renew(id);
    } catch {
      // Expired meanwhile.
    }
  }

  /** Revokes a lease nothing is attached to any more (best effort: an unrevoked one just expires). */
  private revokeIfUnused(id: bigint): void {
    const lease = this.member.lessor.get(id);
    if (lease === undefined || lease.keys.size > 0) return;
    this.member.propose({ leaseRevoke: { ID: id } }).catch(() => {});
  }
}

function parseRecord(value: Uint8Array): EventRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(text(value));
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as EventRecord).action === 'string' && typeof (parsed as EventRecord).key === 'string') return parsed as EventRecord;
  } catch {
    // Not ours: no record.
  }
  return undefined;
}

/** v2store's getCompareFailCause, or undefined when both comparisons hold. */
function compareFailure(kv: KeyValue, request: CompareRequest): string | undefined {
  const value = text(kv.value);
  const indexMatch = request.prevIndex === 0n || BigInt(kv.modRevision) === request.prevIndex;
  const valueMatch = request.prevValue === '' || value === request.prevValue;
  if (indexMatch && valueMatch) return undefined;
  if (indexMatch) return `[${request.prevValue} != ${value}]`;
  if (valueMatch) return `[${request.prevIndex} != ${kv.modRevision}]`;
  return `[${request.prevValue} != ${value}] [${request.prevIndex} != ${kv.modRevision}]`;
}

function modIs(key: string, revision: number): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({ key: keyToBytes(key), target: Target.MOD, result: Result.EQUAL, modRevision: BigInt(revision) });
}

function versionIs(key: string, version: number): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({ key: keyToBytes(key), target: Target.VERSION, result: Result.EQUAL, version: BigInt(version) });
}

/** Every key in [key, end) has this version (0: the range is empty). */
function rangeVersionIs(key: string, end: string, version: number): etcdserverpb.Compare {
  return { ...versionIs(key, version), rangeEnd: keyToBytes(end) };
}

/** Every key in [key, end) was last modified before `revision`: nothing in the range changed since. */
function rangeModBelow(key: string, end: string, revision: number): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({ key: keyToBytes(key), rangeEnd: keyToBytes(end), target: Target.MOD, result: Result.LESS, modRevision: BigInt(revision) });
}

function putOp(key: string, value: string, lease: bigint): etcdserverpb.RequestOp {
  return { requestPut: etcdserverpb.PutRequest.fromPartial({ key: keyToBytes(key), value: keyToBytes(value), lease }) };
}

function deleteOp(key: string, end?: string): etcdserverpb.RequestOp {
  return { requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key: keyToBytes(key), rangeEnd: end === undefined ? Buffer.alloc(0) : keyToBytes(end) }) };
}
