/**
 * The Holdfast server: opens the data directory, recovers, and serves the
 * etcd v3 API.
 *
 * Data path of a write (docs/ARCHITECTURE.md draws it):
 *   gRPC handler -> validate -> quota -> propose (InternalRaftRequest bytes)
 *   -> log: WAL append + fsync, many proposals per fsync -> committed
 *   -> Applier: MVCC + leases + consistent index in one backend transaction
 *   -> watch hub (synced watchers hear the changes) -> reply.
 * Reads are served from the MVCC store after the log says they may be
 * (linearizable) or at once (serializable).
 *
 * On disk (etcd's layout, our formats):
 *   <data-dir>/member/wal/   WAL segments (or --wal-dir)
 *   <data-dir>/member/db/    the lmdb backend
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { Server, ServerCredentials, type ConnectionInjector, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ClientListener, OpeningBytesBudget } from './http/client-listener.js';
import { createHttpApp } from './http/gateway.js';
import { trackHttpConnections, type HttpConnections } from './http/http-connections.js';
import { Http2SessionGuard } from './http/http2-sessions.js';
import { pino, type Logger } from 'pino';
import { etcdserverpb, healthpb, strict } from '@holdfast/proto';
import { Backend, Wal, WalCorruptError, verifyBackendReadable } from '@holdfast/storage';
import { MvccStore } from '@holdfast/mvcc';
import { validateConfig, effectiveQuotaBytes, grpcOverheadBytes, minLeaseTtlSeconds, parseAutoCompactionRetention, parseUrl, type ServerConfig } from './config.js';
import { Compactor } from './compactor.js';
import { RequestIdGenerator } from './ids.js';
import { Membership } from './membership.js';
import { Applier, readAppliedTerm, readConsistentIndex, type ApplyResult } from './apply/applier.js';
import { AlarmStore } from './apply/alarms.js';
import { Lessor, expiryCheckIntervalMs, leaseRevokeRatePerSecond } from './lease/lessor.js';
import { LivenessStamp, readCertainDowntimeMs } from './lease/liveness-stamp.js';
import { WatchHub } from './watch/watch-hub.js';
import type { WatchStreamContext } from './watch/watch-stream.js';
import { SoloLog } from './log/solo-log.js';
import type { LogEntry, ReplicatedLog } from './log/replicated-log.js';
import { NoSpaceError, RequestTooLargeError, StoppedError, TimeoutError, toEtcdError, toServiceError } from './errors.js';
import { createKvService, kvServiceDefinition } from './services/kv.js';
import { createMaintenanceService } from './services/maintenance.js';
import { createClusterService } from './services/cluster.js';
import { createHealthService } from './services/health.js';
import { createLeaseService } from './services/lease.js';
import { createWatchService, watchServiceDefinition } from './services/watch.js';
import { ServerMetrics, metricsSourceOf } from './metrics.js';
import { guardGrpcDeadlines } from './grpc-deadline.js';
import { installEtcdMessageReads } from './grpc-js-reads.js';
import { installZeroCopyFraming } from './grpc-js-frames.js';
import { grpcJsHttp2Servers } from './grpc-js-servers.js';
import { guardGrpcEncodings } from './grpc-encoding.js';

type InternalRaftRequest = etcdserverpb.InternalRaftRequest;

/** How long a proposal may wait for its apply before the client gets "request timed out". */
export const requestTimeoutMs = 7_000;

/**
 * How often proposals are checked against their deadline. One sweep timer
 * instead of a timer per proposal: at thousands of proposals a second the
 * timers cost more than the check. A timeout fires at most this late.
 */
export const proposalTimeoutSweepIntervalMs = 100;

/** A request with every field at its default, which proposals are built on. */
const emptyInternalRaftRequest: InternalRaftRequest = Object.freeze(etcdserverpb.InternalRaftRequest.fromPartial({}));

/** How long stop() lets streams flush their last responses before cutting them. */
export const streamShutdownGraceMs = 1_000;

/** Bytes of a put beyond key and value, for the quota estimate (etcd's kvOverhead). */
const quotaOverheadBytes = 256;

