/**
 * Checks that lmdb can use the whole backend before the server trusts it.
 *
 * lmdb keeps no checksums and trusts its file: a damaged page can crash the
 * process (SIGSEGV) instead of returning an error. So the check runs in a
 * child process that opens the backend read-only and walks every table,
 * keys and values; if the child crashes or fails, the backend is refused
 * with a message naming the file. The child also checks the freelist,
 * which reads never touch but the first write does: a damaged one would
 * otherwise let the server start, serve, and abort on that write, on every
 * restart. Record-level damage inside values is caught by the MVCC record
 * checksums.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendCorruptError } from './errors.js';
import { backendFileName } from './backend.js';

const workerPath = fileURLToPath(new URL('./verify-worker.js', import.meta.url));

/** Resolves when the backend in `directory` reads cleanly (or does not exist yet). */
export async function verifyBackendReadable(directory: string): Promise<void> {
  const file = join(directory, backendFileName);
  if (!existsSync(file)) return;
  const { code, signal, output } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [workerPath, directory], { stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal, output }));
  });
  if (signal !== null) {
    throw new BackendCorruptError(file, new Error(`lmdb crashed (${signal}) while reading it: the file is damaged`));
  }
  if (code !== 0) throw new BackendCorruptError(file, new Error(output.trim() || `verification exited with ${code}`));
}
