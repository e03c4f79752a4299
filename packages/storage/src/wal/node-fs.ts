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

class NodeWalFile implements WalFile {
  readonly path: string;
  private readonly handle: FileHandle;

  constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.handle = handle;
  }

  async append(data: Uint8Array): Promise<void> {
    let offset = 0;
    // write(2) on a regular file only writes short when the disk fills up or a
    // signal arrives; retry the remainder, the next call reports the errno.
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset, null);
      if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
      offset += bytesWritten;
    }
  }

  async datasync(): Promise<void> {
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
