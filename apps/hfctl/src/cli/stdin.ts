/**
 * Standard input, read the way etcdctl reads it: line by line as it
 * arrives (txn and watch -i are interactive), or all of it at once
 * (put's value, argOrStdin).
 */

/** Go's bufio.Reader.ReadString('\n') over stdin: each line with its newline, or the last partial line with EOF. */
export class LineReader {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private waiting: (() => void) | undefined;
  private started = false;

  constructor(private readonly stream: NodeJS.ReadableStream = process.stdin) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.stream.on('data', (chunk: Buffer | string) => {
      this.buffered = Buffer.concat([this.buffered, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
      this.wake();
    });
    this.stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.stream.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  /** The next line including "\n", or `{ eof: true, partial }` when input ends first. */
  async readLine(): Promise<{ line: Buffer; eof: false } | { partial: Buffer; eof: true }> {
    this.start();
    for (;;) {
      const newline = this.buffered.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.buffered.subarray(0, newline + 1);
        this.buffered = this.buffered.subarray(newline + 1);
        return { line, eof: false };
      }
      if (this.ended) {
        const partial = this.buffered;
        this.buffered = Buffer.alloc(0);
        return { partial, eof: true };
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /** Stops reading (lets the process exit). */
  close(): void {
    if (this.started) (this.stream as NodeJS.ReadStream).pause?.();
  }
}

/** All of stdin (ioutil.ReadAll(os.Stdin)). */
export async function readAllStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
