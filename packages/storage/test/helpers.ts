import { MemoryWalFileSystem, type WalEntry, type WalLogger } from '../src/index.js';

export const DIR = '/data/member/wal';

/** A logger that records warnings instead of printing them. */
export function recordingLogger(): WalLogger & { messages: string[] } {
  const messages: string[] = [];
  return { messages, warn: (message: string) => void messages.push(message) };
}

/** Deterministic entry data of varying length for index/term. */
export function entry(index: number, term = 1, size = 20 + (index % 37)): WalEntry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, type: index % 3, data };
}

export function entries(from: number, to: number, term = 1): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** Compares entries field by field (Uint8Array vs Buffer safe). */
export function plain(list: readonly WalEntry[]): Array<{ index: number; term: number; type: number; data: number[] }> {
  return list.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] }));
}

export function segmentFiles(fs: MemoryWalFileSystem, dir = DIR): string[] {
  return fs.listFiles().filter((path) => path.startsWith(`${dir}/`) && path.endsWith('.wal'));
}
