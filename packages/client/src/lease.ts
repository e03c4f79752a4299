/**
 * Leases: grant, revoke, time-to-live, listing, and keepalives on one shared
 * LeaseKeepAlive stream per client.
 *
 * Proof of life. A keepalive the server answered with TTL t proves the lease
 * alive until (time the request was SENT) + t: the server renewed it at some
 * moment after the send, so that is the earliest the lease can expire. The
 * manager keeps, per lease, the send times of the keepalives in flight (the
 * server answers them in order) and a deadline timer at the latest proven
 * expiry. When the timer fires, or the server answers TTL <= 0, the lease is
 * lost: 'lost' is emitted, `done` rejects, and keepalives stop. A lease never
 * comes back from lost, even if a later answer would have said it lives.
 *
 * Keepalives go out every TTL/3 (as clientv3 does), also while earlier ones
 * are unanswered, bounded by keepAlivesInFlightMax per lease. When the
 * stream breaks the manager re-opens it with backoff (on any ready
 * endpoint) and sends a keepalive for every lease at once; the deadline
 * timers keep running meanwhile, so a lease is declared lost no later than
 * TTL after its last confirmed keepalive, whatever the network does.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { checkCount, toHeader, type ResponseHeader } from './bytes.js';
import { Backoff } from './backoff.js';
import { abandonStream, cancelCall, type ConnectionPool, type RequestOptions } from './connection-pool.js';
import { EtcdError, GrpcStatus, InvalidAuthTokenError, LeaseLostError, LeaseNotFoundError, isFinalForStream, toEtcdError } from './errors.js';
import type { KeySpace } from './key-space.js';
import { maxTimerDelayMs } from './long-timeout.js';

type KeepAliveCall = ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>;

/** Keepalives of one lease that may be unanswered at once; past it the manager waits for answers. */
export const keepAlivesInFlightMax = 8;

const millisecondsPerSecond = 1_000;

export interface LeaseGrantOptions extends RequestOptions {
  /** The lease id to use (absent or 0n: the server picks one). */
  readonly id?: bigint;
}

export interface LeaseTimeToLive {
  readonly header: ResponseHeader;
  readonly id: bigint;
  /** Seconds left; -1 when the lease does not exist (expired, revoked or never granted). */
  readonly ttlSeconds: number;
  readonly grantedTtlSeconds: number;
  /** Keys attached to the lease (when asked for), inside the caller's namespace. */
  readonly keys: Buffer[];
}

interface KeepAliveEvents {
  /** The server confirmed a keepalive; the lease has this many seconds left. */
  renewed: [ttlSeconds: number];
  /** The lease can no longer be proven alive. */
  lost: [error: LeaseLostError];
}

/**
 * Keepalives of one lease. Listen to 'lost', or await `done`, which
 * resolves after close() and rejects with LeaseLostError when the lease is
 * lost.
 */
export class LeaseKeepAlive extends EventEmitter<KeepAliveEvents> {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (error: LeaseLostError) => void;
  private lostError: LeaseLostError | undefined;
  private stopped = false;

  constructor(
    readonly leaseId: bigint,
    private readonly stop: (keepAlive: LeaseKeepAlive) => void,
  ) {
    super();
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // 'lost' listeners are the other way to learn about it: never an unhandled rejection.
    this.done.catch(() => {});
  }

  /** Why the lease was lost, once it was. */
  get lost(): LeaseLostError | undefined {
    return this.lostError;
  }

  get active(): boolean {
    return !this.stopped;
  }

  /** Stops sending keepalives (the lease then expires on its own unless revoked). */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stop(this);
    this.resolveDone();
  }

  markRenewed(ttlSeconds: number): void {
    if (!this.stopped) this.emit('renewed', ttlSeconds);
  }

  markLost(error: LeaseLostError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.lostError = error;
    this.rejectDone(error);
    this.emit('lost', error);
  }
}

/** A granted lease. close() stops its keepalive and revokes it. */
export class Lease {
  private keeper: LeaseKeepAlive | undefined;

