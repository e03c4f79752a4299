/**
 * One member's core, free of any transport: what a request needs once an
 * API layer has decoded it, and the loop that applies the log.
 *
 *   propose -> log (WAL append + fsync, quorum when replicated) -> committed
 *   -> applyCommitted: MVCC + leases + consistent index in one backend
 *      transaction -> watchers hear the changes -> the proposal settles.
 *
 * Reads are served from the MVCC store once the log says they may be
 * (linearizable) or at once (serializable).
 *
 * Invariants kept here:
 * - entries are applied in log order, each exactly once per process
 *   (the Applier skips what the backend's consistent index already holds);
 * - a watcher never hears of a change before the backend transaction that
 *   holds it has committed (a crash could otherwise undo what it saw);
 * - a proposal settles exactly once (proposals.ts).
 */
import type { Logger } from 'pino';
import { etcdserverpb } from '@holdfast/proto';
import { decodeConfChange } from '@holdfast/raft';
import type { Backend, Wal } from '@holdfast/storage';
import type { MvccStore } from '@holdfast/mvcc';
import { effectiveQuotaBytes, grpcOverheadBytes, minLeaseTtlSeconds, parseAutoCompactionRetention, type ServerConfig } from '../config.js';
import { Compactor } from '../compactor.js';
import { RequestIdGenerator } from '../ids.js';
import type { Membership } from '../membership.js';
import { Applier, type ApplyResult } from '../apply/applier.js';
import { AlarmStore } from '../apply/alarms.js';
import { Lessor, expiryCheckIntervalMs, leaseRevokeRatePerSecond } from '../lease/lessor.js';
import { LivenessStamp, readCertainDowntimeMs } from '../lease/liveness-stamp.js';
import { WatchHub } from '../watch/watch-hub.js';
import type { WatchStreamContext } from '../watch/watch-stream.js';
import type { LogEntry, ReplicatedLog } from '../log/replicated-log.js';
import { NoSpaceError, NotCapableError, RequestTooLargeError, StoppedError, toEtcdError } from '../errors.js';
import { ServerMetrics, type MetricsSource } from '../metrics.js';
import { etcdCompatibleVersion } from '../version.js';
import type { Clock } from './clock.js';
import { Proposals, type PendingProposal } from './proposals.js';
import type { RecoveredMember } from './recovery.js';

type InternalRaftRequest = etcdserverpb.InternalRaftRequest;

/** A request with every field at its default, which proposals are built on. */
const emptyInternalRaftRequest: InternalRaftRequest = Object.freeze(etcdserverpb.InternalRaftRequest.fromPartial({}));

/** Bytes of a put beyond key and value, for the quota estimate (etcd's kvOverhead). */
const quotaOverheadBytes = 256;

/**
 * The InternalRaftRequest a proposal carries: `request` with a fresh
 * header id. Built directly rather than with fromPartial, which deep-copies
 * the (already complete) request message on every proposal. The proposer
 * applies this object instead of decoding its own bytes; it must decode to
 * the same (test/proposal-shortcut.property.test.ts).
 */
export function buildProposal(request: Omit<Partial<InternalRaftRequest>, 'header' | 'ID'>, id: bigint): InternalRaftRequest {
  return { ...emptyInternalRaftRequest, ...request, header: { ID: id, username: '', authRevision: 0n } };
}

/** The request an entry holds: the proposer's own object when this member proposed it, else the decoded bytes. */
export function proposalRequest(entry: LogEntry): InternalRaftRequest {
  const pending = entry.context as PendingProposal | undefined;
  return pending?.request ?? etcdserverpb.InternalRaftRequest.decode(entry.data);
}

/**
 * The log as the node uses it: the seam, plus what SoloLog offers and
 * RaftLog does not yet (issue 13): releasing the log behind a durable
 * backend (the snapshot policy skips it without) and holding writes back
 * (defragment refuses without).
 */
export type NodeLog = ReplicatedLog & { markSnapshot?(index: number, term: number): Promise<void>; quiesce?<T>(fn: () => Promise<T>): Promise<T> };

