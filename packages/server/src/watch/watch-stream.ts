/**
 * One client Watch stream: the create/cancel/progress requests coming in,
 * and the responses of all its watchers going out, in one FIFO order.
 *
 * Responses follow etcd 3.4's server (etcdserver/api/v3rpc/watch.go):
 * - create: `created` with the watch id and the revision at creation; an
 *   empty key means "\0"; a range end of "\0" means every key >= key; an
 *   invalid request gets created + canceled with watch id -1 and etcd's
 *   reason ("mvcc: watcher range is empty", "mvcc: duplicate watch ID
 *   provided on the WatchStream");
 * - cancel: `canceled` for a known id; nothing for an unknown one;
 * - progress request: an empty response with watch id -1 and the current
 *   revision. Unlike 3.4 (which answers at once even while some watcher is
 *   behind) it is sent only once every watcher of the stream has caught up,
 *   so "progress at R" always means "everything up to R was sent" (3.5's rule);
 * - progress_notify: every --experimental-watch-progress-notify-interval, an
 *   empty response for each such watcher that was sent nothing since the
 *   last tick and is caught up;
 * - compacted: canceled with compact_revision (header revision 0, as etcd);
 * - prev_kv is read at send time, at mod revision - 1, like etcd.
 *
 * Bounds: responses are written to the gRPC stream at once; the stream
 * counts what it has not flushed to the socket yet. Past
 * maxQueuedBytesPerStream (or maxQueuedResponsesPerStream) it stops being
 * writable, and the hub catches its watchers up from history once it drains,
 * so a stuck client costs a bounded buffer, never the writers or other
 * watchers. Past maxQueuedResponsesPerStream the stream also stops reading
 * requests, so control replies cannot pile up either.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { bytesToKey, type HistoryEvent, type MvccStore } from '@holdfast/mvcc';
import type { WatchHub, WatchSink, Watcher } from './watch-hub.js';
import type { WatchRange } from './watcher-index.js';
import { toProtoKeyValue } from '../apply/kv-apply.js';
import { StoredPutEvent, encodedEventBytes } from './watch-response-codec.js';

type WatchRequest = etcdserverpb.WatchRequest;
type WatchResponse = etcdserverpb.WatchResponse;
type ResponseHeader = etcdserverpb.ResponseHeader;

export interface WatchStreamLimits {
  /**
   * Event bytes (keys, values, previous values) written but not yet flushed,
   * past which the stream's watchers fall back to history. One delivery may
   * overshoot it by at most WatchHubLimits.maxEventsPerDelivery events.
   */
  readonly maxQueuedBytesPerStream: number;
  /** Responses written but not yet flushed, past which the same happens and requests stop being read. */
  readonly maxQueuedResponsesPerStream: number;
}

export const defaultWatchStreamLimits: WatchStreamLimits = {
  maxQueuedBytesPerStream: 4 * 1024 * 1024,
  maxQueuedResponsesPerStream: 256,
};

/** etcd's InvalidWatchID: the id of responses that belong to no watcher. */
const invalidWatchId = -1n;
export const emptyWatcherRangeReason = 'mvcc: watcher range is empty';
export const duplicateWatchIdReason = 'mvcc: duplicate watch ID provided on the WatchStream';

/** What a watch stream needs from the server. */
export interface WatchStreamContext {
  readonly hub: WatchHub;
  readonly store: MvccStore;
  header(revision: number): ResponseHeader;
  /** Responses larger than this are split for watchers that asked for fragments. */
  readonly maxResponseBytes: number;
  readonly progressNotifyIntervalMs: number;
  readonly limits?: WatchStreamLimits;
}

/** Where responses go: the gRPC stream, or the JSON gateway's HTTP response. */
export interface WatchResponseWriter {
  /** Writes; `flushed` runs once the response left the process's buffers. */
  write(response: WatchResponse, flushed: () => void): void;
  /** Stop / restart taking requests (backpressure on a client that does not read). */
  pauseRequests(): void;
  resumeRequests(): void;
}

interface StreamWatcher {
  readonly id: bigint;
  readonly watcher: Watcher;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** etcd's progress flag: true when nothing was sent since the last tick. */
  idleSinceTick: boolean;
}

export class WatchStream implements WatchSink {
  private readonly context: WatchStreamContext;
  private readonly writer: WatchResponseWriter;
  private readonly limits: WatchStreamLimits;
  private readonly watchers = new Map<bigint, StreamWatcher>();
  private readonly byWatcher = new Map<Watcher, StreamWatcher>();
  private nextWatchId = 0n;
  private queuedBytes = 0;
  private queuedResponses = 0;
  private requestsPaused = false;
  private progressRequested = false;
  private closed = false;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(context: WatchStreamContext, writer: WatchResponseWriter) {
    this.context = context;
    this.writer = writer;
    this.limits = context.limits ?? defaultWatchStreamLimits;
    this.progressTimer = setInterval(() => this.progressTick(), context.progressNotifyIntervalMs);
    this.progressTimer.unref();
  }