  constructor(
    private readonly api: LeaseApi,
    private readonly manager: LeaseManager,
    readonly id: bigint,
    readonly grantedTtlSeconds: number,
    /** performance.now() when the grant was sent: the lease lives at least until then + TTL. */
    private readonly grantSentAtMs: number,
  ) {}

  /** Keeps the lease alive until close() (see LeaseKeepAlive). Returns the running keepalive if there is one. */
  keepAlive(): LeaseKeepAlive {
    if (this.keeper?.active === true) return this.keeper;
    const firstDeadlineMs = this.keeper === undefined ? this.grantSentAtMs + this.grantedTtlSeconds * millisecondsPerSecond : undefined;
    this.keeper = this.manager.start(this.id, this.grantedTtlSeconds, firstDeadlineMs);
    return this.keeper;
  }

  timeToLive(options: RequestOptions & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    return this.api.timeToLive(this.id, options);
  }

  revoke(options: RequestOptions = {}): Promise<ResponseHeader> {
    this.keeper?.close();
    return this.api.revoke(this.id, options);
  }

  /** Stops the keepalive and revokes the lease; a lease already gone is fine. */
  async close(options: RequestOptions = {}): Promise<void> {
    this.keeper?.close();
    try {
      await this.api.revoke(this.id, options);
    } catch (error) {
      if (!(error instanceof LeaseNotFoundError)) throw error;
    }
  }
}

/** The lease API of a client or namespace. */
export class LeaseApi {
  constructor(
    private readonly pool: ConnectionPool,
    private readonly manager: LeaseManager,
    private readonly keySpace: KeySpace,
  ) {}

  /** Grants a lease of `ttlSeconds` (etcd raises it to its minimum, about 2 s). */
  async grant(ttlSeconds: number, options: LeaseGrantOptions = {}): Promise<Lease> {
    const sentAtMs = performance.now();
    const response = await this.pool.unary(
      etcdserverpb.LeaseService.leaseGrant,
      etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: checkCount('ttlSeconds', ttlSeconds), ID: options.id ?? 0n }),
      options,
    );
    if (response.error !== '') throw toEtcdError({ code: GrpcStatus.UNKNOWN, details: response.error });
    return new Lease(this, this.manager, response.ID, Number(response.TTL), sentAtMs);
  }

  async revoke(id: bigint, options: RequestOptions = {}): Promise<ResponseHeader> {
    const response = await this.pool.unary(etcdserverpb.LeaseService.leaseRevoke, { ID: id }, options);
    return toHeader(response.header);
  }

  async timeToLive(id: bigint, options: RequestOptions & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    const response = await this.pool.unary(etcdserverpb.LeaseService.leaseTimeToLive, { ID: id, keys: options.keys ?? false }, options);
    return {
      header: toHeader(response.header),
      id: response.ID,
      ttlSeconds: Number(response.TTL),
      grantedTtlSeconds: Number(response.grantedTTL),
      // Like clientv3/namespace: keys outside the namespace are left out.
      keys: response.keys.filter((key) => this.keySpace.contains(key)).map((key) => this.keySpace.strip(key)),
    };
  }

  /** Ids of every lease the server holds. */
  async leases(options: RequestOptions = {}): Promise<bigint[]> {
    const response = await this.pool.unary(etcdserverpb.LeaseService.leaseLeases, {}, options);
    return response.leases.map((lease) => lease.ID);
  }

  /**
   * Keeps alive a lease this client did not grant. Until the first
   * keepalive is answered (within callTimeoutMs) its life is unproven.
   */
  keepAlive(id: bigint): LeaseKeepAlive {
    this.pool.throwIfClosed();
    return this.manager.start(id, undefined, undefined);
  }
}

