import type { WalFile, WalFileStat, WalFileSystem } from './fs.js';

/**
 * An in-memory {@link WalFileSystem} that models what survives a crash, for
 * tests. It keeps two views of everything:
 *
 * - files have volatile bytes (the page cache) and synced bytes (the disk);
 *   `datasync` copies the first to the second;
 * - directories have volatile entries and durable entries; `fsyncDirectory`
 *   copies the first to the second (creations, renames and unlinks are only
 *   durable after the parent directory is fsynced). `mkdir` is treated as
 *   immediately durable (a simplification: the WAL's parent directories exist
 *   before the WAL does).
 *
 * {@link crash} throws away everything volatile, optionally keeping a prefix
 * of each file's unsynced appended bytes (a torn write). Faults can be
 * injected: a write or sync that fails with an errno (a failing write may
 * still land a prefix of its bytes), and byte flips of stored data.
 *
 * When a datasync fails, the file's unsynced bytes are discarded: after a
 * failed fsync Linux may mark the dirty pages clean and drop them, so the
 * worst case is that the data never reaches the disk.
 */
export class MemoryWalFileSystem implements WalFileSystem {
  private root: DirNode = newDir();
  private generation = 0;
  private readonly faults: MemoryFault[] = [];
  private lastWrite: { node: FileNode; path: string; start: number; length: number } | undefined;
  /** Counts of operations, for assertions about write/sync batching. */
  readonly counters = { appends: 0, datasyncs: 0, directorySyncs: 0 };

  // ---- fault injection and crash simulation ---------------------------------

  /** Arms a fault that fires on the next matching operation(s). */
  injectFault(fault: MemoryFault): void {
    this.faults.push({ ...fault });
  }

  /** Removes every armed fault. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /**
   * Simulates power loss: every file goes back to its synced bytes plus
   * `keepUnsynced(path, n)` bytes of its `n` unsynced appended bytes (default
   * 0), every directory back to its durable entries. Open files become invalid.
   */
  crash(options?: { keepUnsynced?: (path: string, unsyncedBytes: number) => number }): void {
    this.generation += 1;
    const visit = (dir: DirNode, path: string): void => {
      dir.children = new Map(dir.durable);
      for (const [name, node] of dir.children) {
        const childPath = path === '/' ? `/${name}` : `${path}/${name}`;
        if (node.kind === 'dir') {
          visit(node, childPath);
          continue;
        }
        const unsynced = node.length - node.synced.length;
        let keep = 0;
        if (unsynced > 0 && isPrefix(node.synced, node.bytes.subarray(0, node.length))) {
          keep = Math.max(0, Math.min(unsynced, Math.floor(options?.keepUnsynced?.(childPath, unsynced) ?? 0)));
        }
        const kept = node.bytes.slice(node.synced.length, node.synced.length + keep);
        setBytes(node, concat(node.synced, kept));
        node.synced = node.bytes.slice(0, node.length);
      }
    };
    visit(this.root, '/');
  }

  /**
   * Tears the most recent append: only its first `keepBytes` bytes remain,
   * in the volatile and the durable copy (as if the machine died mid-write
   * and came back). Returns the path of the file it tore.
   */
  tearLastWrite(keepBytes: number): string {
    const last = this.lastWrite;
    if (!last) throw new Error('tearLastWrite: nothing was written');
    const keep = Math.max(0, Math.min(last.length, Math.floor(keepBytes)));
    const cut = last.start + keep;
    const content = last.node.bytes.slice(0, Math.min(cut, last.node.length));
    setBytes(last.node, content);
    last.node.synced = content.slice();
    return last.path;
  }

  /** @internal */
  noteWrite(node: FileNode, path: string, start: number, length: number): void {
    this.lastWrite = { node, path, start, length };
  }

  /** XORs the byte at `offset` of a file with `mask` (volatile and synced copies). */
  flipByte(path: string, offset: number, mask = 0xff): void {
    const node = this.file(path);
    if (offset < 0 || offset >= node.length) throw new RangeError(`flipByte: offset ${offset} outside ${path}`);
    node.bytes[offset] = (node.bytes[offset] ?? 0) ^ mask;
    if (offset < node.synced.length) node.synced[offset] = (node.synced[offset] ?? 0) ^ mask;
  }

  /** A copy of a file's current (volatile) bytes. */
  contents(path: string): Uint8Array {
    const node = this.file(path);
    return node.bytes.slice(0, node.length);
  }