export interface MemberNodeOptions {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly recovered: RecoveredMember;
  /** Where the lease liveness stamp lives (lease/liveness-stamp.ts). */
  readonly livenessStampPath: string;
}

export class MemberNode {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly membership: Membership;
  readonly store: MvccStore;
  readonly alarms: AlarmStore;
  readonly backend: Backend;
  readonly lessor: Lessor;
  readonly watchHub: WatchHub;
  readonly metrics: ServerMetrics;
  readonly wal: Wal;
  private readonly clock: Clock;
  private readonly applier: Applier;
  private readonly proposals: Proposals;
  private readonly requestIds: RequestIdGenerator;
  private readonly livenessStampPath: string;
  private log: NodeLog | undefined;
  private readonly applyWaiters: Array<{ index: number; resolve: () => void }> = [];
  /** Backend file size, refreshed once per applied batch (not per request). */
  private backendSizeBytes = 0;
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private stopped = false;
  private fatalError: unknown;
  private readonly fatalListeners: Array<(error: unknown) => void> = [];
  private compactor: Compactor | undefined;
  private livenessStamp: LivenessStamp | undefined;
  private stopLeaseExpiry: (() => void) | undefined;

  constructor(options: MemberNodeOptions) {
    const { config, logger, recovered } = options;
    this.config = config;
    this.logger = logger;
    this.clock = options.clock;
    this.livenessStampPath = options.livenessStampPath;
    this.backend = recovered.backend;
    this.wal = recovered.wal;
    this.store = recovered.store;
    this.membership = recovered.membership;
    this.alarms = new AlarmStore(this.backend);
    this.lessor = new Lessor({ backend: this.backend, minTtlSeconds: minLeaseTtlSeconds(config) });
    this.lessor.restore(this.store.takeRestoredLeaseAttachments(), (message) => logger.warn(message));
    this.watchHub = new WatchHub(this.store);
    this.metrics = new ServerMetrics(metricsSourceOf(this));
    this.metrics.timeCommits(this.backend);
    this.applier = new Applier({ backend: this.backend, store: this.store, alarms: this.alarms, lessor: this.lessor, onApplied: this.metrics.observeApplied });
    this.proposals = new Proposals(this.clock, () => this.metrics.proposalFailed());
    this.requestIds = new RequestIdGenerator(this.membership.localId, this.clock.wallMs());
    this.lastSnapshotIndex = recovered.snapshotIndex;
    this.backendSizeBytes = this.backend.sizeBytes();
    // Applied state reaches lmdb in background commits; if one fails (a full
    // disk), the WAL still holds everything, but this member must stop.
    this.backend.onCommitError((error) => this.fail(error));
  }

  /** Applies entries recovered from the WAL, before the log starts. */
  replay(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const started = this.clock.nowMs();
    this.applyCommitted(entries);
    this.logger.info({ entries: entries.length, ms: Math.round(this.clock.nowMs() - started) }, 'replayed WAL entries after the backend index');
  }

  /** Connects the log; its committed entries come back through applyCommitted. */
  attachLog(log: NodeLog): void {
    this.log = log;
  }

  /** Starts what runs by itself: lease expiry and auto-compaction. */
  async startBackgroundWork(): Promise<void> {
    await this.promoteLessor();
    this.startCompactor();
    this.startLeaseExpiry();
  }

  // ---- what the API layer uses (api/member-api.ts) ----

  /** A new lease id: positive, as etcd chooses them. */
  newLeaseId(): bigint {
    for (;;) {
      const id = this.requestIds.generate() & ((1n << 63n) - 1n);
      if (id !== 0n) return id;
    }
  }

  get term(): number {
    return this.requireLog().term;
  }

  get leaderId(): bigint {
    return this.requireLog().leaderId;
  }

  get committedIndex(): number {
    return this.requireLog().committedIndex;
  }

  get appliedIndex(): number {
    return this.applier.appliedIndex;
  }

  /** Proposals waiting to be applied. */
  get pendingProposalCount(): number {
    return this.proposals.size;
  }

