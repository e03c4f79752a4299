/**
 * The etcd v2 keys API (set, create, update, compare-and-swap, delete,
 * directories, listing, in-order keys, TTLs, watching) emulated over the v3
 * API, so that the v2 examples of the etcd documents work against a server
 * that only speaks v3 (Holdfast, or etcd without --enable-v2).
 *
 * Mapping (documented in README.md):
 *
 *   - A v2 key is cleaned as the v2 store cleans it ("foo" and "/foo/"
 *     are "/foo") and stored under the same v3 key: `set /a/b 1` writes the
 *     v3 key "/a/b", which `get /a/b` reads back.
 *   - A directory D is the v3 key "D/" (empty value, a marker) and whatever
 *     lies under "D/". Creating a key creates the markers of its missing
 *     parent directories in the same transaction, so a directory outlives
 *     its last child, as in v2. Keys written through v3 under "D/" make D a
 *     directory too, marker or not.
 *   - Indexes are v3 revisions: createdIndex and modifiedIndex are the key's
 *     create and mod revisions, the response index the store revision.
 *   - A TTL is a lease granted for the key (its remaining time is the
 *     lease's); a directory's TTL expires the marker only.
 *   - Every write is one v3 transaction guarded by compares on what was
 *     read first (the key, the range under it, each parent), retried when
 *     something changed in between: concurrent v2 and v3 writers never see
 *     a half-applied operation.
 *
 * Differences from the v2 store: `set` keeps the key's createdIndex (v2
 * recreates the node); watches report "set" and "delete" (v3 events do not
 * say which v2 call wrote them, nor that a lease expired); hidden "_" keys
 * are listed like any other.
 */
import { posix } from 'node:path';
import { Compare, Op, type Client, type GetResult, type KeyValue, type Operation, type TxnResult, type WatchEvent } from '@holdfast/client';

/** A v2 node as the v2 client library represents it (client.Node). */
export interface V2Node {
  readonly key: string;
  readonly dir: boolean;
  readonly value: string;
  /** Children (undefined: not listed, JSON null). */
  readonly nodes: V2Node[] | undefined;
  readonly createdIndex: bigint;
  readonly modifiedIndex: bigint;
  /** Seconds to live, for a key with a TTL. */
  readonly ttl?: number;
  /** When it expires (RFC 3339), for a key with a TTL. */
  readonly expiration?: string;
}

/** A v2 response (client.Response). */
export interface V2Response {
  readonly action: string;
  readonly node: V2Node;
  readonly prevNode: V2Node | undefined;
  /** The store's index (X-Etcd-Index): the v3 revision. */
  readonly index: bigint;
}

/** v2 error codes (etcdserver/api/v2error). */
export const V2ErrorCode = {
  keyNotFound: 100,
  testFailed: 101,
  notFile: 102,
  notDir: 104,
  nodeExist: 105,
  rootReadOnly: 107,
  dirNotEmpty: 108,
} as const;

const v2Messages: Record<number, string> = {
  100: 'Key not found',
  101: 'Compare failed',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  107: 'Root is read only',
  108: 'Directory not empty',
};

/** A v2 error as the v2 client prints it: "100: Key not found (/foo) [12]". */
export class V2Error extends Error {
  constructor(
    readonly errorCode: number,
    readonly errorCause: string,
    readonly index: bigint,
  ) {
    super(`${errorCode}: ${v2Messages[errorCode] ?? 'Unknown error'} (${errorCause}) [${index}]`);
  }
}

export interface SetOptions {
  /** Seconds to live (0 or absent: forever). */
  readonly ttl?: number;
  readonly prevValue?: string;
  readonly prevIndex?: bigint;
  /** 'noexist': create only (mk); 'exist': update only. */
  readonly prevExist?: 'exist' | 'noexist';
  /** Create a directory (mkdir). */
  readonly dir?: boolean;
  readonly timeoutMs?: number;
}

