/**
 * The server's Prometheus metrics, under etcd 3.4's names, types, help
 * strings and buckets wherever the meaning is the same (checked against a
 * real etcd's /metrics by test/test/metrics.test.ts), served on /metrics.
 *
 * One ServerMetrics per server, created by it and handed to what it
 * observes; each hook is one call:
 *
 * - gauges read the server when scraped (leader, indexes, sizes, watchers);
 * - SoloLog's `onFsync` times each WAL write + fdatasync
 *   (etcd_disk_wal_fsync_duration_seconds);
 * - the backend's commit() is timed (etcd_disk_backend_commit_duration_seconds);
 * - the applier reports each applied request (lease grants and revokes);
 * - applied changes keep the live key count (etcd_debugging_mvcc_keys_total);
 * - a gRPC server interceptor counts calls and their final codes as
 *   go-grpc-prometheus does (grpc_server_started/handled_total), and every
 *   service's (de)serializers count messages (grpc_server_msg_*) and their
 *   bytes as etcd's codec does (etcd_network_client_grpc_*_bytes_total),
 *   in plain numbers that are handed to prom-client when scraped;
 * - propose() reports proposals that failed to commit.
 *
 * Process metrics (process_*, nodejs_*) come from prom-client's default
 * collectors, once per process (they describe the process, not a server).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ServerInterceptingCall, status as GrpcStatus, type handleUnaryCall, type sendUnaryData, type ServerInterceptor, type ServerUnaryCall, type ServiceDefinition, type ServerMethodDefinition } from '@grpc/grpc-js';
import type { Change } from '@holdfast/mvcc';
import type { etcdserverpb } from '@holdfast/proto';
import type { ApplyResult } from './apply/applier.js';

/** What the gauges read when /metrics is scraped. */
export interface MetricsSource {
  readonly leaderId: bigint;
  /** This member's id: it leads when the leader id is its own. */
  readonly memberId: bigint;
  readonly committedIndex: number;
  readonly appliedIndex: number;
  readonly pendingProposalCount: number;
  dbSizeBytes(): number;
  dbSizeInUseBytes(): number;
  /** Live keys, counted once (the first scrape); applied changes keep it after. */
  countLiveKeys(): number;
  readonly watcherCount: number;
  readonly slowWatcherCount: number;
  readonly currentRevision: number;
  /** 0 = never compacted. */
  readonly compactRevision: number;
  readonly quotaBackendBytes: number;
  readonly memberIdHex: string;
  readonly serverVersion: string;
}

/** prometheus.ExponentialBuckets(0.001, 2, 14): etcd's WAL fsync and backend commit buckets, 1 ms to 8.192 s. */
export const diskDurationBucketsSeconds: readonly number[] = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** go-grpc-prometheus's grpc_code label values, by gRPC status code. */
export const grpcCodeNames: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

type GrpcLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';
type GrpcLabels = Record<GrpcLabel, string>;
const grpcLabelNames: GrpcLabel[] = ['grpc_type', 'grpc_service', 'grpc_method'];

/** One RPC method's counts. */
interface GrpcMethodStats {
  readonly labels: GrpcLabels;
  started: number;
  received: number;
  sent: number;
  /** Calls ended, by gRPC status code. */
  readonly handled: number[];
}

/** The labels of one RPC method: "/etcdserverpb.KV/Put" -> service etcdserverpb.KV, method Put. */
export function grpcMethodLabels(method: Pick<ServerMethodDefinition<unknown, unknown>, 'path' | 'requestStream' | 'responseStream'>): GrpcLabels {
  const [, service = '', name = ''] = method.path.split('/');
  const type = method.requestStream ? (method.responseStream ? 'bidi_stream' : 'client_stream') : method.responseStream ? 'server_stream' : 'unary';
  return { grpc_type: type, grpc_service: service, grpc_method: name };
}

let processRegistry: Registry | undefined;