export interface ServerOptions {
  readonly logger?: Logger;
}

/** A proposal waiting for its entry to be applied. */
interface PendingProposal {
  readonly request: InternalRaftRequest;
  /** performance.now() past which the client is told "request timed out". */
  readonly deadlineMs: number;
  readonly settle: (result: ApplyResult) => void;
}

export class HoldfastServer {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly membership: Membership;
  readonly store: MvccStore;
  readonly alarms: AlarmStore;
  readonly backend: Backend;
  /** Client URLs actually listened on (ports resolved when 0 was asked). */
  readonly clientUrls: string[] = [];
  readonly lessor: Lessor;
  readonly watchHub: WatchHub;
  readonly metrics: ServerMetrics;
  private readonly applier: Applier;
  private readonly wal: Wal;
  private log!: ReplicatedLog & { markSnapshot(index: number, term: number): Promise<void>; quiesce<T>(fn: () => Promise<T>): Promise<T> };
  private readonly grpcServer: Server;
  private readonly requestIds: RequestIdGenerator;
  private readonly applyWaiters: Array<{ index: number; resolve: () => void }> = [];
  /** Backend file size, refreshed once per applied batch (not per request). */
  private backendSizeBytes = 0;
  /**
   * Proposals not yet applied; answered at once if the server fails. In
   * proposal order, which is deadline order (every proposal gets the same
   * timeout), so the sweep only looks at the front.
   */
  private readonly inFlight = new Set<PendingProposal>();
  private proposalTimeoutSweep: NodeJS.Timeout | undefined;
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private stopping: Promise<void> | undefined;
  private fatalError: unknown;
  private readonly fatalListeners: Array<(error: unknown) => void> = [];
  private compactor: Compactor | undefined;
  private readonly listeners: ClientListener[] = [];
  private grpcInjector: ConnectionInjector | undefined;
  private http2Sessions: Http2SessionGuard | undefined;
  private httpConnections: HttpConnections | undefined;
  private livenessStamp: LivenessStamp | undefined;
  /** Long-lived streams (watch, keepalive), ended with "server stopped" on stop(). */
  private readonly openStreams = new Set<{ emit(event: 'error', error: Partial<ServiceError>): boolean }>();
  private leaseExpiryTimer: NodeJS.Timeout | undefined;

  private constructor(config: ServerConfig, logger: Logger, backend: Backend, wal: Wal, store: MvccStore, membership: Membership, snapshotIndex: number) {
    this.config = config;
    this.logger = logger;
    this.backend = backend;
    this.wal = wal;
    this.store = store;
    this.membership = membership;
    this.alarms = new AlarmStore(backend);
    this.lessor = new Lessor({ backend, minTtlSeconds: minLeaseTtlSeconds(config) });
    this.lessor.restore(store.takeRestoredLeaseAttachments(), (message) => logger.warn(message));
    this.watchHub = new WatchHub(store);
    this.metrics = new ServerMetrics(metricsSourceOf(this));
    this.metrics.timeCommits(backend);
    this.applier = new Applier({ backend, store, alarms: this.alarms, lessor: this.lessor, onApplied: this.metrics.observeApplied });
    this.requestIds = new RequestIdGenerator(membership.localId, Date.now());
    this.lastSnapshotIndex = snapshotIndex;
    this.backendSizeBytes = backend.sizeBytes();
    // Applied state reaches lmdb in background commits; if one fails (a full
    // disk), the WAL still holds everything, but this process must stop.
    backend.onCommitError((error) => this.fail(error));
    this.grpcServer = new Server({
      'grpc.max_receive_message_length': config.maxRequestBytes + grpcOverheadBytes,
      'grpc.max_send_message_length': 2 ** 31 - 1,
      // etcd's server-side keepalive enforcement minimum.
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      // channelz bookkeeping runs on every call and nothing here reads it.
      'grpc.enable_channelz': 0,
      interceptors: [this.metrics.grpcInterceptor],
    });
  }