  get writable(): boolean {
    return !this.closed && this.queuedBytes < this.limits.maxQueuedBytesPerStream && this.queuedResponses < this.limits.maxQueuedResponsesPerStream;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Handles one request from the client. */
  receive(request: WatchRequest): void {
    if (this.closed) return;
    if (request.createRequest !== undefined) this.create(request.createRequest);
    else if (request.cancelRequest !== undefined) this.cancel(request.cancelRequest.watchId);
    else if (request.progressRequest !== undefined) this.requestProgress();
    // Anything else is ignored, as etcd does, rather than ending the stream.
  }

  /** The client went away: every watcher goes with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.progressTimer);
    for (const entry of this.watchers.values()) this.context.hub.cancel(entry.watcher);
    this.watchers.clear();
    this.byWatcher.clear();
  }

  // ---- WatchSink ----

  deliver(watcher: Watcher, events: readonly HistoryEvent[], revision: number): void {
    const entry = this.byWatcher.get(watcher);
    if (entry === undefined) return;
    const response: WatchResponse = {
      header: this.context.header(revision),
      watchId: entry.id,
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: '',
      fragment: false,
      events: events.map((event) => this.toProtoEvent(event, entry.prevKv)),
    };
    if (events.length > 0) entry.idleSinceTick = false;
    if (entry.fragment) for (const part of fragments(response, this.context.maxResponseBytes)) this.send(part);
    else this.send(response);
  }

  compacted(watcher: Watcher, compactRevision: number): void {
    const entry = this.byWatcher.get(watcher);
    if (entry === undefined) return;
    this.forget(entry);
    this.send({ ...emptyResponse(this.context.header(0), entry.id), canceled: true, compactRevision: BigInt(compactRevision) });
    this.maybeSendProgress();
  }

  synced(): void {
    this.maybeSendProgress();
  }

  // ---- requests ----

  private create(request: etcdserverpb.WatchCreateRequest): void {
    const startKey = request.key.length === 0 ? '\x00' : bytesToKey(request.key);
    let range: WatchRange;
    if (request.rangeEnd.length === 0) range = { start: startKey, end: undefined };
    else if (request.rangeEnd.length === 1 && request.rangeEnd[0] === 0) range = { start: startKey, end: null };
    else range = { start: startKey, end: bytesToKey(request.rangeEnd) };
    const currentRevision = this.context.store.currentRevision;
    const created = { ...emptyResponse(this.context.header(currentRevision), invalidWatchId), created: true };

    if (typeof range.end === 'string' && startKey >= range.end) return this.send({ ...created, canceled: true, cancelReason: emptyWatcherRangeReason });
    let id = request.watchId;
    if (id === 0n) {
      // etcd's AutoWatchID: the next id this stream has not used.
      while (this.watchers.has(this.nextWatchId)) this.nextWatchId++;
      id = this.nextWatchId++;
    } else if (this.watchers.has(id)) {
      return this.send({ ...created, canceled: true, cancelReason: duplicateWatchIdReason });
    }
    // The created reply goes out before anything the watcher is sent.
    this.send({ ...created, watchId: id });
    const filters = request.filters;
    const watcher = this.context.hub.watch({
      range,
      startRevision: Number(request.startRevision),
      noPut: filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NOPUT),
      noDelete: filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NODELETE),
      sink: this,
    });
    const entry: StreamWatcher = { id, watcher, prevKv: request.prevKv, fragment: request.fragment, progressNotify: request.progressNotify, idleSinceTick: true };
    this.watchers.set(id, entry);
    this.byWatcher.set(watcher, entry);
  }

  private cancel(id: bigint): void {
    const entry = this.watchers.get(id);
    if (entry === undefined) return;
    this.context.hub.cancel(entry.watcher);
    this.forget(entry);
    this.send({ ...emptyResponse(this.context.header(this.context.store.currentRevision), id), canceled: true });
    this.maybeSendProgress();
  }

  private requestProgress(): void {
    this.progressRequested = true;
    this.maybeSendProgress();
  }

  /** A requested progress response goes out once no watcher of this stream is behind. */
  private maybeSendProgress(): void {
    if (!this.progressRequested) return;
    for (const entry of this.watchers.values()) if (entry.watcher.state !== 'synced') return;
    this.progressRequested = false;
    this.send(emptyResponse(this.context.header(this.context.store.currentRevision), invalidWatchId));
  }

  private progressTick(): void {
    for (const entry of this.watchers.values()) {
      if (!entry.progressNotify) continue;
      if (entry.idleSinceTick && entry.watcher.state === 'synced') {
        this.send(emptyResponse(this.context.header(this.context.store.currentRevision), entry.id));
      }
      entry.idleSinceTick = true;
    }
  }

  private forget(entry: StreamWatcher): void {
    this.watchers.delete(entry.id);
    this.byWatcher.delete(entry.watcher);
  }

  // ---- output ----

  private send(response: WatchResponse): void {
    if (this.closed) return;
    const bytes = eventBytes(response.events);
    this.queuedBytes += bytes;
    this.queuedResponses++;
    if (this.queuedResponses >= this.limits.maxQueuedResponsesPerStream && !this.requestsPaused) {
      this.requestsPaused = true;
      this.writer.pauseRequests();
    }
    this.writer.write(response, () => {
      const wasWritable = this.writable;
      this.queuedBytes -= bytes;
      this.queuedResponses--;
      if (this.requestsPaused && this.queuedResponses < this.limits.maxQueuedResponsesPerStream / 2) {
        this.requestsPaused = false;
        this.writer.resumeRequests();
      }
      if (!wasWritable && this.writable) this.context.hub.resume();
    });
  }

  private toProtoEvent(event: HistoryEvent, withPrevKv: boolean): mvccpb.Event {
    // Every watcher that wants this event without prev_kv gets the same
    // object, so its wire encoding is computed once (watch-response-codec.ts).
    if (!withPrevKv || (event.kind === 'put' && event.kv.createRevision === event.kv.modRevision)) {
      let shared = plainProtoEvents.get(event);
      if (shared === undefined) {
        shared =
          event.kind === 'put' && event.encodedKv !== undefined
            ? new StoredPutEvent(event.kv, event.encodedKv)
            : { type: event.kind === 'put' ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE, kv: toProtoKeyValue(event.kv) };
        plainProtoEvents.set(event, shared);
      }
      return shared;
    }
    // A create has no previous version (above); otherwise read it at the revision before.
    const protoEvent: mvccpb.Event = { type: event.kind === 'put' ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE, kv: toProtoKeyValue(event.kv) };
    try {
      const previous = this.context.store.range(event.kv.key, undefined, { revision: event.kv.modRevision - 1 }).kvs[0];
      if (previous !== undefined) protoEvent.prevKv = toProtoKeyValue(previous);
    } catch {
      // Compacted since: etcd sends the event without prev_kv then too.
    }
    return protoEvent;
  }
}

/** The proto form of each history event without prev_kv, shared by all the watchers that receive it. */
const plainProtoEvents = new WeakMap<HistoryEvent, mvccpb.Event>();

/** Bytes an event costs while queued: its keys and values, plus a fixed overhead for the rest. */
const eventOverheadBytes = 64;
function eventBytes(events: readonly mvccpb.Event[]): number {
  let bytes = 0;
  for (const event of events) {
    if (event instanceof StoredPutEvent) {
      bytes += eventOverheadBytes + event.encodedKv.length;
      continue;
    }
    bytes += eventOverheadBytes + (event.kv?.key.length ?? 0) + (event.kv?.value.length ?? 0);
    if (event.prevKv !== undefined) bytes += event.prevKv.key.length + event.prevKv.value.length;
  }
  return bytes;
}

function emptyResponse(header: ResponseHeader, watchId: bigint): WatchResponse {
  return { header, watchId, created: false, canceled: false, compactRevision: 0n, cancelReason: '', fragment: false, events: [] };
}

/**
 * etcd's sendFragments: a response at or over `maxBytes` with two or more
 * events is split into responses of at most `maxBytes` (but at least one
 * event each), all but the last marked `fragment`.
 */
export function fragments(response: WatchResponse, maxBytes: number): WatchResponse[] {
  if (response.events.length < 2) return [response];
  const baseBytes = etcdserverpb.WatchResponse.encode({ ...response, events: [] }).finish().length;
  const eventBytes = response.events.map((event) => encodedEventBytes(event));
  if (baseBytes + eventBytes.reduce((sum, bytes) => sum + bytes, 0) < maxBytes) return [response];
  const parts: WatchResponse[] = [];
  let from = 0;
  // The fragment flag itself adds two bytes to each part.
  const fragmentFlagBytes = 2;
  while (from < response.events.length) {
    let to = from + 1;
    let bytes = baseBytes + fragmentFlagBytes + eventBytes[from]!;
    while (to < response.events.length && bytes + eventBytes[to]! < maxBytes) bytes += eventBytes[to++]!;
    parts.push({ ...response, events: response.events.slice(from, to), fragment: to < response.events.length });
    from = to;
  }
  return parts;
}

/** Adapts a grpc-js Watch call to a WatchResponseWriter and runs a WatchStream on it. */
export function serveWatchCall(call: ServerDuplexStream<WatchRequest, WatchResponse>, context: WatchStreamContext): WatchStream {
  const stream = new WatchStream(context, {
    write: (response, flushed) => {
      call.write(response, () => flushed());
    },
    pauseRequests: () => call.pause(),
    resumeRequests: () => call.resume(),
  });
  call.on('data', (request: WatchRequest) => stream.receive(request));
  const close = () => stream.close();
  call.on('cancelled', close);
  call.on('error', close);
  call.on('close', close);
  // etcd keeps sending after the client half-closes; so do we.
  call.on('end', () => {});
  return stream;
}
