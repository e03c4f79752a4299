/**
 * The watch manager: many logical watches on few gRPC Watch streams, each
 * resumed exactly where it stopped whenever its stream breaks.
 *
 * Streams. A WatchStream is a long-lived slot that owns one gRPC stream at a
 * time and up to watchesPerStreamMax watchers; the manager fills a slot
 * before it opens the next, up to watchStreamsMax. When the gRPC stream
 * breaks (server killed, connection lost, endpoint failed over) the slot
 * re-opens one with backoff, on whichever endpoint the pool finds ready, and
 * re-creates its watchers there.
 *
 * Creation. Like clientv3, a slot sends one create request at a time and
 * waits for its `created` response, so responses map to watchers by order
 * without client-chosen watch ids (which etcd only accepts from 3.4 on).
 *
 * Resume invariant: `nextRevision` is the first revision the consumer has not
 * been given. It starts at the requested startRevision (or, for "from now",
 * at the creation header's revision + 1: the server watches from there), and
 * after every delivered batch of events becomes the last event's
 * modRevision + 1 (etcd never splits one revision across responses). A
 * re-created watcher starts at nextRevision, so no revision is lost or
 * delivered twice. Defensively, events below the current incarnation's start
 * or below the last delivered event's revision are dropped.
 *
 * Progress. A per-watcher progress notification (no events, this watcher's
 * id) says every event up to header.revision was sent, so nextRevision moves
 * to header.revision + 1. A stream-wide one (watch id -1, the answer to a
 * progress request) is delivered to every watcher but does not move
 * nextRevision: etcd 3.4 sends it on a control path that can overtake events
 * still queued for a slow watcher, so it proves nothing about them.
 *
 * Bounded memory: when a consumer's buffer reaches watchBufferBatchesMax the
 * watcher is cancelled on the server and parked ('suspended'); once the
 * consumer has read half of it, it is re-created from nextRevision.
 */
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { KeyValue, toBuffer, toHeader, type Bytes } from './bytes.js';
import { abandonStream, cancelCall, type ConnectionPool } from './connection-pool.js';
import { EtcdError, GrpcStatus, InvalidAuthTokenError, TooManyWatchesError, isFinalForStream, toEtcdError, watchCancelError } from './errors.js';
import type { KeySpace } from './key-space.js';
import { serverRange } from './operations.js';
import { Backoff } from './backoff.js';
import { Watch, type WatchBatch, type WatchControl, type WatchEvent, type WatchOptions } from './watch.js';

type WatchCall = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

/** The id etcd puts on responses that belong to no single watcher. */
const streamWideWatchId = -1n;

type WatcherState =
  /** Waiting in its slot's create queue. */
  | 'queued'
  /** Its create request is in flight. */
  | 'creating'
  | 'active'
  /** Cancelled on the server because the consumer's buffer is full; re-created when it drains. */
  | 'suspended'
  | 'closed';

class Watcher implements WatchControl {
  state: WatcherState = 'queued';
  serverWatchId: bigint | undefined;
  /** The first revision the consumer has not been given (0n: "from now", before the first creation). */
  nextRevision: bigint;
  /** Start revision of the current server-side incarnation: events below it were not asked for. */
  incarnationStartRevision = 0n;
  lastEventRevision = 0n;
  /** Events of a fragmented response received so far. */
  fragments: mvccpb.Event[] = [];
  private createdOnce = false;

  constructor(
    readonly slot: WatchStream,
    readonly handle: Watch,
    readonly keySpace: KeySpace,
    readonly key: Buffer,
    readonly rangeEnd: Buffer,
    readonly options: WatchOptions,
  ) {
    this.nextRevision = options.startRevision ?? 0n;
  }

  createRequest(): etcdserverpb.WatchRequest {
    this.incarnationStartRevision = this.nextRevision;
    return {
      createRequest: etcdserverpb.WatchCreateRequest.fromPartial({
        key: this.key,
        rangeEnd: this.rangeEnd,
        startRevision: this.nextRevision,
        progressNotify: this.options.progressNotify ?? false,
        filters: (this.options.filters ?? []).map((filter) =>
          filter === 'noPut' ? etcdserverpb.WatchCreateRequest_FilterType.NOPUT : etcdserverpb.WatchCreateRequest_FilterType.NODELETE,
        ),
        prevKv: this.options.prevKv ?? false,
        fragment: this.options.fragment ?? true,
      }),
    };
  }