export interface DeleteOptions {
  readonly dir?: boolean;
  readonly recursive?: boolean;
  readonly prevValue?: string;
  readonly prevIndex?: bigint;
  readonly timeoutMs?: number;
}

export interface GetOptions {
  readonly recursive?: boolean;
  readonly timeoutMs?: number;
}

/**
 * The v3 events of one watch batch as v2 reports changes: a directory
 * removed with everything in it is one event (its marker), and the markers
 * of parents created along with a key are no event at all (v2 creates
 * parent directories silently).
 */
function v2Events(events: readonly WatchEvent[]): WatchEvent[] {
  const deletedDirs = new Set<string>();
  const createdWith = new Set<string>();
  for (const event of events) {
    const name = event.kv.keyString;
    if (event.type === 'delete' && name.endsWith('/')) deletedDirs.add(`${event.kv.modRevision}:${name}`);
    if (event.type === 'put' && !name.endsWith('/')) {
      for (const parent of parents(name)) createdWith.add(`${event.kv.modRevision}:${marker(parent)}`);
    }
  }
  const underDeleted = (event: WatchEvent): boolean => {
    const name = event.kv.keyString;
    for (const parent of parents(name.endsWith('/') ? name.slice(0, -1) : name)) {
      if (deletedDirs.has(`${event.kv.modRevision}:${marker(parent)}`)) return true;
    }
    return false;
  };
  return events.filter((event) => {
    const name = event.kv.keyString;
    if (event.type === 'delete') return !underDeleted(event);
    return !(name.endsWith('/') && createdWith.has(`${event.kv.modRevision}:${name}`) && event.kv.version === 1n);
  });
}

/** path.Clean(path.Join("/", key)), as the v2 store cleans keys. */
export function cleanKey(key: string): string {
  const cleaned = posix.normalize(`/${key}`);
  return cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned;
}