  /** Opens the data directory, recovers, and starts serving. */
  static async start(configInput: ServerConfig, options: ServerOptions = {}): Promise<HoldfastServer> {
    const config = validateConfig(configInput);
    const logger = options.logger ?? pino({ level: config.logLevel === 'panic' ? 'fatal' : config.logLevel, base: { name: config.name } });
    const memberDir = join(config.dataDir, 'member');
    mkdirSync(memberDir, { recursive: true });
    const backendDirectory = join(memberDir, 'db');
    // A defragment a crash interrupted is finished or undone first, so the
    // file verified is the file served.
    Backend.recoverInterruptedDefragment(backendDirectory);
    await verifyBackendReadable(backendDirectory);
    const backend = Backend.open({ directory: backendDirectory });
    let server: HoldfastServer | undefined;
    try {
      const membership = Membership.loadOrBootstrap(backend, config);
      const consistentIndex = readConsistentIndex(backend);
      const walLogger = { warn: (message: string, details?: Record<string, unknown>) => logger.warn(details ?? {}, message) };
      let wal: Wal;
      let replay: LogEntry[] = [];
      let lastIndex = consistentIndex;
      let term = readAppliedTerm(backend);
      let snapshotIndex = 0;
      if (await Wal.exists(config.walDir)) {
        const opened = await Wal.open(config.walDir, { snapshotIndex: consistentIndex, logger: walLogger });
        wal = opened.wal;
        snapshotIndex = opened.snapshotMarker.index;
        const first = opened.entries[0];
        if (first !== undefined && first.index > consistentIndex + 1) {
          throw new WalCorruptError(`wal: entries ${consistentIndex + 1}..${first.index - 1} are missing in ${config.walDir} (the backend is at index ${consistentIndex})`, config.walDir, 0);
        }
        if (snapshotIndex > consistentIndex) {
          throw new WalCorruptError(`wal: snapshot at index ${snapshotIndex} in ${config.walDir} is ahead of the backend (index ${consistentIndex}): the backend lost data`, config.walDir, 0);
        }
        replay = opened.entries.map((entry) => ({ index: entry.index, term: entry.term, data: entry.data }));
        lastIndex = Math.max(lastIndex, opened.hardState.commit, replay[replay.length - 1]?.index ?? 0, snapshotIndex);
        term = Math.max(term, opened.hardState.term);
      } else {
        const metadata = Buffer.alloc(16);
        metadata.writeBigUInt64BE(membership.localId, 0);
        metadata.writeBigUInt64BE(membership.clusterId, 8);
        wal = await Wal.create(config.walDir, { metadata, logger: walLogger });
      }
      const store = MvccStore.open(backend, { warn: (message) => logger.warn(message) });
      server = new HoldfastServer(config, logger, backend, wal, store, membership, snapshotIndex);
      if (replay.length > 0) {
        const started = performance.now();
        server.applyCommitted(replay);
        logger.info({ entries: replay.length, ms: Math.round(performance.now() - started) }, 'replayed WAL entries after the backend index');
      }
      membership.publishLocal(backend, config.name, config.advertiseClientUrls);
      // Winning the "election" of a group of one: the new term is durable
      // before anything is served in it, so terms never repeat across runs.
      // Like etcd, a new member boots in term 1 and leads from term 2.
      const servingTerm = Math.max(term, 1) + 1;
      await wal.appendAndSync({ hardState: { term: servingTerm, vote: 1, commit: lastIndex } });
      server.log = new SoloLog({
        wal,
        lastIndex,
        term: servingTerm,
        memberId: membership.localId,
        apply: (entries) => server!.applyCommitted(entries),
        onFatal: (error) => server!.fail(error),
        onFsync: server.metrics.observeWalFsync,
      });
      await server.promoteLessor();
      await server.listen();
      server.startCompactor();
      server.startLeaseExpiry();
      logger.info(
        { memberId: membership.localId.toString(16), clusterId: membership.clusterId.toString(16), revision: store.currentRevision, clientUrls: server.clientUrls },
        'serving client requests',
      );
      return server;
    } catch (error) {
      if (server !== undefined) await server.stop().catch(() => {});
      else await backend.close().catch(() => {});
      throw error;
    }
  }

