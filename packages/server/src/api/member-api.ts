/**
 * What the client-facing layer (gRPC services, the JSON gateway, v2, the
 * plain HTTP routes, metrics) may use of a member: the narrow interface
 * that keeps api/ off the server's composition root and off the node's
 * internals. node/member-node.ts is the implementation; a test can offer
 * its own.
 */
import type { Logger } from 'pino';
import type { etcdserverpb } from '@holdfast/proto';
import type { Backend } from '@holdfast/storage';
import type { MvccStore } from '@holdfast/mvcc';
import type { ServerConfig } from '../config.js';
import type { Membership } from '../membership.js';
import type { ApplyResult } from '../apply/applier.js';
import type { AlarmStore } from '../apply/alarms.js';
import type { Lessor } from '../lease/lessor.js';
import type { WatchHub } from '../watch/watch-hub.js';
import type { WatchStreamContext } from '../watch/watch-stream.js';
import type { ServerMetrics } from '../metrics.js';

export interface MemberApi {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;

  // State, read directly (serializable reads, watches, lease lookups, status).
  readonly store: MvccStore;
  readonly lessor: Lessor;
  readonly alarms: AlarmStore;
  readonly membership: Membership;
  readonly watchHub: WatchHub;
  /** Maintenance reads it: size, hash, snapshot copies. */
  readonly backend: Backend;

  // Raft status, as Status and the metrics report it.
  readonly term: number;
  readonly leaderId: bigint;
  readonly committedIndex: number;
  readonly appliedIndex: number;
  readonly pendingProposalCount: number;
  /** False once the member stopped taking requests. */
  readonly healthy: boolean;

  /** Puts a change through the log; resolves with its apply result, rejects with its etcd error. */
  propose(request: Omit<Partial<etcdserverpb.InternalRaftRequest>, 'header' | 'ID'>): Promise<ApplyResult>;
  /** Resolves when a read now would be linearizable. */
  linearizableRead(): Promise<void>;
  /** Refuses (NOSPACE) a request that would grow the store past the quota. */
  checkQuota(costBytes: number): Promise<void>;
  newLeaseId(): bigint;
  defragment(): Promise<void>;
  header(revision?: bigint): etcdserverpb.ResponseHeader;
  fillHeader<T extends { header?: etcdserverpb.ResponseHeader | undefined }>(response: T): T;
  watchStreamContext(): WatchStreamContext;
}

/** A long-lived call (a watch or keepalive stream) that must be told when the server stops. */
export interface TrackedStream {
  emit(event: 'error', error: Partial<import('@grpc/grpc-js').ServiceError>): boolean;
}

/** Registers a long-lived stream so stopping ends it; returns the unregister function. */
export type TrackStream = (call: TrackedStream) => () => void;
