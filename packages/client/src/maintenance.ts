/**
 * Maintenance (status, hashes, alarms, defragment, snapshot, leader
 * transfer) and the gRPC health check. Status, hashes, defragment, snapshot
 * and health concern one member: pass `endpoint` to choose which one
 * (no failover then); without it the client's preferred endpoint answers.
 */
import { etcdserverpb, healthpb } from '@holdfast/proto';
import { toHeader, type ResponseHeader } from './bytes.js';
import { onAbort } from './abort-listeners.js';
import { cancelCall, type ConnectionPool, type RequestOptions } from './connection-pool.js';
import { toEtcdError } from './errors.js';

export interface MemberRequestOptions extends RequestOptions {
  /** host:port of the member to ask (one of the client's endpoints). */
  readonly endpoint?: string;
}

export interface StatusResult {
  readonly header: ResponseHeader;
  /** The server's etcd API version, e.g. "3.4.23". */
  readonly version: string;
  readonly dbSizeBytes: bigint;
  readonly dbSizeInUseBytes: bigint;
  /** Member id of the leader (0n: none). */
  readonly leader: bigint;
  readonly raftIndex: bigint;
  readonly raftTerm: bigint;
  readonly raftAppliedIndex: bigint;
  readonly errors: string[];
  readonly isLearner: boolean;
}

export interface HashKvResult {
  readonly header: ResponseHeader;
  readonly hash: number;
  readonly compactRevision: bigint;
}

export type AlarmKind = 'nospace' | 'corrupt';

export interface Alarm {
  readonly memberId: bigint;
  readonly alarm: AlarmKind;
}

const alarmTypes: Record<AlarmKind, etcdserverpb.AlarmType> = {
  nospace: etcdserverpb.AlarmType.NOSPACE,
  corrupt: etcdserverpb.AlarmType.CORRUPT,
};

function toAlarms(response: etcdserverpb.AlarmResponse): Alarm[] {
  return response.alarms
    .filter((alarm) => alarm.alarm === etcdserverpb.AlarmType.NOSPACE || alarm.alarm === etcdserverpb.AlarmType.CORRUPT)
    .map((alarm) => ({ memberId: alarm.memberID, alarm: alarm.alarm === etcdserverpb.AlarmType.NOSPACE ? 'nospace' : 'corrupt' }));
}

export class MaintenanceApi {
  constructor(private readonly pool: ConnectionPool) {}

  async status(options: MemberRequestOptions = {}): Promise<StatusResult> {
    const response = await this.pool.unary(etcdserverpb.MaintenanceService.status, {}, options);
    return {
      header: toHeader(response.header),
      version: response.version,
      dbSizeBytes: response.dbSize,
      dbSizeInUseBytes: response.dbSizeInUse,
      leader: response.leader,
      raftIndex: response.raftIndex,
      raftTerm: response.raftTerm,
      raftAppliedIndex: response.raftAppliedIndex,
      errors: response.errors,
      isLearner: response.isLearner,
    };
  }

  /** Hash of the key space up to `revision` (0n: the latest), comparable between members. */
  async hashKv(revision = 0n, options: MemberRequestOptions = {}): Promise<HashKvResult> {
    const response = await this.pool.unary(etcdserverpb.MaintenanceService.hashKv, { revision }, options);
    return { header: toHeader(response.header), hash: response.hash, compactRevision: response.compactRevision };
  }

  /** Hash of the member's whole backend (for tests). */
  async hash(options: MemberRequestOptions = {}): Promise<{ header: ResponseHeader; hash: number }> {
    const response = await this.pool.unary(etcdserverpb.MaintenanceService.hash, {}, options);
    return { header: toHeader(response.header), hash: response.hash };
  }

  /** Raised alarms. */
  async alarms(options: RequestOptions = {}): Promise<Alarm[]> {
    const request = { action: etcdserverpb.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: etcdserverpb.AlarmType.NONE };
    return toAlarms(await this.pool.unary(etcdserverpb.MaintenanceService.alarm, request, { ...options, onlyReads: true }));
  }

  /** Raises an alarm on a member. */
  async activateAlarm(alarm: Alarm, options: RequestOptions = {}): Promise<Alarm[]> {
    const request = { action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: alarm.memberId, alarm: alarmTypes[alarm.alarm] };
    return toAlarms(await this.pool.unary(etcdserverpb.MaintenanceService.alarm, request, { ...options, onlyReads: false }));
  }

  /** Clears one alarm, or every raised alarm when none is given (as `etcdctl alarm disarm`). */
  async disarm(alarm?: Alarm, options: RequestOptions = {}): Promise<Alarm[]> {
    const targets = alarm === undefined ? await this.alarms(options) : [alarm];
    const cleared: Alarm[] = [];
    for (const target of targets) {
      const request = { action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE, memberID: target.memberId, alarm: alarmTypes[target.alarm] };
      cleared.push(...toAlarms(await this.pool.unary(etcdserverpb.MaintenanceService.alarm, request, { ...options, onlyReads: false })));
    }
    return cleared;
  }

  async defragment(options: MemberRequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.MaintenanceService.defragment, {}, options)).header);
  }

  /** Hands leadership to another member (ask the current leader). */
  async moveLeader(targetMemberId: bigint, options: MemberRequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.MaintenanceService.moveLeader, { targetID: targetMemberId }, options)).header);
  }

  /** Whether the member answers the gRPC health check with SERVING. */
  async health(options: MemberRequestOptions = {}): Promise<boolean> {
    const response = await this.pool.unary(healthpb.HealthService.check, { service: '' }, options);
    return response.status === healthpb.HealthCheckResponse_ServingStatus.SERVING;
  }

  /**
   * The member's backend as a stream of chunks: write them, in order, to a
   * file to get what `etcdctl snapshot save` writes. Not retried: a broken
   * stream throws, and the caller starts over.
   */
  async *snapshot(options: { readonly signal?: AbortSignal; readonly endpoint?: string } = {}): AsyncGenerator<Buffer, void, undefined> {
    const { stream, endpoint } = await this.pool.openServerStream(etcdserverpb.MaintenanceService.snapshot, {}, options);
    const signal = options.signal;
    const stopWaiting = signal === undefined ? () => {} : onAbort(signal, () => cancelCall(stream));
    let finished = false;
    try {
      for await (const response of stream as AsyncIterable<etcdserverpb.SnapshotResponse>) {
        if (response.blob.length > 0) yield response.blob;
      }
      finished = true;
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      throw toEtcdError(error, endpoint);
    } finally {
      stopWaiting();
      if (!finished) cancelCall(stream);
    }
  }
}