/** The directories above a key, outermost first ("/a/b/c" -> ["/a", "/a/b"]). */
function parents(key: string): string[] {
  const parts = key.split('/').filter((part) => part.length > 0);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

const marker = (dir: string): string => `${dir}/`;

/** The snapshot a write decides from, read in one transaction. */
interface KeyState {
  readonly revision: bigint;
  readonly file: KeyValue | undefined;
  /** The directory marker, if any. */
  readonly dirMarker: KeyValue | undefined;
  /** Whether anything lies under "key/" (the marker included). */
  readonly isDir: boolean;
  /** For each parent: the file at its path (a conflict) and its marker. */
  readonly parents: ReadonlyArray<{ readonly path: string; readonly file: KeyValue | undefined; readonly marker: KeyValue | undefined }>;
}

const maxAttempts = 20;

export class V2Store {
  constructor(private readonly client: Client) {}

  private async readState(key: string, timeoutMs: number | undefined): Promise<KeyState> {
    const above = parents(key);
    const ops: Operation[] = [Op.get(key), Op.get(marker(key)), Op.get(marker(key), { prefix: true, limit: 1, keysOnly: true })];
    for (const parent of above) ops.push(Op.get(parent), Op.get(marker(parent)));
    const result = await this.client.txn().then(...ops).commit(timeoutMs === undefined ? {} : { timeoutMs });
    const kv = (i: number): KeyValue | undefined => {
      const response = result.responses[i];
      return response?.kind === 'get' ? response.kvs[0] : undefined;
    };
    const count = (i: number): bigint => {
      const response = result.responses[i];
      return response?.kind === 'get' ? response.count : 0n;
    };
    return {
      revision: result.header.revision,
      file: kv(0),
      dirMarker: kv(1),
      isDir: count(2) > 0n,
      parents: above.map((path, i) => ({ path, file: kv(3 + 2 * i), marker: kv(4 + 2 * i) })),
    };
  }

  /** Compares that hold while the state read is still the state. */
  private guards(key: string, state: KeyState): Compare[] {
    const compares = [
      Compare.modRevision(key, '=', state.file?.modRevision ?? 0n),
      // Nothing appeared under (or vanished from) the key's directory range.
      Compare.version(marker(key), state.isDir ? '>' : '=', 0n, { prefix: true }),
    ];
    for (const parent of state.parents) {
      compares.push(Compare.modRevision(parent.path, '=', parent.file?.modRevision ?? 0n));
      compares.push(Compare.createRevision(marker(parent.path), '=', parent.marker?.createRevision ?? 0n));
    }
    return compares;
  }

  private async ttlOf(kv: KeyValue, timeoutMs: number | undefined): Promise<{ ttl?: number; expiration?: string }> {
    if (kv.lease === 0n) return {};
    try {
      const live = await this.client.lease.timeToLive(kv.lease, timeoutMs === undefined ? {} : { timeoutMs });
      if (live.ttlSeconds < 0) return {};
      return { ttl: live.ttlSeconds, expiration: new Date(Date.now() + live.ttlSeconds * 1000).toISOString() };
    } catch {
      return {};
    }
  }

  private fileNode(key: string, kv: KeyValue, extra: { ttl?: number; expiration?: string } = {}): V2Node {
    return { key, dir: false, value: kv.valueString, nodes: undefined, createdIndex: kv.createRevision, modifiedIndex: kv.modRevision, ...extra };
  }

  private dirNode(key: string, createdIndex: bigint, modifiedIndex: bigint, nodes?: V2Node[]): V2Node {
    return { key, dir: true, value: '', nodes, createdIndex, modifiedIndex };
  }

  /** A parent on the path that is a file: v2's "Not a directory". */
  private checkParents(state: KeyState): void {
    for (const parent of state.parents) if (parent.file !== undefined) throw new V2Error(V2ErrorCode.notDir, parent.path, state.revision);
  }

  /** Creates, replaces or updates a key or directory (v2 PUT). */
  async set(rawKey: string, value: string, options: SetOptions = {}): Promise<V2Response> {
    const key = cleanKey(rawKey);
    if (key === '/') throw new V2Error(V2ErrorCode.rootReadOnly, '/', await this.currentRevision(options.timeoutMs));
    const compareAndSwap = options.prevExist !== 'noexist' && (options.prevValue !== undefined || (options.prevIndex ?? 0n) > 0n);
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const state = await this.readState(key, options.timeoutMs);
      const exists = state.file !== undefined || state.isDir;
      let action: string;
      if (options.prevExist === 'noexist') {
        action = 'create';
        this.checkParents(state);
        if (exists) throw new V2Error(V2ErrorCode.nodeExist, key, state.revision);
      } else if (options.prevExist === 'exist' && !compareAndSwap) {
        action = 'update';
        this.checkParents(state);
        if (!exists) throw new V2Error(V2ErrorCode.keyNotFound, key, state.revision);
        if (state.isDir && value.length > 0) throw new V2Error(V2ErrorCode.notFile, key, state.revision);
      } else if (compareAndSwap) {
        action = 'compareAndSwap';
        this.checkParents(state);
        if (!exists) throw new V2Error(V2ErrorCode.keyNotFound, key, state.revision);
        if (state.isDir || state.file === undefined) throw new V2Error(V2ErrorCode.notFile, key, state.revision);
        const valueFails = options.prevValue !== undefined && options.prevValue !== state.file.valueString;
        const indexFails = (options.prevIndex ?? 0n) > 0n && options.prevIndex !== state.file.modRevision;
        if (valueFails || indexFails) {
          const cause =
            valueFails && indexFails
              ? `[${options.prevValue} != ${state.file.valueString}] [${options.prevIndex} != ${state.file.modRevision}]`
              : valueFails
                ? `[${options.prevValue} != ${state.file.valueString}]`
                : `[${options.prevIndex} != ${state.file.modRevision}]`;
          throw new V2Error(V2ErrorCode.testFailed, cause, state.revision);
        }
      } else {
        action = 'set';
        this.checkParents(state);
        if (state.isDir) throw new V2Error(V2ErrorCode.notFile, key, state.revision);
      }
      const dir = options.dir === true;
      const lease = (options.ttl ?? 0) > 0 ? (await this.client.lease.grant(options.ttl!, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs })).id : 0n;
      const writes: Operation[] = [];
      for (const parent of state.parents) if (parent.marker === undefined) writes.push(Op.put(marker(parent.path), ''));
      if (dir && !state.isDir) writes.push(Op.put(marker(key), '', { lease }));
      else if (!dir) writes.push(Op.put(key, value, { lease, prevKv: true }));
      const result = await this.client
        .txn()
        .if(...this.guards(key, state))
        .then(...writes)
        .commit(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
      if (!result.succeeded) {
        if (lease !== 0n) await this.client.lease.revoke(lease).catch(() => {});
        continue;
      }
      const revision = result.header.revision;
      const ttl = lease === 0n ? {} : { ttl: options.ttl!, expiration: new Date(Date.now() + options.ttl! * 1000).toISOString() };
      const prevNode = state.file === undefined ? undefined : this.fileNode(key, state.file, await this.ttlOf(state.file, options.timeoutMs));
      const createdIndex = dir ? revision : (state.file?.createRevision ?? revision);
      const node: V2Node = dir
        ? { ...this.dirNode(key, revision, revision), ...ttl }
        : { key, dir: false, value, nodes: undefined, createdIndex, modifiedIndex: revision, ...ttl };
      return { action, node, prevNode: action === 'create' ? undefined : prevNode, index: revision };
    }
    throw new Error(`v2 ${rawKey}: gave up after ${maxAttempts} conflicting writes`);
  }

  /** A new key under `dir` named by the store's next index (v2 POST, mk --in-order). */
  async createInOrder(rawDir: string, value: string, options: { ttl?: number; timeoutMs?: number } = {}): Promise<V2Response> {
    const dir = cleanKey(rawDir);
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const revision = await this.currentRevision(options.timeoutMs);
      const name = `${dir === '/' ? '' : dir}/${(revision + 1n).toString().padStart(20, '0')}`;
      try {
        return await this.set(name, value, { ...options, prevExist: 'noexist' });
      } catch (error) {
        if (!(error instanceof V2Error && error.errorCode === V2ErrorCode.nodeExist)) throw error;
      }
    }
    throw new Error(`v2 ${rawDir}: gave up after ${maxAttempts} conflicting writes`);
  }

  private async currentRevision(timeoutMs: number | undefined): Promise<bigint> {
    return (await this.client.get('/', { countOnly: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) })).header.revision;
  }

  /** Deletes a key, or a directory with `dir` (empty) or `recursive` (v2 DELETE). */
  async delete(rawKey: string, options: DeleteOptions = {}): Promise<V2Response> {
    const key = cleanKey(rawKey);
    if (key === '/') throw new V2Error(V2ErrorCode.rootReadOnly, '/', await this.currentRevision(options.timeoutMs));
    const recursive = options.recursive === true;
    const dirAllowed = recursive || options.dir === true;
    const compareAndDelete = options.prevValue !== undefined || (options.prevIndex ?? 0n) > 0n;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const state = await this.readState(key, options.timeoutMs);
      this.checkParents(state);
      if (state.file === undefined && !state.isDir) throw new V2Error(V2ErrorCode.keyNotFound, key, state.revision);
      let action = 'delete';
      let children = false;
      if (state.isDir) {
        if (compareAndDelete || !dirAllowed) throw new V2Error(V2ErrorCode.notFile, key, state.revision);
        const under = await this.client.get(marker(key), { prefix: true, limit: 2, keysOnly: true, revision: state.revision, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
        children = under.kvs.some((kv) => kv.keyString !== marker(key));
        if (children && !recursive) throw new V2Error(V2ErrorCode.dirNotEmpty, key, state.revision);
      } else if (compareAndDelete) {
        action = 'compareAndDelete';
        const file = state.file!;
        const valueFails = options.prevValue !== undefined && options.prevValue !== file.valueString;
        const indexFails = (options.prevIndex ?? 0n) > 0n && options.prevIndex !== file.modRevision;
        if (valueFails || indexFails) {
          const cause =
            valueFails && indexFails
              ? `[${options.prevValue} != ${file.valueString}] [${options.prevIndex} != ${file.modRevision}]`
              : valueFails
                ? `[${options.prevValue} != ${file.valueString}]`
                : `[${options.prevIndex} != ${file.modRevision}]`;
          throw new V2Error(V2ErrorCode.testFailed, cause, state.revision);
        }
      }
      const deletes: Operation[] = state.isDir ? [Op.delete(marker(key), { prefix: true })] : [Op.delete(key)];
      const result: TxnResult = await this.client
        .txn()
        .if(...this.guards(key, state))
        .then(...deletes)
        .commit(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
      if (!result.succeeded) continue;
      const revision = result.header.revision;
      if (state.isDir) {
        const created = state.dirMarker?.createRevision ?? (await this.oldestUnder(key, state.revision, options.timeoutMs));
        const modified = state.dirMarker?.modRevision ?? created;
        return { action, node: this.dirNode(key, created, revision), prevNode: this.dirNode(key, created, modified), index: revision };
      }
      const file = state.file!;
      return {
        action,
        node: { key, dir: false, value: '', nodes: undefined, createdIndex: file.createRevision, modifiedIndex: revision },
        prevNode: this.fileNode(key, file, await this.ttlOf(file, options.timeoutMs)),
        index: revision,
      };
    }
    throw new Error(`v2 ${rawKey}: gave up after ${maxAttempts} conflicting writes`);
  }

  /** The creation revision of an implicit directory: its oldest key. */
  private async oldestUnder(key: string, revision: bigint, timeoutMs: number | undefined): Promise<bigint> {
    const result = await this.client.get(marker(key), { prefix: true, revision, sort: { target: 'createRevision', order: 'ascend' }, limit: 1, keysOnly: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    return result.kvs[0]?.createRevision ?? 0n;
  }

  /** Reads a key, or lists a directory (one level, or all of it with `recursive`), sorted by key (v2 GET). */
  async get(rawKey: string, options: GetOptions = {}): Promise<V2Response> {
    const key = cleanKey(rawKey);
    const timeout = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
    let under: GetResult;
    let state: KeyState | undefined;
    if (key === '/') {
      under = await this.client.get('/', { prefix: true, ...timeout });
    } else {
      state = await this.readState(key, options.timeoutMs);
      this.checkParents(state);
      if (state.file !== undefined && !state.isDir) {
        return { action: 'get', node: this.fileNode(key, state.file, await this.ttlOf(state.file, options.timeoutMs)), prevNode: undefined, index: state.revision };
      }
      if (!state.isDir) throw new V2Error(V2ErrorCode.keyNotFound, key, state.revision);
      under = await this.client.get(marker(key), { prefix: true, revision: state.revision, ...timeout });
    }
    const base = key === '/' ? '' : key;
    const tree = await this.buildTree(base, under.kvs, options.recursive === true, options.timeoutMs);
    const root =
      key === '/'
        ? this.dirNode('', 0n, 0n, tree.children)
        : this.dirNode(key, state!.dirMarker?.createRevision ?? tree.createdIndex, state!.dirMarker?.modRevision ?? tree.createdIndex, tree.children);
    return { action: 'get', node: root, prevNode: undefined, index: state?.revision ?? under.header.revision };
  }

  /** The v2 nodes below `base` from the v3 keys under "base/". */
  private async buildTree(base: string, kvs: readonly KeyValue[], recursive: boolean, timeoutMs: number | undefined): Promise<{ children: V2Node[]; createdIndex: bigint }> {
    interface Entry {
      file?: KeyValue;
      marker?: KeyValue;
      oldest: bigint;
      children: Map<string, Entry>;
    }
    const root: Entry = { oldest: 0n, children: new Map() };
    for (const kv of kvs) {
      const relative = kv.keyString.slice(base.length + 1);
      if (relative.length === 0) continue; // the directory's own marker
      const isMarker = relative.endsWith('/');
      const parts = relative.split('/').filter((part) => part.length > 0);
      let entry = root;
      parts.forEach((part, i) => {
        let child = entry.children.get(part);
        if (child === undefined) {
          child = { oldest: kv.createRevision, children: new Map() };
          entry.children.set(part, child);
        }
        if (kv.createRevision < child.oldest) child.oldest = kv.createRevision;
        const last = i === parts.length - 1;
        if (last && isMarker) child.marker = kv;
        else if (last) child.file = kv;
        entry = child;
      });
    }
    const toNodes = async (entry: Entry, prefix: string, depth: number): Promise<V2Node[]> => {
      const nodes: V2Node[] = [];
      for (const name of [...entry.children.keys()].sort()) {
        const child = entry.children.get(name)!;
        const path = `${prefix}/${name}`;
        const isDir = child.marker !== undefined || child.children.size > 0;
        if (!isDir && child.file !== undefined) {
          nodes.push(this.fileNode(path, child.file, await this.ttlOf(child.file, timeoutMs)));
          continue;
        }
        const created = child.marker?.createRevision ?? child.oldest;
        const modified = child.marker?.modRevision ?? created;
        nodes.push(this.dirNode(path, created, modified, recursive ? await toNodes(child, path, depth + 1) : undefined));
      }
      return nodes;
    };
    const oldest = kvs.reduce((min, kv) => (min === 0n || kv.createRevision < min ? kv.createRevision : min), 0n);
    return { children: await toNodes(root, base, 0), createdIndex: oldest };
  }

  /**
   * Changes to a key (or, `recursive`, to everything under it) from the
   * revision after `afterIndex` (or from now), as v2 responses. Directory
   * markers come as directory nodes.
   */
  async *watch(rawKey: string, options: { afterIndex?: bigint; recursive?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<V2Response, void, undefined> {
    const key = cleanKey(rawKey);
    const recursive = options.recursive === true;
    const watch = this.client.watch(key === '/' ? '/' : key, {
      ...(recursive || key === '/' ? { rangeEnd: key === '/' ? '0' : `${key}0` } : {}),
      ...((options.afterIndex ?? 0n) > 0n ? { startRevision: options.afterIndex! + 1n } : {}),
      prevKv: true,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for await (const batch of watch) {
      for (const event of v2Events(batch.events)) {
        const name = event.kv.keyString;
        const isMarker = name.endsWith('/');
        const path = isMarker ? name.slice(0, -1) : name;
        // A range [key, key0) also holds siblings such as "key!": keep the key and what is under it.
        if (!(path === key || key === '/' || path.startsWith(`${key}/`))) continue;
        if (!recursive && path !== key) continue;
        const node: V2Node = isMarker
          ? this.dirNode(path, event.kv.createRevision, event.kv.modRevision)
          : { key: path, dir: false, value: event.type === 'delete' ? '' : event.kv.valueString, nodes: undefined, createdIndex: event.kv.createRevision, modifiedIndex: event.kv.modRevision };
        const prev = event.prevKv;
        const prevNode = prev === undefined ? undefined : isMarker ? this.dirNode(path, prev.createRevision, prev.modRevision) : this.fileNode(path, prev);
        yield { action: event.type === 'delete' ? 'delete' : 'set', node, prevNode, index: event.kv.modRevision };
      }
    }
  }
}