  /** A new lease id: positive, as etcd chooses them. */
  newLeaseId(): bigint {
    for (;;) {
      const id = this.requestIds.generate() & ((1n << 63n) - 1n);
      if (id !== 0n) return id;
    }
  }

  get term(): number {
    return this.log.term;
  }

  get leaderId(): bigint {
    return this.log.leaderId;
  }

  get committedIndex(): number {
    return this.log.committedIndex;
  }

  get appliedIndex(): number {
    return this.applier.appliedIndex;
  }

  /** Proposals waiting to be applied. */
  get pendingProposalCount(): number {
    return this.inFlight.size;
  }

  /** False once a fatal error stopped the server from taking requests. */
  get healthy(): boolean {
    return this.fatalError === undefined && this.stopping === undefined;
  }

  /**
   * Defragments the backend with writes held back: proposals queue in the
   * log (bounded as always) and are applied once the new file is in place.
   * Reads, watches and /health are answered throughout (the copy yields to
   * the event loop every few milliseconds); etcd 3.4 blocks them instead.
   * A compaction still deleting in the background finishes first, so the
   * copy does not carry records it is about to delete.
   */
  async defragment(): Promise<void> {
    await this.store.compactionSettled().catch(() => {});
    await this.log.quiesce(async () => {
      const before = this.backend.sizeBytes();
      const started = performance.now();
      await this.backend.defragment();
      this.backendSizeBytes = this.backend.sizeBytes();
      this.logger.info({ beforeBytes: before, afterBytes: this.backend.sizeBytes(), ms: Math.round(performance.now() - started) }, 'defragmented backend');
    });
  }

  /** Registers a long-lived stream so stop() can end it; returns the unregister function. */
  trackStream(call: { emit(event: 'error', error: Partial<ServiceError>): boolean }): () => void {
    this.openStreams.add(call);
    return () => this.openStreams.delete(call);
  }

  /** Called if the server hits an unrecoverable error (a failed fsync, a backend write). */
  onFatal(listener: (error: unknown) => void): void {
    this.fatalListeners.push(listener);
  }

  /** A response header with this member's ids, the current term and revision. */
  header(revision?: bigint): etcdserverpb.ResponseHeader {
    return {
      clusterId: this.membership.clusterId,
      memberId: this.membership.localId,
      revision: revision === undefined || revision === 0n ? BigInt(this.store.currentRevision) : revision,
      raftTerm: BigInt(this.log.term),
    };
  }

  /** Fills in the outer header of a response built by the applier. */
  fillHeader<T extends { header?: etcdserverpb.ResponseHeader | undefined }>(response: T): T {
    response.header = this.header(response.header?.revision);
    return response;
  }

  /**
   * Puts a request through the log and resolves with its apply result
   * (rejects with the etcd error it produced).
   */
  async propose(request: Omit<Partial<InternalRaftRequest>, 'header' | 'ID'>): Promise<ApplyResult> {
    if (this.fatalError !== undefined || this.stopping !== undefined) throw new StoppedError();
    // Built directly rather than with fromPartial, which deep-copies the
    // (already complete) request message on every proposal.
    const internal: InternalRaftRequest = { ...emptyInternalRaftRequest, ...request, header: { ID: this.requestIds.generate(), username: '', authRevision: 0n } };
    const data = etcdserverpb.InternalRaftRequest.encode(internal).finish();
    if (data.length > this.config.maxRequestBytes) throw new RequestTooLargeError();
    return new Promise<ApplyResult>((resolve, reject) => {
      const pending: PendingProposal = {
        request: internal,
        deadlineMs: performance.now() + requestTimeoutMs,
        settle: (result) => {
          this.inFlight.delete(pending);
          if (result.error !== undefined) reject(result.error);
          else resolve(result);
        },
      };
      try {
        this.log.propose(data, pending);
      } catch (error) {
        this.metrics.proposalFailed();
        reject(error);
        return;
      }
      this.inFlight.add(pending);
      this.proposalTimeoutSweep ??= setInterval(() => this.expireProposals(), proposalTimeoutSweepIntervalMs).unref();
    });
  }