  /** Replaces a file's content, durably (for crafting damaged files in tests). */
  setContents(path: string, data: Uint8Array): void {
    const node = this.file(path);
    setBytes(node, data);
    node.synced = data.slice();
  }

  /** Removes a file immediately and durably (simulating an operator mistake). */
  removeDurably(path: string): void {
    const { dir, name } = this.parentOf(path);
    if (!dir.children.delete(name)) throw fsError('ENOENT', 'unlink', path);
    dir.durable.delete(name);
  }

  /** Every file path currently visible, sorted. */
  listFiles(): string[] {
    const out: string[] = [];
    const visit = (dir: DirNode, path: string): void => {
      for (const [name, node] of dir.children) {
        const childPath = path === '/' ? `/${name}` : `${path}/${name}`;
        if (node.kind === 'dir') visit(node, childPath);
        else out.push(childPath);
      }
    };
    visit(this.root, '/');
    return out.sort();
  }

  // ---- WalFileSystem ------------------------------------------------------------

  async mkdir(path: string, options?: { recursive?: boolean }): Promise<void> {
    const parts = splitPath(path);
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      const existing = dir.children.get(name);
      const last = i === parts.length - 1;
      if (existing) {
        if (existing.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', path);
        if (last && !options?.recursive) throw fsError('EEXIST', 'mkdir', path);
        dir = existing;
        continue;
      }
      if (!last && !options?.recursive) throw fsError('ENOENT', 'mkdir', path);
      const created = newDir();
      dir.children.set(name, created);
      dir.durable.set(name, created);
      dir = created;
    }
  }

  async readdir(path: string): Promise<string[]> {
    return [...this.dir(path).children.keys()];
  }

  async stat(path: string): Promise<WalFileStat | null> {
    const node = this.lookup(path);
    if (!node) return null;
    return node.kind === 'dir' ? { size: 0, isDirectory: true } : { size: node.length, isDirectory: false };
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.contents(path);
  }

  async openAppend(path: string, options?: { exclusive?: boolean }): Promise<WalFile> {
    this.fire('open', path);
    const { dir, name } = this.parentOf(path);
    let node = dir.children.get(name);
    if (node && options?.exclusive) throw fsError('EEXIST', 'open', path);
    if (node?.kind === 'dir') throw fsError('EISDIR', 'open', path);
    if (!node) {
      node = newFile();
      dir.children.set(name, node);
    }
    return new MemoryWalFile(this, path, node, this.generation);
  }

  async truncate(path: string, size: number): Promise<void> {
    const node = this.file(path);
    if (size < node.length) {
      node.length = size;
      node.bytes.fill(0, size);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    this.fire('rename', from);
    const source = this.parentOf(from);
    const node = source.dir.children.get(source.name);
    if (!node) throw fsError('ENOENT', 'rename', from);
    const target = this.parentOf(to);
    const existing = target.dir.children.get(target.name);
    if (existing?.kind === 'dir' && (node.kind !== 'dir' || existing.children.size > 0)) {
      throw fsError(node.kind === 'dir' ? 'ENOTEMPTY' : 'EISDIR', 'rename', to);
    }
    source.dir.children.delete(source.name);
    target.dir.children.set(target.name, node);
  }

  async unlink(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path);
    const node = dir.children.get(name);
    if (!node) throw fsError('ENOENT', 'unlink', path);
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    dir.children.delete(name);
  }

  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path);
    const node = dir.children.get(name);
    if (!node) throw fsError('ENOENT', 'rmdir', path);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'rmdir', path);
    if (node.children.size > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
    dir.children.delete(name);
  }

  async fsyncDirectory(path: string): Promise<void> {
    this.fire('fsyncDirectory', path);
    const dir = this.dir(path);
    dir.durable = new Map(dir.children);
    this.counters.directorySyncs += 1;
  }

  // ---- internals used by MemoryWalFile ------------------------------------------

  /** @internal */
  checkGeneration(generation: number, path: string): void {
    if (generation !== this.generation) throw fsError('EBADF', 'use after crash', path);
  }

  /** @internal Returns the matching armed fault, consuming one use of it. */
  fire(op: MemoryFault['op'], path: string): MemoryFault | undefined {
    const index = this.faults.findIndex((f) => f.op === op && (f.path === undefined || path.includes(f.path)));
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    const skip = fault.after ?? 0;
    if (skip > 0) {
      fault.after = skip - 1;
      return undefined;
    }
    const times = fault.times ?? 1;
    if (times <= 1) this.faults.splice(index, 1);
    else fault.times = times - 1;
    if (op !== 'write' && op !== 'datasync') throw fsError(fault.errno, op, path);
    return fault;
  }

  private lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const name of splitPath(path)) {
      if (node.kind !== 'dir') return undefined;
      const next: Node | undefined = node.children.get(name);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private dir(path: string): DirNode {
    const node = this.lookup(path);
    if (!node) throw fsError('ENOENT', 'opendir', path);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'opendir', path);
    return node;
  }

  private file(path: string): FileNode {
    const node = this.lookup(path);
    if (!node) throw fsError('ENOENT', 'open', path);
    if (node.kind !== 'file') throw fsError('EISDIR', 'open', path);
    return node;
  }

  private parentOf(path: string): { dir: DirNode; name: string } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EINVAL', 'resolve', path);
    return { dir: this.dir(`/${parts.join('/')}`), name };
  }
}