  onCreated(header: etcdserverpb.ResponseHeader | undefined): void {
    const revision = header?.revision ?? 0n;
    // "From now" means from the revision after the one the server created the watch at.
    if (this.nextRevision === 0n) {
      this.nextRevision = revision + 1n;
      this.incarnationStartRevision = this.nextRevision;
    }
    if (!this.createdOnce) {
      this.createdOnce = true;
      this.handle.markCreated(revision);
    }
  }

  deliverEvents(header: etcdserverpb.ResponseHeader | undefined, wireEvents: readonly mvccpb.Event[]): void {
    const floor = this.incarnationStartRevision > this.lastEventRevision ? this.incarnationStartRevision : this.lastEventRevision;
    const events: WatchEvent[] = [];
    for (const event of wireEvents) {
      if (event.kv === undefined) continue;
      if (event.kv.modRevision < floor) continue; // resent or never asked for
      events.push({
        type: event.type === mvccpb.Event_EventType.DELETE ? 'delete' : 'put',
        kv: this.keySpace.stripKeyValue(KeyValue.fromWire(event.kv)),
        prevKv: event.prevKv === undefined ? undefined : this.keySpace.stripKeyValue(KeyValue.fromWire(event.prevKv)),
      });
    }
    const last = events.at(-1);
    if (last === undefined) return;
    this.lastEventRevision = last.kv.modRevision;
    this.nextRevision = last.kv.modRevision + 1n;
    this.push({ header: toHeader(header), events, progress: false });
  }

  deliverProgress(header: etcdserverpb.ResponseHeader | undefined, provesRevision: boolean): void {
    const revision = header?.revision ?? 0n;
    if (provesRevision && revision + 1n > this.nextRevision) this.nextRevision = revision + 1n;
    // A progress notification is worth nothing to a consumer that is behind: never grow a full buffer with one.
    if (this.handle.bufferedBatches >= this.handle.bufferBatchesMax - 1) return;
    this.push({ header: toHeader(header), events: [], progress: true });
  }

  private push(batch: WatchBatch): void {
    this.handle.push(batch);
    if (this.handle.bufferedBatches >= this.handle.bufferBatchesMax) this.slot.suspend(this);
  }

  fail(error: unknown): void {
    this.state = 'closed';
    this.handle.fail(error);
  }

  // WatchControl: called by the Watch handle.

  requestProgress(): boolean {
    return this.slot.requestProgress();
  }

  consumed(bufferedBatches: number): void {
    if (this.state === 'suspended' && bufferedBatches <= this.handle.bufferBatchesMax / 2) this.slot.enqueueCreate(this);
  }

  cancel(): void {
    this.slot.remove(this);
  }
}

/** One slot: up to watchesPerStreamMax watchers on a succession of gRPC streams. */
class WatchStream {
  readonly watchers = new Set<Watcher>();
  private readonly byServerId = new Map<bigint, Watcher>();
  private readonly createQueue: Watcher[] = [];
  private creating: Watcher | undefined;
  private call: WatchCall | undefined;
  private endpoint: string | undefined;
  private connecting = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  /** Aborted by shutDown(): a stream still being opened for this slot is then never created. */
  private readonly closeController = new AbortController();

  private get closed(): boolean {
    return this.closeController.signal.aborted;
  }

  constructor(
    private readonly manager: WatchManager,
    private readonly pool: ConnectionPool,
  ) {
    this.backoff = new Backoff(pool.options.retryBackoffInitialMs, pool.options.retryBackoffMaxMs);
  }

  add(watcher: Watcher): void {
    this.watchers.add(watcher);
    this.enqueueCreate(watcher);
  }

  enqueueCreate(watcher: Watcher): void {
    if (watcher.state === 'closed') return;
    watcher.state = 'queued';
    this.createQueue.push(watcher);
    this.pump();
  }

  /** Sends the next create request, if the stream is open and none is in flight. */
  private pump(): void {
    if (this.closed) return;
    if (this.call === undefined) {
      this.connect();
      return;
    }
    while (this.creating === undefined) {
      const watcher = this.createQueue.shift();
      if (watcher === undefined) return;
      if (watcher.state !== 'queued') continue;
      watcher.state = 'creating';
      this.creating = watcher;
      this.call.write(watcher.createRequest());
    }
  }