  /** Answers "request timed out" to proposals past their deadline. */
  private expireProposals(): void {
    const now = performance.now();
    for (const pending of this.inFlight) {
      if (pending.deadlineMs > now) break;
      this.metrics.proposalFailed();
      pending.settle({ error: new TimeoutError() });
    }
    if (this.inFlight.size === 0) {
      clearInterval(this.proposalTimeoutSweep);
      this.proposalTimeoutSweep = undefined;
    }
  }

  /** Resolves when a read now would be linearizable. */
  async linearizableRead(): Promise<void> {
    if (this.fatalError !== undefined) throw new StoppedError();
    const index = await this.log.readIndex();
    if (this.applier.appliedIndex >= index) return;
    await new Promise<void>((resolve) => this.applyWaiters.push({ index, resolve }));
  }

  /**
   * etcd's quota check for requests that grow the store: past the quota the
   * NOSPACE alarm is raised (through the log) and the request refused.
   */
  async checkQuota(costBytes: number): Promise<void> {
    if (costBytes === 0) return;
    if (this.backendSizeBytes + costBytes + quotaOverheadBytes < effectiveQuotaBytes(this.config)) return;
    if (!this.alarms.has(etcdserverpb.AlarmType.NOSPACE)) {
      this.logger.warn({ quotaBytes: effectiveQuotaBytes(this.config), sizeBytes: this.backendSizeBytes }, 'backend quota exceeded; raising NOSPACE alarm');
      await this.propose({
        alarm: { action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: this.membership.localId, alarm: etcdserverpb.AlarmType.NOSPACE },
      }).catch((error: unknown) => this.logger.error({ err: error }, 'could not raise NOSPACE alarm'));
    }
    throw new NoSpaceError();
  }

  /** Stops serving and closes storage. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.compactor?.stop();
    clearInterval(this.leaseExpiryTimer);
    await this.livenessStamp?.stop();
    // Stop accepting; the listeners finish closing once every connection is gone (below).
    const listenersClosed = this.listeners.map((listener) => listener.close().catch(() => {}));
    for (const listener of this.listeners) listener.destroyPending();
    // Streams never end by themselves: tell their clients, as etcd does.
    for (const stream of this.openStreams) stream.emit('error', toServiceError(new StoppedError()));
    this.openStreams.clear();
    // HTTP connections end once their responses (a gateway stream's last words included) are out.
    this.httpConnections?.closeIdle();
    this.grpcInjector?.drain(0);
    // A client that does not read keeps its stream from finishing: cut it after a grace period.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, streamShutdownGraceMs);
      const grpcDone = new Promise<void>((done) => this.grpcServer.tryShutdown(() => done()));
      void Promise.all([grpcDone, this.httpConnections?.closed()]).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.grpcServer.forceShutdown();
    this.httpConnections?.closeAll();
    this.grpcInjector?.destroy();
    this.http2Sessions?.stop();
    await Promise.all(listenersClosed);
    if (this.log !== undefined) await this.log.stop();
    clearInterval(this.proposalTimeoutSweep);
    this.proposalTimeoutSweep = undefined;
    await this.store.compactionSettled().catch(() => {});
    await this.wal.close().catch(() => {});
    await this.backend.flushed().catch(() => {});
    await this.backend.close();
    this.logger.info('stopped');
  }

  /**
   * This server decides lease expiry (the primary). Leases that certainly
   * expired while it was down are revoked right away (see liveness-stamp.ts);
   * every other lease gets its full TTL plus an election timeout, as etcd
   * gives after a restart.
   */
  private async promoteLessor(): Promise<void> {
    const stampPath = join(this.config.dataDir, 'member', 'lease-liveness');
    const downtimeMs = readCertainDowntimeMs(stampPath);
    let expiredWhileDown = 0;
    this.lessor.promote(this.config.electionTimeoutMs, (lease) => {
      const expired = downtimeMs !== undefined && downtimeMs > lease.ttlSeconds * 1000;
      if (expired) expiredWhileDown++;
      return expired;
    });
    if (this.lessor.size > 0) this.logger.info({ leases: this.lessor.size, expiredWhileDown, downtimeMs }, 'leases restored');
    this.livenessStamp = await LivenessStamp.start(stampPath, (error) => this.logger.warn({ err: error }, 'could not write the lease liveness stamp'));
  }