interface KeptLease {
  readonly handle: LeaseKeepAlive;
  /** TTL from the last answer (or the grant); undefined until known. */
  ttlSeconds: number | undefined;
  /** performance.now() of each unanswered keepalive on the current stream, oldest first. */
  readonly inFlightSentAtMs: number[];
  sendTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

/** Interval between keepalives when the TTL is not known yet. */
const unknownTtlKeepAliveIntervalMs = 500;

export class LeaseManager {
  private readonly kept = new Map<bigint, KeptLease>();
  private call: KeepAliveCall | undefined;
  private connecting = false;
  /** Aborted when the last kept lease goes: a stream still being opened is then never created. */
  private connectController: AbortController | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(private readonly pool: ConnectionPool) {
    this.backoff = new Backoff(pool.options.retryBackoffInitialMs, pool.options.retryBackoffMaxMs);
  }

  /** Number of leases being kept alive. */
  get keptCount(): number {
    return this.kept.size;
  }

  start(leaseId: bigint, ttlSeconds: number | undefined, firstDeadlineMs: number | undefined): LeaseKeepAlive {
    this.pool.throwIfClosed();
    const existing = this.kept.get(leaseId);
    if (existing !== undefined) return existing.handle;
    const handle = new LeaseKeepAlive(leaseId, (stopped) => this.stop(stopped));
    const lease: KeptLease = { handle, ttlSeconds, inFlightSentAtMs: [], sendTimer: undefined, deadlineTimer: undefined };
    this.kept.set(leaseId, lease);
    if (firstDeadlineMs === undefined) {
      this.armDeadline(lease, performance.now() + this.pool.options.callTimeoutMs, 'unconfirmed', 'no keepalive was answered');
    } else {
      this.armDeadline(lease, firstDeadlineMs, 'expired', `no keepalive confirmed within the granted TTL of ${ttlSeconds ?? '?'} s`);
    }
    this.send(lease);
    return handle;
  }

  private stop(handle: LeaseKeepAlive): void {
    const lease = this.kept.get(handle.leaseId);
    if (lease === undefined || lease.handle !== handle) return;
    this.forget(lease);
  }

  private forget(lease: KeptLease): void {
    clearTimeout(lease.sendTimer);
    clearTimeout(lease.deadlineTimer);
    this.kept.delete(lease.handle.leaseId);
    if (this.kept.size === 0) this.shutDownStream();
  }

  private lose(lease: KeptLease, error: LeaseLostError): void {
    this.forget(lease);
    lease.handle.markLost(error);
  }

  private armDeadline(lease: KeptLease, deadlineMs: number, reason: 'expired' | 'unconfirmed', detail: string): void {
    clearTimeout(lease.deadlineTimer);
    const remainingMs = Math.max(0, deadlineMs - performance.now());
    // A lease with a TTL over 24.8 days: no Node timer waits that long, so wait in steps.
    lease.deadlineTimer =
      remainingMs > maxTimerDelayMs
        ? setTimeout(() => this.armDeadline(lease, deadlineMs, reason, detail), maxTimerDelayMs)
        : setTimeout(() => this.lose(lease, new LeaseLostError(lease.handle.leaseId, reason, detail)), remainingMs);
  }

  /** Sends one keepalive now (if the stream is open) and schedules the next. */
  private send(lease: KeptLease): void {
    clearTimeout(lease.sendTimer);
    lease.sendTimer = undefined;
    if (!this.kept.has(lease.handle.leaseId)) return;
    if (this.call === undefined) {
      this.connect(); // every kept lease is sent for once the stream opens
      return;
    }
    if (lease.inFlightSentAtMs.length < keepAlivesInFlightMax) {
      lease.inFlightSentAtMs.push(performance.now());
      this.call.write({ ID: lease.handle.leaseId });
    }
    this.scheduleSend(lease);
  }

  private scheduleSend(lease: KeptLease): void {
    clearTimeout(lease.sendTimer);
    const intervalMs = lease.ttlSeconds === undefined ? unknownTtlKeepAliveIntervalMs : (lease.ttlSeconds * millisecondsPerSecond) / 3;
    // Sooner than TTL/3 for TTLs over 74 days, where TTL/3 is beyond a Node timer's reach.
    lease.sendTimer = setTimeout(() => this.send(lease), Math.min(intervalMs, maxTimerDelayMs));
  }

