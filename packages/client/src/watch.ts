/**
 * The public side of a watch: its options, its batches of events, and the
 * Watch handle, an async iterable with a bounded buffer.
 *
 *   const watch = client.watch('/jobs/', { prefix: true, signal });
 *   for await (const batch of watch) for (const event of batch.events) ...
 *
 * The iterator ends when the watch is closed (close(), `break`, or the
 * client closing). It throws CompactedError (with compactRevision) when the
 * watch starts or resumes below the compaction revision, another EtcdError
 * when the server refuses or cancels the watch, and `signal.reason` when the
 * signal aborts. Batches buffered before an error are delivered first.
 */
import { onAbort } from './abort-listeners.js';
import type { KeyValue, ResponseHeader } from './bytes.js';
import type { RangeSelector } from './operations.js';

export type WatchFilter = 'noPut' | 'noDelete';

export interface WatchOptions extends RangeSelector {
  /** First revision to report (absent or 0n: changes after the watch is created). */
  readonly startRevision?: bigint;
  /** Include each key's previous value in events. */
  readonly prevKv?: boolean;
  /** Event types the server leaves out. */
  readonly filters?: readonly WatchFilter[];
  /** Ask the server for periodic progress notifications (etcd: every 10 minutes) while idle. */
  readonly progressNotify?: boolean;
  /**
   * Let the server split a response larger than its request limit into
   * fragments; the client reassembles them into one batch. Default true.
   */
  readonly fragment?: boolean;
  /** Cancels the watch; the iterator then throws `signal.reason`. */
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** The key after the change; for a delete, the key with modRevision = the delete's revision and no value. */
  readonly kv: KeyValue;
  /** The key before the change, when the watch asked for prevKv and there was one. */
  readonly prevKv: KeyValue | undefined;
}

export interface WatchBatch {
  readonly header: ResponseHeader;
  /** The events of one or more whole revisions, in revision order; empty for a progress notification. */
  readonly events: readonly WatchEvent[];
  /**
   * A progress notification: no events. `header.revision` is the store
   * revision the server had reached when it sent it.
   */
  readonly progress: boolean;
}

/** What the watch manager does for a Watch handle. */
export interface WatchControl {
  /** Asks the server for a progress notification; false when the watch's stream is not open. */
  requestProgress(): boolean;
  /** The consumer has read from a buffer that had filled: re-create the watch if it was suspended. */
  consumed(bufferedBatches: number): void;
  /** Stops the watch on the server and forgets it. */
  cancel(): void;
}

type Waiter = { resolve: (result: IteratorResult<WatchBatch>) => void; reject: (error: unknown) => void };

export class Watch implements AsyncIterable<WatchBatch> {
  /**
   * Resolves with the store revision at which the server created the watch
   * (the first time; resumes do not change it), rejects if it never was.
   */
  readonly created: Promise<bigint>;
  private resolveCreated!: (revision: bigint) => void;
  private rejectCreated!: (error: unknown) => void;
  private readonly buffer: WatchBatch[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: { error: unknown } | undefined;
  private ended = false;
  private iterated = false;
  private control: WatchControl | undefined;
  private readonly removeAbortListener: () => void;

  constructor(
    /** Largest number of batches buffered for the consumer (ClientOptions.watchBufferBatchesMax). */
    readonly bufferBatchesMax: number,
    signal: AbortSignal | undefined,
  ) {
    this.created = new Promise<bigint>((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    // Nobody may await `created`; a failure is reported by the iterator too.
    this.created.catch(() => {});
    if (signal === undefined) {
      this.removeAbortListener = () => {};
    } else {
      const abortWatch = (): void => this.abort(signal.reason);
      this.removeAbortListener = onAbort(signal, abortWatch);
      if (signal.aborted) queueMicrotask(abortWatch);
    }
  }

  /** Connects the handle to the manager (called once, by the manager). */
  attach(control: WatchControl): void {
    this.control = control;
  }

  /** Whether the watch has ended (closed, failed or aborted). */
  get done(): boolean {
    return this.ended || this.failure !== undefined;
  }

  /** Asks the server for a progress notification now; false when it cannot be sent yet. */
  requestProgress(): boolean {
    return !this.done && (this.control?.requestProgress() ?? false);
  }

  /** Stops the watch. The iterator ends after the batches already read. */
  close(): void {
    if (this.done) return;
    this.ended = true;
    this.buffer.length = 0;
    this.finish();
    for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (this.iterated) throw new TypeError('a Watch can be iterated only once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  // Called by the manager.

  /** Number of batches waiting for the consumer. */
  get bufferedBatches(): number {
    return this.buffer.length;
  }

  markCreated(revision: bigint): void {
    this.resolveCreated(revision);
  }

  push(batch: WatchBatch): void {
    if (this.done) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve({ value: batch, done: false });
    else this.buffer.push(batch);
  }

  /** Ends the watch with an error, after the batches already buffered. */
  fail(error: unknown): void {
    if (this.done) return;
    this.failure = { error };
    this.rejectCreated(error);
    this.finish();
    if (this.buffer.length === 0) this.rejectWaiters(error);
  }

  /** Ends the watch without error (the client closed). */
  end(): void {
    this.close();
  }

  private abort(reason: unknown): void {
    if (this.done) return;
    // An aborted watch stops at once: buffered batches are dropped.
    this.buffer.length = 0;
    this.fail(reason);
  }

  private finish(): void {
    this.rejectCreated(this.failure?.error ?? new Error('watch closed before it was created'));
    this.removeAbortListener();
    const control = this.control;
    this.control = undefined;
    control?.cancel();
  }

  private rejectWaiters(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private next(): Promise<IteratorResult<WatchBatch>> {
    const batch = this.buffer.shift();
    if (batch !== undefined) {
      this.control?.consumed(this.buffer.length);
      return Promise.resolve({ value: batch, done: false });
    }
    if (this.failure !== undefined) {
      const { error } = this.failure;
      // Report the error once, then behave as ended.
      this.failure = undefined;
      this.ended = true;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}