  /** Proposes a revoke for each expired lease, at etcd's rate limit. */
  private startLeaseExpiry(): void {
    const revokeExpired = () => {
      if (!this.healthy) return;
      for (const lease of this.lessor.takeExpired(leaseRevokeRatePerSecond / 2)) {
        this.propose({ leaseRevoke: { ID: lease.id } }).catch((error: unknown) => {
          // Already revoked by a client: nothing to do. Anything else is retried.
          this.logger.debug({ err: error, lease: lease.id.toString(16) }, 'lease revoke failed');
        });
      }
    };
    revokeExpired();
    this.leaseExpiryTimer = setInterval(revokeExpired, expiryCheckIntervalMs);
    this.leaseExpiryTimer.unref();
  }

  private startCompactor(): void {
    const retention = parseAutoCompactionRetention(this.config.autoCompactionMode, this.config.autoCompactionRetention);
    if (retention <= 0) return;
    this.compactor = new Compactor({
      mode: this.config.autoCompactionMode,
      retention,
      currentRevision: () => this.store.currentRevision,
      compact: async (revision) => {
        try {
          await this.propose({ compaction: { revision: BigInt(revision), physical: false } });
          this.logger.info({ revision }, 'auto compaction');
        } catch (error) {
          this.logger.warn({ err: error, revision }, 'auto compaction failed');
        }
      },
    });
    this.compactor.start();
  }

  private fail(error: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = error;
    this.logger.fatal({ err: error }, 'unrecoverable error: refusing further requests');
    // Whatever was not applied was not acknowledged: say so now.
    for (const pending of [...this.inFlight]) {
      this.metrics.proposalFailed();
      pending.settle({ error: new StoppedError() });
    }
    for (const listener of this.fatalListeners) listener(error);
  }