  private onResponse(response: etcdserverpb.LeaseKeepAliveResponse): void {
    const lease = this.kept.get(response.ID);
    if (lease === undefined) return;
    const sentAtMs = lease.inFlightSentAtMs.shift();
    if (sentAtMs === undefined) return; // not an answer to anything sent on this stream
    if (response.TTL <= 0n) {
      this.lose(lease, new LeaseLostError(response.ID, 'not-found', 'the server answered TTL 0: the lease expired or was revoked'));
      return;
    }
    const ttlSeconds = Number(response.TTL);
    lease.ttlSeconds = ttlSeconds;
    this.armDeadline(lease, sentAtMs + ttlSeconds * millisecondsPerSecond, 'expired', `no keepalive confirmed within its TTL of ${ttlSeconds} s`);
    this.scheduleSend(lease);
    lease.handle.markRenewed(ttlSeconds);
  }

  private connect(): void {
    if (this.call !== undefined || this.connecting || this.reconnectTimer !== undefined || this.pool.closed) return;
    this.connecting = true;
    const connectController = new AbortController();
    this.connectController = connectController;
    this.pool.openBidi(etcdserverpb.LeaseService.leaseKeepAlive, connectController.signal).then(
      (open) => {
        if (this.connectController !== connectController) {
          cancelCall(open.stream); // given up on by shutDownStream(); a later connect() has its own
          return;
        }
        this.connecting = false;
        this.connectController = undefined;
        if (this.kept.size === 0 || this.pool.closed) {
          cancelCall(open.stream);
          return;
        }
        this.attach(open.stream, open.endpoint);
        for (const lease of this.kept.values()) this.send(lease);
      },
      (error: unknown) => {
        if (this.connectController !== connectController) return;
        this.connecting = false;
        this.connectController = undefined;
        this.onBroken(undefined, toEtcdError(error));
      },
    );
  }

  private attach(call: KeepAliveCall, endpoint: string): void {
    this.call = call;
    call.on('data', (response: etcdserverpb.LeaseKeepAliveResponse) => {
      if (this.call !== call) return;
      this.backoff.reset();
      this.onResponse(response);
    });
    call.on('error', (error: unknown) => this.onBroken(call, toEtcdError(error, endpoint)));
    call.on('end', () => this.onBroken(call, new EtcdError('lease keepalive stream ended by the server', { code: GrpcStatus.UNAVAILABLE, endpoint })));
  }

  private onBroken(call: KeepAliveCall | undefined, error: EtcdError): void {
    if (call !== undefined) {
      if (this.call !== call) return;
      this.call = undefined;
      call.removeAllListeners('data');
      cancelCall(call);
    }
    for (const lease of this.kept.values()) {
      lease.inFlightSentAtMs.length = 0;
      clearTimeout(lease.sendTimer);
      lease.sendTimer = undefined;
    }
    if (this.pool.closed || this.kept.size === 0) return;
    if (error instanceof InvalidAuthTokenError && this.pool.canAuthenticate) {
      this.pool.invalidateToken(); // the next stream logs in again
    } else if (isFinalForStream(error)) {
      for (const lease of [...this.kept.values()]) {
        this.lose(lease, new LeaseLostError(lease.handle.leaseId, 'failed', `keepalive stream failed: ${error.message}`, { cause: error }));
      }
      return;
    }
    // The deadline timers keep running: a lease that cannot be renewed in time is lost on schedule.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, this.backoff.nextDelayMs());
  }

  private shutDownStream(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connectController?.abort();
    this.connectController = undefined;
    this.connecting = false;
    if (this.call !== undefined) abandonStream(this.call);
    this.call = undefined;
  }

  /** The client is closing: stop every keepalive (the leases then expire on the server). */
  close(): void {
    for (const lease of [...this.kept.values()]) {
      this.forget(lease);
      lease.handle.close();
    }
    this.shutDownStream();
  }
}