/** A fault armed with {@link MemoryWalFileSystem.injectFault}. */
export interface MemoryFault {
  op: 'write' | 'datasync' | 'fsyncDirectory' | 'rename' | 'open';
  /** errno code to fail with, e.g. `ENOSPC`, `EIO`. */
  errno: string;
  /** Only operations whose path contains this substring match. */
  path?: string;
  /** For `write`: how many bytes of the failing write still land (default 0). */
  keepBytes?: number;
  /** Let this many matching operations succeed first (default 0). */
  after?: number;
  /** How many matching operations fail (default 1). */
  times?: number;
}

class MemoryWalFile implements WalFile {
  readonly path: string;
  private closed = false;

  constructor(
    private readonly fs: MemoryWalFileSystem,
    path: string,
    private readonly node: FileNode,
    private readonly generation: number,
  ) {
    this.path = path;
  }

  async append(data: Uint8Array): Promise<void> {
    this.check();
    const fault = this.fs.fire('write', this.path);
    if (fault) {
      const keep = Math.max(0, Math.min(data.length, fault.keepBytes ?? 0));
      appendBytes(this.node, data.subarray(0, keep));
      throw fsError(fault.errno, 'write', this.path);
    }
    this.fs.noteWrite(this.node, this.path, this.node.length, data.length);
    appendBytes(this.node, data);
    this.fs.counters.appends += 1;
  }

  async datasync(): Promise<void> {
    this.check();
    const fault = this.fs.fire('datasync', this.path);
    if (fault) {
      setBytes(this.node, this.node.synced);
      throw fsError(fault.errno, 'fdatasync', this.path);
    }
    this.node.synced = this.node.bytes.slice(0, this.node.length);
    this.fs.counters.datasyncs += 1;
  }

  async appendDurable(data: Uint8Array): Promise<void> {
    // A crash in the middle leaves what append leaves: a torn tail.
    await this.append(data);
    await this.datasync();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw fsError('EBADF', 'closed file', this.path);
    this.fs.checkGeneration(this.generation, this.path);
  }
}

interface FileNode {
  kind: 'file';
  /** Volatile bytes; only `bytes[0, length)` are meaningful, the rest is zero. */
  bytes: Uint8Array;
  length: number;
  /** Durable bytes. */
  synced: Uint8Array;
}

interface DirNode {
  kind: 'dir';
  children: Map<string, Node>;
  durable: Map<string, Node>;
}

type Node = FileNode | DirNode;

function newDir(): DirNode {
  return { kind: 'dir', children: new Map(), durable: new Map() };
}

function newFile(): FileNode {
  return { kind: 'file', bytes: new Uint8Array(64), length: 0, synced: new Uint8Array(0) };
}

function appendBytes(node: FileNode, data: Uint8Array): void {
  const needed = node.length + data.length;
  if (needed > node.bytes.length) {
    const grown = new Uint8Array(Math.max(needed, node.bytes.length * 2));
    grown.set(node.bytes.subarray(0, node.length));
    node.bytes = grown;
  }
  node.bytes.set(data, node.length);
  node.length = needed;
}

function setBytes(node: FileNode, data: Uint8Array): void {
  node.bytes = new Uint8Array(Math.max(64, data.length));
  node.bytes.set(data);
  node.length = data.length;
}

function isPrefix(prefix: Uint8Array, whole: Uint8Array): boolean {
  if (prefix.length > whole.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== whole[i]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((part) => part.length > 0 && part !== '.');
}

function fsError(code: string, op: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code });
}