  /** Applies committed entries and settles their proposals. */
  private applyCommitted(entries: readonly LogEntry[]): void {
    let results: ApplyResult[];
    try {
      results = this.applier.applyEntries(entries, (entry) => {
        const pending = entry.context as PendingProposal | undefined;
        return pending?.request ?? etcdserverpb.InternalRaftRequest.decode(entry.data);
      });
    } catch (error) {
      for (const entry of entries) (entry.context as PendingProposal | undefined)?.settle({ error: toEtcdError(error) });
      this.fail(error);
      return;
    }
    // The batch is committed to the backend: only now may watchers hear of
    // it (a watcher must never see a change that a crash could undo).
    const changes = this.applier.takeChanges();
    this.metrics.observeChanges(changes);
    this.watchHub.notify(changes);
    entries.forEach((entry, i) => (entry.context as PendingProposal | undefined)?.settle(results[i]!));
    this.backendSizeBytes = this.backend.sizeBytes();
    const applied = this.applier.appliedIndex;
    for (let i = this.applyWaiters.length - 1; i >= 0; i--) {
      const waiter = this.applyWaiters[i]!;
      if (waiter.index <= applied) {
        this.applyWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
    if (applied - this.lastSnapshotIndex >= this.config.snapshotCount && !this.snapshotting) void this.snapshot(applied, entries[entries.length - 1]!.term);
  }

  /**
   * A snapshot, for a group of one: once the backend holds everything up to
   * `index` on disk, the WAL records that and drops segments before it.
   */
  private async snapshot(index: number, term: number): Promise<void> {
    this.snapshotting = true;
    try {
      await this.backend.flushed();
      await this.log.markSnapshot(index, term);
      this.lastSnapshotIndex = index;
      this.logger.info({ index }, 'snapshot: WAL released up to the durable backend index');
    } catch (error) {
      this.logger.error({ err: error }, 'snapshot failed');
    } finally {
      this.snapshotting = false;
    }
  }

  /** What watch streams (gRPC and the JSON gateway) need from the server. */
  watchStreamContext(): WatchStreamContext {
    return {
      hub: this.watchHub,
      store: this.store,
      // Exactly the revision given: compacted cancellations carry 0, as etcd's.
      header: (revision) => ({ ...this.header(), revision: BigInt(revision) }),
      // etcd's threshold for fragmenting: --max-request-bytes plus its gRPC overhead allowance.
      maxResponseBytes: this.config.maxRequestBytes + grpcOverheadBytes,
      progressNotifyIntervalMs: this.config.watchProgressNotifyIntervalMs,
    };
  }

  /**
   * Serves every --listen-client-urls address with one listener that hands
   * HTTP/2 connections to grpc-js and HTTP/1.1 ones to the HTTP app.
   */
  private async listen(): Promise<void> {
    const services = {
      kv: createKvService(this),
      maintenance: createMaintenanceService(this),
      cluster: createClusterService(this),
      lease: createLeaseService(this),
      watch: createWatchService(this),
    };
    /** Every method path served, for the checks made before grpc-js sees a call. */
    const servedPaths = new Set<string>();
    const add = <T extends object>(definition: ServiceDefinition, implementation: T): void => {
      for (const method of Object.values(definition)) servedPaths.add(method.path);
      this.grpcServer.addService(this.metrics.instrumentService(strict.withStrictRequests(definition)), this.metrics.instrumentUnaryHandlers(definition, implementation) as UntypedServiceImplementation);
    };
    add(kvServiceDefinition, services.kv);
    add(etcdserverpb.LeaseService, services.lease);
    add(watchServiceDefinition, services.watch);
    add(etcdserverpb.MaintenanceService, services.maintenance);
    add(etcdserverpb.ClusterService, services.cluster);
    add(healthpb.HealthService, createHealthService(this));
    const injector = this.grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    this.grpcInjector = injector;
    guardGrpcDeadlines(this.grpcServer);
    // Calls with a grpc-encoding etcd 3.4 cannot decompress (any but identity) are refused as they start, as etcd refuses them.
    guardGrpcEncodings(this.grpcServer, servedPaths);
    // Sessions nghttp2 stopped reading (after its rapid-reset GOAWAY) are closed.
    // After guardGrpcDeadlines: its 'stream' listener is among those handed only admitted streams.
    // Streams past --max-concurrent-streams are refused, as grpc-go refuses them.
    this.http2Sessions = new Http2SessionGuard({
      maxConcurrentStreams: this.config.maxConcurrentStreams,
      onStoppedReading: () => this.logger.warn('closed an HTTP/2 connection that was no longer read (no PING ACK)'),
    });
    for (const http2Server of grpcJsHttp2Servers(this.grpcServer, 'the HTTP/2 session guard')) this.http2Sessions.attach(http2Server);
    // Request framing and decoding errors as etcd answers them.
    installEtcdMessageReads();
    // Large Range answers go out without grpc-js copying them.
    installZeroCopyFraming();
    const httpServer = createHttpServer(createHttpApp(this, services));
    this.httpConnections = trackHttpConnections(httpServer);
    // One bound on what slow HTTP/2 openings hold, across every listener.
    const openingBytes = new OpeningBytesBudget();
    for (const url of this.config.listenClientUrls) {
      const { host, port } = parseUrl(url, '--listen-client-urls');
      // "localhost" as etcd resolves it by default: the IPv4 loopback.
      const bindHost = host === 'localhost' ? '127.0.0.1' : host;
      const listener = await ClientListener.listen(bindHost, port, { grpc: (socket) => injector.injectConnection(socket), http: httpServer }, { maxConcurrentStreams: this.config.maxConcurrentStreams, openingBytes });
      this.listeners.push(listener);
      this.clientUrls.push(`http://${host.includes(':') ? `[${host}]` : host}:${listener.port}`);
    }
  }
}