  requestProgress(): boolean {
    if (this.call === undefined) return false;
    this.call.write({ progressRequest: {} });
    return true;
  }

  /** Parks a watcher whose consumer's buffer is full (see the file comment). */
  suspend(watcher: Watcher): void {
    if (watcher.state !== 'active') return; // a creating watcher is suspended when its next batch arrives
    this.detach(watcher);
    watcher.state = 'suspended';
  }

  remove(watcher: Watcher): void {
    if (watcher.state === 'creating') {
      // Its created response is still to come: pump() cancels it then.
      watcher.state = 'closed';
    } else {
      this.detach(watcher);
      watcher.state = 'closed';
    }
    this.watchers.delete(watcher);
    const queued = this.createQueue.indexOf(watcher);
    if (queued >= 0) this.createQueue.splice(queued, 1);
    if (this.watchers.size === 0) this.shutDown();
  }

  /** Forgets a watcher's server-side id and cancels it on the server. */
  private detach(watcher: Watcher): void {
    const id = watcher.serverWatchId;
    watcher.serverWatchId = undefined;
    watcher.fragments = [];
    if (id === undefined) return;
    this.byServerId.delete(id);
    this.call?.write({ cancelRequest: { watchId: id } });
  }

  private connect(): void {
    if (this.connecting || this.reconnectTimer !== undefined || this.closed) return;
    this.connecting = true;
    this.pool.openBidi(etcdserverpb.WatchService.watch, this.closeController.signal).then(
      (open) => {
        this.connecting = false;
        if (this.closed) {
          cancelCall(open.stream);
          return;
        }
        this.attachCall(open.stream, open.endpoint);
        this.pump();
      },
      (error: unknown) => {
        this.connecting = false;
        if (this.closed) return; // given up on by shutDown(): nothing to reconnect
        this.onBroken(undefined, toEtcdError(error));
      },
    );
  }

  private attachCall(call: WatchCall, endpoint: string): void {
    this.call = call;
    this.endpoint = endpoint;
    call.on('data', (response: etcdserverpb.WatchResponse) => {
      if (this.call !== call) return;
      this.backoff.reset();
      try {
        this.onResponse(response);
      } catch (error) {
        // A response the client cannot handle: start over on a new stream.
        this.onBroken(call, toEtcdError(error, endpoint));
      }
    });
    call.on('error', (error: unknown) => this.onBroken(call, toEtcdError(error, endpoint)));
    call.on('end', () => this.onBroken(call, new EtcdError('watch stream ended by the server', { code: GrpcStatus.UNAVAILABLE, endpoint })));
  }

  private onResponse(response: etcdserverpb.WatchResponse): void {
    if (response.created) {
      this.onCreatedResponse(response);
      return;
    }
    if (response.watchId === streamWideWatchId) {
      if (response.events.length === 0 && !response.canceled) {
        for (const watcher of this.byServerId.values()) watcher.deliverProgress(response.header, false);
      }
      return;
    }
    const watcher = this.byServerId.get(response.watchId);
    if (watcher === undefined) return; // cancelled by us, or a late answer to a detached incarnation
    if (response.canceled) {
      this.byServerId.delete(response.watchId);
      watcher.serverWatchId = undefined;
      this.watchers.delete(watcher);
      watcher.fail(watchCancelError(response.cancelReason, response.compactRevision, this.endpoint));
      if (this.watchers.size === 0) this.shutDown();
      return;
    }
    if (response.fragment) {
      watcher.fragments.push(...response.events);
      if (watcher.fragments.length > this.pool.options.watchFragmentEventsMax) {
        this.remove(watcher);
        watcher.fail(new EtcdError(`watch response fragments exceed watchFragmentEventsMax (${this.pool.options.watchFragmentEventsMax} events)`, { code: GrpcStatus.RESOURCE_EXHAUSTED }));
      }
      return;
    }
    const events = watcher.fragments.length === 0 ? response.events : [...watcher.fragments, ...response.events];
    watcher.fragments = [];
    if (events.length === 0) watcher.deliverProgress(response.header, true);
    else watcher.deliverEvents(response.header, events);
  }

