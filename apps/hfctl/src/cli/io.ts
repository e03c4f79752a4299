/**
 * Output. Keys and values are bytes and are written as bytes (etcdctl prints
 * Go strings, which are bytes too), so nothing here re-encodes them.
 * process.stdout and process.stderr are synchronous for files and pipes on
 * Linux, so what was written is out before the process exits.
 */
export type Chunk = string | Uint8Array;

export function out(...chunks: Chunk[]): void {
  for (const chunk of chunks) process.stdout.write(chunk);
}

export function outLine(...chunks: Chunk[]): void {
  out(...chunks, '\n');
}

export function err(...chunks: Chunk[]): void {
  for (const chunk of chunks) process.stderr.write(chunk);
}

export function errLine(...chunks: Chunk[]): void {
  err(...chunks, '\n');
}
