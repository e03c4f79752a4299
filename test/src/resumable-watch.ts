/**
 * A raw Watch stream client for tests that records every response it gets
 * and, when the stream breaks (a server restart), opens a new one from the
 * last revision it saw + 1, as a well-behaved client does. Nothing is
 * filtered or reordered: the guarantees tests judge what the server sent.
 */
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, type mvccpb } from '@holdfast/proto';

export interface RecordedResponse {
  /** Which stream (0, 1, ... one per reconnect) it came on. */
  readonly stream: number;
  readonly revision: number;
  readonly kind: 'created' | 'events' | 'progress' | 'canceled';
  readonly events: mvccpb.Event[];
  readonly fragment: boolean;
  readonly compactRevision: number;
}

export interface ResumableWatchOptions {
  readonly key: Buffer;
  readonly rangeEnd?: Uint8Array;
  readonly startRevision?: number;
  readonly prevKv?: boolean;
  readonly progressNotify?: boolean;
  readonly fragment?: boolean;
  /** Delay before reopening a broken stream. */
  readonly reconnectDelayMs?: number;
}

export class ResumableWatch {
  readonly responses: RecordedResponse[] = [];
  /** Mod revision of the newest event seen; 0 before any. */
  lastEventRevision = 0;
  reconnects = 0;
  private readonly client: etcdserverpb.WatchClient;
  private readonly options: ResumableWatchOptions;
  private call: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> | undefined;
  private streamNumber = -1;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<() => void> = [];

  constructor(endpoint: string, options: ResumableWatchOptions) {
    this.client = new etcdserverpb.WatchClient(endpoint, credentials.createInsecure());
    this.options = options;
    this.open();
  }

  /** Resolves when `predicate` holds (checked after every response). */
  waitFor(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch: condition not met within ${timeoutMs} ms (last revision ${this.lastEventRevision})`)), timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(check), 1);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  requestProgress(): void {
    this.call?.write({ progressRequest: {} });
  }

  /** Stops reading from the stream (the server's buffers fill up), then resumes. */
  pauseReading(ms: number): Promise<void> {
    this.call?.pause();
    return new Promise((resolve) =>
      setTimeout(() => {
        this.call?.resume();
        resolve();
      }, ms),
    );
  }

  get events(): Array<{ event: mvccpb.Event; response: number }> {
    return this.responses.flatMap((response, index) => response.events.map((event) => ({ event, response: index })));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.client.close();
  }

  private open(): void {
    const stream = ++this.streamNumber;
    const call = this.client.watch();
    this.call = call;
    const startRevision = this.lastEventRevision > 0 ? this.lastEventRevision + 1 : (this.options.startRevision ?? 0);
    call.on('data', (response: etcdserverpb.WatchResponse) => this.record(stream, response));
    const broken = () => {
      if (this.stopped || this.call !== call) return;
      this.call = undefined;
      this.reconnects++;
      this.reconnectTimer = setTimeout(() => this.open(), this.options.reconnectDelayMs ?? 200);
    };
    call.on('error', broken);
    call.on('end', broken);
    call.write({
      createRequest: etcdserverpb.WatchCreateRequest.fromPartial({
        key: this.options.key,
        rangeEnd: Buffer.from(this.options.rangeEnd ?? []),
        startRevision: BigInt(startRevision),
        prevKv: this.options.prevKv ?? false,
        progressNotify: this.options.progressNotify ?? false,
        fragment: this.options.fragment ?? false,
      }),
    });
  }

  private record(stream: number, response: etcdserverpb.WatchResponse): void {
    const kind = response.created ? 'created' : response.canceled ? 'canceled' : response.events.length > 0 ? 'events' : 'progress';
    this.responses.push({
      stream,
      revision: Number(response.header?.revision ?? 0n),
      kind,
      events: response.events,
      fragment: response.fragment,
      compactRevision: Number(response.compactRevision),
    });
    const last = response.events[response.events.length - 1];
    if (last !== undefined) this.lastEventRevision = Number(last.kv!.modRevision);
    for (const listener of [...this.listeners]) listener();
  }
}