  /** False once a fatal error or stop() ended taking requests. */
  get healthy(): boolean {
    return this.fatalError === undefined && !this.stopped;
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
    const log = this.requireLog();
    if (log.quiesce === undefined) throw new NotCapableError();
    await log.quiesce(async () => {
      const before = this.backend.sizeBytes();
      const started = this.clock.nowMs();
      await this.backend.defragment();
      this.backendSizeBytes = this.backend.sizeBytes();
      this.logger.info({ beforeBytes: before, afterBytes: this.backend.sizeBytes(), ms: Math.round(this.clock.nowMs() - started) }, 'defragmented backend');
    });
  }

  /** Called if the member hits an unrecoverable error (a failed fsync, a backend write). */
  onFatal(listener: (error: unknown) => void): void {
    this.fatalListeners.push(listener);
  }

  /** A response header with this member's ids, the current term and revision. */
  header(revision?: bigint): etcdserverpb.ResponseHeader {
    return {
      clusterId: this.membership.clusterId,
      memberId: this.membership.localId,
      revision: revision === undefined || revision === 0n ? BigInt(this.store.currentRevision) : revision,
      raftTerm: BigInt(this.term),
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
    if (!this.healthy) throw new StoppedError();
    const log = this.requireLog();
    const internal = buildProposal(request, this.requestIds.generate());
    const data = etcdserverpb.InternalRaftRequest.encode(internal).finish();
    if (data.length > this.config.maxRequestBytes) throw new RequestTooLargeError();
    return this.proposals.begin(internal, (pending) => log.propose(data, pending));
  }

  /** Resolves when a read now would be linearizable. */
  async linearizableRead(): Promise<void> {
    if (this.fatalError !== undefined) throw new StoppedError();
    const index = await this.requireLog().readIndex();
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

  /** What watch streams (gRPC and the JSON gateway) need from the member. */
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

  // ---- lifecycle ----

  /** Stops taking requests; what the API layer still holds gets "server stopped". */
  beginStop(): void {
    this.stopped = true;
    this.compactor?.stop();
    this.stopLeaseExpiry?.();
  }

  /** Stops the log (in-flight proposals are applied), then closes storage. Call after beginStop(). */
  async stop(): Promise<void> {
    this.beginStop();
    await this.livenessStamp?.stop();
    if (this.log !== undefined) await this.log.stop();
    this.proposals.stop();
    await this.store.compactionSettled().catch(() => {});
    await this.wal.close().catch(() => {});
    await this.backend.flushed().catch(() => {});
    await this.backend.close();
  }

  /** The log's leader changed (log/replicated-log.ts LogEvents). */
  leaderChanged(leaderId: bigint, term: number): void {
    this.metrics.leaderChanged();
    this.logger.info({ leader: leaderId.toString(16), term }, leaderId === 0n ? 'no leader' : 'leader elected');
  }

  /** Applies committed entries and settles their proposals (log/replicated-log.ts LogEvents). */
  applyCommitted(entries: readonly LogEntry[]): void {
    let results: ApplyResult[];
    const requests = new Map<LogEntry, InternalRaftRequest>();
    try {
      results = this.applier.applyEntries(entries, (entry) => {
        if (entry.type === 'confChange') {
          this.applyConfChange(entry);
          return undefined;
        }
        const request = proposalRequest(entry);
        requests.set(entry, request);
        return request;
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
    // By request id: the entry may have come back as bytes (forwarded, replayed), not as this member's object.
    entries.forEach((entry, i) => {
      const id = requests.get(entry)?.header?.ID;
      if (id !== undefined) this.proposals.settle(id, results[i]!);
    });
    this.backendSizeBytes = this.backend.sizeBytes();
    const applied = this.applier.appliedIndex;
    for (let i = this.applyWaiters.length - 1; i >= 0; i--) {
      const waiter = this.applyWaiters[i]!;
      if (waiter.index <= applied) {
        this.applyWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
    if (applied - this.lastSnapshotIndex >= this.config.snapshotCount && !this.snapshotting && this.log?.markSnapshot !== undefined) void this.snapshot(applied, entries[entries.length - 1]!.term);
  }

  /**
   * A membership change the log committed. Those of a new cluster's initial
   * members (the log's first entries) name members --initial-cluster already
   * put in the backend; any other is refused, and fails the member, until
   * MemberAdd and MemberRemove exist (issue 13), so that no member ever runs
   * with a membership it did not record.
   */
  private applyConfChange(entry: LogEntry): void {
    const change = decodeConfChange(entry.data);
    const known = this.membership.get(change.nodeId);
    if (change.type === 'addNode' && known !== undefined && !known.isLearner) return;
    throw new Error(`log entry ${entry.index}: ${change.type} of member ${change.nodeId.toString(16)} is a membership change this member cannot apply yet`);
  }

  /** Stops taking requests after an unrecoverable error; waiting proposals are told at once. */
  fail(error: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = error;
    this.logger.fatal({ err: error }, 'unrecoverable error: refusing further requests');
    // Whatever was not applied was not acknowledged: say so now.
    this.proposals.failAll(new StoppedError());
    for (const listener of this.fatalListeners) listener(error);
  }

  private requireLog(): NodeLog {
    if (this.log === undefined) throw new StoppedError();
    return this.log;
  }

  /**
   * The snapshot policy: every --snapshot-count applied entries, once the
   * backend holds everything up to `index` on disk, the log may drop what
   * comes before it.
   */
  private async snapshot(index: number, term: number): Promise<void> {
    this.snapshotting = true;
    try {
      await this.backend.flushed();
      await this.requireLog().markSnapshot!(index, term);
      this.lastSnapshotIndex = index;
      this.logger.info({ index }, 'snapshot: WAL released up to the durable backend index');
    } catch (error) {
      this.logger.error({ err: error }, 'snapshot failed');
    } finally {
      this.snapshotting = false;
    }
  }

  /**
   * This member decides lease expiry (the primary). Leases that certainly
   * expired while it was down are revoked right away (see liveness-stamp.ts);
   * every other lease gets its full TTL plus an election timeout, as etcd
   * gives after a restart.
   */
  private async promoteLessor(): Promise<void> {
    const downtimeMs = readCertainDowntimeMs(this.livenessStampPath);
    let expiredWhileDown = 0;
    this.lessor.promote(this.config.electionTimeoutMs, (lease) => {
      const expired = downtimeMs !== undefined && downtimeMs > lease.ttlSeconds * 1000;
      if (expired) expiredWhileDown++;
      return expired;
    });
    if (this.lessor.size > 0) this.logger.info({ leases: this.lessor.size, expiredWhileDown, downtimeMs }, 'leases restored');
    this.livenessStamp = await LivenessStamp.start(this.livenessStampPath, (error) => this.logger.warn({ err: error }, 'could not write the lease liveness stamp'));
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
    this.stopLeaseExpiry = this.clock.every(expiryCheckIntervalMs, revokeExpired);
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
}

/** The gauges' view of a member. */
function metricsSourceOf(member: MemberNode): MetricsSource {
  return {
    get leaderId() {
      return member.leaderId;
    },
    memberId: member.membership.localId,
    get committedIndex() {
      return member.committedIndex;
    },
    get appliedIndex() {
      return member.appliedIndex;
    },
    get pendingProposalCount() {
      return member.pendingProposalCount;
    },
    dbSizeBytes: () => member.backend.sizeBytes(),
    dbSizeInUseBytes: () => member.backend.sizeInUseBytes(),
    countLiveKeys: () => member.store.range(new Uint8Array([0]), new Uint8Array([0]), { countOnly: true }).count,
    get watcherCount() {
      return member.watchHub.watcherCount;
    },
    get slowWatcherCount() {
      return member.watchHub.unsyncedCount;
    },
    get currentRevision() {
      return member.store.currentRevision;
    },
    get compactRevision() {
      return member.store.compactRevision;
    },
    quotaBackendBytes: effectiveQuotaBytes(member.config),
    memberIdHex: member.membership.localId.toString(16),
    serverVersion: etcdCompatibleVersion,
  };
}
