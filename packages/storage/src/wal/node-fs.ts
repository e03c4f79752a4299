import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { WalFile, WalFileStat, WalFileSystem } from './fs.js';

/**
 * {@link WalFileSystem} on the real disk via `node:fs/promises`.
 *
 * Asynchronous on purpose (see fs.ts): writes and fdatasyncs run on the libuv
 * thread pool, so the event loop keeps accepting proposals for the next group
 * commit while the current one is being made durable.
 */
export class NodeWalFileSystem implements WalFileSystem {
  async mkdir(path: string, options?: { recursive?: boolean }): Promise<void> {
    await fsp.mkdir(path, { recursive: options?.recursive ?? false });
  }

  async readdir(path: string): Promise<string[]> {
    return fsp.readdir(path);
  }

  async stat(path: string): Promise<WalFileStat | null> {
    try {
      const stats = await fsp.stat(path);
      return { size: stats.size, isDirectory: stats.isDirectory() };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    return fsp.readFile(path);
  }

  async openAppend(path: string, options?: { exclusive?: boolean }): Promise<WalFile> {
    const handle = await fsp.open(path, options?.exclusive ? 'ax' : 'a', 0o600);
    return new NodeWalFile(path, handle);
  }

  async truncate(path: string, size: number): Promise<void> {
    await fsp.truncate(path, size);
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    await fsp.unlink(path);
  }

  async rmdir(path: string): Promise<void> {
    await fsp.rmdir(path);
  }

  async fsyncDirectory(path: string): Promise<void> {
    const handle = await fsp.open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Flags of the second descriptor, through which appendDurable writes. */
const durableAppendFlags = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_DSYNC;

class NodeWalFile implements WalFile {
  readonly path: string;
  private readonly handle: FileHandle;
  /** Opened at the first appendDurable: a write through it returns once durable. */
  private durableHandle: FileHandle | undefined;

  constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.handle = handle;
  }

  async append(data: Uint8Array): Promise<void> {
    await writeAll(this.handle, data);
  }

  async datasync(): Promise<void> {
    await this.handle.datasync();
  }

  async appendDurable(data: Uint8Array): Promise<void> {
    // O_DSYNC: each write(2) returns once its data and the metadata needed to
    // read it back (the file size) are on stable storage, as after
    // fdatasync(2), so a group commit is one thread-pool trip instead of two.
    this.durableHandle ??= await fsp.open(this.path, durableAppendFlags);
    await writeAll(this.durableHandle, data);
  }

  async close(): Promise<void> {
    try {
      await this.durableHandle?.close();
    } finally {
      await this.handle.close();
    }
  }
}

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  // write(2) on a regular file only writes short when the disk fills up or a
  // signal arrives; retry the remainder, the next call reports the errno.
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    offset += bytesWritten;
  }
}