  private onCreatedResponse(response: etcdserverpb.WatchResponse): void {
    const watcher = this.creating;
    this.creating = undefined;
    if (watcher === undefined || watcher.state !== 'creating') {
      // Closed while its create was in flight (or not ours): cancel what the server made.
      if (!response.canceled && response.watchId !== streamWideWatchId) this.call?.write({ cancelRequest: { watchId: response.watchId } });
      this.pump();
      return;
    }
    if (response.canceled) {
      // The server refused to create it (compacted start, permission denied, ...).
      this.watchers.delete(watcher);
      watcher.fail(watchCancelError(response.cancelReason, response.compactRevision, this.endpoint));
      if (this.watchers.size === 0) this.shutDown();
      else this.pump();
      return;
    }
    watcher.state = 'active';
    watcher.serverWatchId = response.watchId;
    this.byServerId.set(response.watchId, watcher);
    watcher.onCreated(response.header);
    if (watcher.handle.bufferedBatches >= watcher.handle.bufferBatchesMax) this.suspend(watcher);
    this.pump();
  }

  /** The gRPC stream failed or ended: re-create every live watcher on a new one, or fail them all. */
  private onBroken(call: WatchCall | undefined, error: EtcdError): void {
    if (call !== undefined) {
      if (this.call !== call) return;
      this.call = undefined;
      call.removeAllListeners('data');
      cancelCall(call);
    }
    this.creating = undefined;
    this.byServerId.clear();
    if (this.closed) return;
    if (!this.isRetryable(error)) {
      for (const watcher of [...this.watchers]) {
        this.watchers.delete(watcher);
        watcher.fail(error);
      }
      this.shutDown();
      return;
    }
    this.createQueue.length = 0;
    for (const watcher of this.watchers) {
      watcher.serverWatchId = undefined;
      watcher.fragments = [];
      if (watcher.state === 'queued' || watcher.state === 'creating' || watcher.state === 'active') {
        watcher.state = 'queued';
        this.createQueue.push(watcher);
      }
    }
    this.scheduleReconnect();
  }

  private isRetryable(error: EtcdError): boolean {
    if (error instanceof InvalidAuthTokenError && this.pool.canAuthenticate) {
      this.pool.invalidateToken();
      return true;
    }
    return !isFinalForStream(error);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.pump();
    }, this.backoff.nextDelayMs());
  }

  /** No watcher left (or the client closes): end the gRPC stream and stop reconnecting. */
  shutDown(): void {
    if (this.closed) return;
    this.closeController.abort();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.call !== undefined) abandonStream(this.call);
    this.call = undefined;
    this.manager.removeSlot(this);
  }

  /** The client is closing: end every watch quietly. */
  closeAll(): void {
    for (const watcher of [...this.watchers]) {
      watcher.state = 'closed';
      watcher.handle.end();
    }
    this.watchers.clear();
    this.shutDown();
  }
}

export class WatchManager {
  private readonly slots: WatchStream[] = [];

  constructor(private readonly pool: ConnectionPool) {}

  /** Number of open slots (gRPC Watch streams, connected or reconnecting). */
  get streamCount(): number {
    return this.slots.length;
  }

  watch(keySpace: KeySpace, key: Bytes, options: WatchOptions = {}): Watch {
    this.pool.throwIfClosed();
    const { key: serverKey, rangeEnd } = serverRange(keySpace, toBuffer(key), options);
    const handle = new Watch(this.pool.options.watchBufferBatchesMax, options.signal);
    if (handle.done) return handle;
    const slot = this.slotWithRoom();
    const watcher = new Watcher(slot, handle, keySpace, serverKey, rangeEnd, options);
    handle.attach(watcher);
    slot.add(watcher);
    return handle;
  }

  private slotWithRoom(): WatchStream {
    const { watchesPerStreamMax, watchStreamsMax } = this.pool.options;
    const slot = this.slots.find((candidate) => candidate.watchers.size < watchesPerStreamMax);
    if (slot !== undefined) return slot;
    if (this.slots.length >= watchStreamsMax) throw new TooManyWatchesError(watchStreamsMax * watchesPerStreamMax);
    const created = new WatchStream(this, this.pool);
    this.slots.push(created);
    return created;
  }

  removeSlot(slot: WatchStream): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }

  close(): void {
    for (const slot of [...this.slots]) slot.closeAll();
  }
}