/** process_* and nodejs_* metrics, registered once per process. */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class ServerMetrics {
  private readonly registry = new Registry();
  private liveKeys: number | undefined;

  private readonly walFsync: Histogram;
  private readonly backendCommit: Histogram;
  private readonly proposalsFailed: Counter;
  private readonly leaderChanges: Counter;
  private readonly leaseGranted: Counter;
  private readonly leaseRevoked: Counter;
  private readonly healthSuccess: Counter;
  private readonly healthFailures: Counter;
  /**
   * gRPC counts, kept as plain numbers on the request path (a labelled
   * prom-client counter hashes its labels on every call) and handed to
   * prom-client when scraped.
   */
  private readonly grpcMethods = new Map<string, GrpcMethodStats>();
  private grpcReceivedBytes = 0;
  private grpcSentBytes = 0;

  constructor(source: MetricsSource) {
    // prom-client's process collectors count from their registration on.
    processMetrics();
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    };
    /** etcd's "1 for the label with the current value" gauges. */
    const infoGauge = (name: string, help: string, label: string, value: () => string): void => {
      new Gauge({ name, help, labelNames: [label], registers, collect() { this.reset(); this.set({ [label]: value() }, 1); } });
    };
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });

    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', () => (source.leaderId !== 0n ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', () => (source.leaderId !== 0n && source.leaderId === source.memberId ? 1 : 0));
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', () => 0);
    // etcd sets these two gauges to the raft committed and applied indexes.
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', () => source.committedIndex);
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', () => source.appliedIndex);
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => source.pendingProposalCount);
    this.proposalsFailed = counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.');
    this.leaderChanges = counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.');
    gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', () => source.quotaBackendBytes);
    infoGauge('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", 'server_id', () => source.memberIdHex);
    infoGauge('etcd_server_version', "Which version is running. 1 for 'server_version' label with current version.", 'server_version', () => source.serverVersion);
    this.healthSuccess = counter('etcd_server_health_success', 'The total number of successful health checks');
    this.healthFailures = counter('etcd_server_health_failures', 'The total number of failed health checks');

    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', () => source.dbSizeBytes());
    gauge('etcd_debugging_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', () => source.dbSizeBytes());
    gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', () => source.dbSizeInUseBytes());
    gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', () => (this.liveKeys ??= source.countLiveKeys()));
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.', () => source.currentRevision);
    // etcd reports -1 until the first compaction.
    gauge('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', () => (source.compactRevision === 0 ? -1 : source.compactRevision));
    gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', () => source.watcherCount);
    gauge('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.', () => source.slowWatcherCount);

    this.leaseGranted = counter('etcd_debugging_lease_granted_total', 'The total number of granted leases.');
    this.leaseRevoked = counter('etcd_debugging_lease_revoked_total', 'The total number of revoked leases.');

    this.walFsync = new Histogram({ name: 'etcd_disk_wal_fsync_duration_seconds', help: 'The latency distributions of fsync called by WAL.', buckets: [...diskDurationBucketsSeconds], registers });
    this.backendCommit = new Histogram({ name: 'etcd_disk_backend_commit_duration_seconds', help: 'The latency distributions of commit called by backend.', buckets: [...diskDurationBucketsSeconds], registers });

    const metrics = this;
    const counted = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    };
    counted('etcd_network_client_grpc_received_bytes_total', 'The total number of bytes received from grpc clients.', () => this.grpcReceivedBytes);
    counted('etcd_network_client_grpc_sent_bytes_total', 'The total number of bytes sent to grpc clients.', () => this.grpcSentBytes);
    const perMethod = (name: string, help: string, read: (stats: GrpcMethodStats) => number): void => {
      new Counter({
        name,
        help,
        labelNames: grpcLabelNames,
        registers,
        collect() {
          this.reset();
          for (const stats of metrics.grpcMethods.values()) this.inc(stats.labels, read(stats));
        },
      });
    };
    perMethod('grpc_server_started_total', 'Total number of RPCs started on the server.', (stats) => stats.started);
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: [...grpcLabelNames, 'grpc_code'],
      registers,
      collect() {
        this.reset();
        for (const stats of metrics.grpcMethods.values()) grpcCodeNames.forEach((code, i) => this.inc({ ...stats.labels, grpc_code: code }, stats.handled[i]!));
      },
    });
    perMethod('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', (stats) => stats.received);
    perMethod('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', (stats) => stats.sent);
  }

  private methodStats(method: Pick<ServerMethodDefinition<unknown, unknown>, 'path' | 'requestStream' | 'responseStream'>): GrpcMethodStats {
    let stats = this.grpcMethods.get(method.path);
    if (stats === undefined) {
      stats = { labels: grpcMethodLabels(method), started: 0, received: 0, sent: 0, handled: grpcCodeNames.map(() => 0) };
      this.grpcMethods.set(method.path, stats);
    }
    return stats;
  }

  /** The Content-Type of text(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this server's metrics, then the process's. */
  async text(): Promise<string> {
    return (await this.registry.metrics()) + (await processMetrics().metrics());
  }

  // ---- hooks ----

  /** SoloLog's onFsync: one WAL batch written and fdatasynced. */
  readonly observeWalFsync = (seconds: number): void => this.walFsync.observe(seconds);

  /** A proposal that did not commit (timed out, refused by the log, or cut by a stop). */
  /** The log reported a new leader (a group of one: once per start, as etcd counts its own election). */
  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  proposalFailed(): void {
    this.proposalsFailed.inc();
  }

  /** One health check answered (/health). */
  healthChecked(healthy: boolean): void {
    (healthy ? this.healthSuccess : this.healthFailures).inc();
  }

  /** The applier's onApplied: one log entry's request and what applying it gave. */
  readonly observeApplied = (request: etcdserverpb.InternalRaftRequest, result: ApplyResult): void => {
    if (result.error !== undefined) return;
    if (request.leaseGrant !== undefined) this.leaseGranted.inc();
    if (request.leaseRevoke !== undefined) this.leaseRevoked.inc();
  };

  /** Changes an apply batch made (after its commit): keeps the live key count. */
  observeChanges(changes: readonly Change[]): void {
    if (this.liveKeys === undefined) return;
    for (const change of changes) {
      // A put of version 1 starts a key's generation; a delete ends one.
      if (change.kind === 'delete') this.liveKeys--;
      else if (change.kv.version === 1) this.liveKeys++;
    }
  }

  /**
   * Times every commit of `backend` to lmdb. The backend calls its own
   * commit() (from its batch timer, when a batch fills up, before a read of
   * the size in use), so timing the method of this one object times them all.
   */
  timeCommits(backend: { commit(): void }): void {
    const commit = backend.commit.bind(backend);
    backend.commit = () => {
      const started = performance.now();
      try {
        commit();
      } finally {
        this.backendCommit.observe((performance.now() - started) / 1000);
      }
    };
  }

  /**
   * A service definition whose (de)serializers count message bytes, as
   * etcd's gRPC codec does, and whose methods start at 0 in the grpc_server_*
   * counters (go-grpc-prometheus initializes every registered method).
   */
  instrumentService<T>(definition: ServiceDefinition<T>): ServiceDefinition<T> {
    const instrumented: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(definition) as Array<[string, ServiceDefinition[string]]>) {
      // Every message in or out goes through these once: count it and its bytes here.
      const stats = this.methodStats(method);
      instrumented[name] = {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          stats.received++;
          this.grpcReceivedBytes += bytes.length;
          return method.requestDeserialize(bytes);
        },
        responseSerialize: (value: unknown) => {
          const bytes = method.responseSerialize(value);
          stats.sent++;
          this.grpcSentBytes += bytes.length;
          return bytes;
        },
      };
    }
    return instrumented as ServiceDefinition<T>;
  }

  /**
   * The implementation of `definition`'s service with its unary methods
   * counted as started and handled (by final code). Unary calls are counted
   * here rather than by {@link grpcInterceptor}: an interceptor puts a whole
   * intercepting call between grpc-js and the handler, which costs every
   * request measurable CPU (see docs/BENCHMARKS.md).
   */
  instrumentUnaryHandlers<T extends object>(definition: ServiceDefinition, implementation: T): T {
    const instrumented: Record<string, unknown> = { ...(implementation as Record<string, unknown>) };
    for (const [name, method] of Object.entries(definition)) {
      if (method.requestStream || method.responseStream) continue;
      const handler = (implementation as Record<string, handleUnaryCall<unknown, unknown>>)[name];
      if (handler === undefined) continue;
      const stats = this.methodStats(method);
      instrumented[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const finish = startCall(stats);
        // A client that goes away ends the call without a status.
        call.once('cancelled', () => finish(GrpcStatus.CANCELLED));
        handler(call, (error, value, trailer, flags) => {
          finish(error === null || error === undefined ? GrpcStatus.OK : (error.code ?? GrpcStatus.UNKNOWN));
          callback(error, value, trailer, flags);
        });
      };
    }
    return instrumented as T;
  }

  /**
   * go-grpc-prometheus's calls started and calls handled by final code, for
   * streaming methods (unary ones are counted by instrumentUnaryHandlers, and
   * pass through untouched). Messages are counted by instrumentService.
   */
  readonly grpcInterceptor: ServerInterceptor = (method, call) => {
    // grpc-js chains interceptors by reduce() over the interface; handing the
    // call back unchanged adds nothing to a unary call's path. The type asks
    // for the class, which the chain never needs.
    if (!method.requestStream && !method.responseStream) return call as ServerInterceptingCall;
    const finish = startCall(this.methodStats(method));
    return new ServerInterceptingCall(call, {
      // A client that goes away ends the call without a status.
      start: (next) => next({ onCancel: () => finish(GrpcStatus.CANCELLED) }),
      sendStatus: (status, next) => {
        finish(status.code);
        next(status);
      },
    });
  };
}

/** Counts a call as started; the returned function counts it as handled with its final code, once. */
function startCall(stats: GrpcMethodStats): (code: number) => void {
  stats.started++;
  let handled = false;
  return (code) => {
    if (handled) return;
    handled = true;
    stats.handled[code < grpcCodeNames.length ? code : GrpcStatus.UNKNOWN]!++;
  };
}
