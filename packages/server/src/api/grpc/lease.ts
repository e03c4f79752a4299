/**
 * The etcdserverpb.Lease service. Grant and revoke go through the log;
 * keepalives and time-to-live are answered by the lessor's primary state
 * (deadlines never touch the log), as etcd's leader answers them.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import type { MemberApi, TrackStream } from '../member-api.js';
import { LeaseNotFoundError } from '../../errors.js';
import { LeaseTtlTooLargeError, maxLeaseTtlSeconds } from '../../lease/lessor.js';
import { unary } from './grpc-handlers.js';

/** Bytes a lease grant is charged against the backend quota (etcd's leaseOverhead). */
export const leaseQuotaOverheadBytes = 64;
/** Keepalive replies written but not flushed, past which the stream stops reading requests. */
export const maxQueuedKeepAliveReplies = 256;

export function createLeaseService(member: MemberApi, trackStream: TrackStream): etcdserverpb.LeaseServer {
  return {
    leaseGrant: unary(async (request: etcdserverpb.LeaseGrantRequest) => {
      if (request.TTL > BigInt(maxLeaseTtlSeconds)) throw new LeaseTtlTooLargeError();
      await member.checkQuota(leaseQuotaOverheadBytes);
      const ID = request.ID === 0n ? member.newLeaseId() : request.ID;
      const { response } = await member.propose({ leaseGrant: { ID, TTL: request.TTL } });
      return member.fillHeader(response as etcdserverpb.LeaseGrantResponse);
    }),

    leaseRevoke: unary(async (request: etcdserverpb.LeaseRevokeRequest) => {
      const { response } = await member.propose({ leaseRevoke: { ID: request.ID } });
      return member.fillHeader(response as etcdserverpb.LeaseRevokeResponse);
    }),

    leaseTimeToLive: unary(async (request: etcdserverpb.LeaseTimeToLiveRequest) => timeToLive(member, request)),

    leaseLeases: unary(async () => ({ header: member.header(), leases: idsByExpiry(member).map((ID) => ({ ID })) })),

    leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
      const untrack = trackStream(call);
      call.on('close', untrack);
      let queued = 0;
      let paused = false;
      call.on('data', (request: etcdserverpb.LeaseKeepAliveRequest) => {
        // The header is taken before the renewal, as etcd does, so a client
        // never sees a keepalive succeed at a revision after the revoke.
        const header = member.header();
        const TTL = renewOrZero(member, request.ID);
        queued++;
        if (queued >= maxQueuedKeepAliveReplies && !paused) {
          paused = true;
          call.pause();
        }
        call.write({ header, ID: request.ID, TTL: BigInt(TTL) }, () => {
          queued--;
          if (paused && queued < maxQueuedKeepAliveReplies / 2) {
            paused = false;
            call.resume();
          }
        });
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  };
}

/** Lease ids soonest to expire first, as etcd's lessor.Leases() sorts them (ties by id). */
function idsByExpiry(member: MemberApi): bigint[] {
  const remaining = new Map(member.lessor.ids().map((id) => [id, member.lessor.remainingMs(member.lessor.get(id)!)]));
  return [...remaining.keys()].sort((a, b) => {
    const left = remaining.get(a)!;
    const right = remaining.get(b)!;
    return left < right ? -1 : left > right ? 1 : 0;
  });
}

/** The lease's TTL after renewing it, or 0 when it does not exist (etcd's keepalive answer; the gateway's too). */
export function renewOrZero(member: MemberApi, id: bigint): number {
  try {
    return member.lessor.renew(id);
  } catch (error) {
    if (error instanceof LeaseNotFoundError) return 0;
    throw error;
  }
}

/** etcd answers a missing lease with TTL -1, not an error. */
export function timeToLive(member: MemberApi, request: etcdserverpb.LeaseTimeToLiveRequest): etcdserverpb.LeaseTimeToLiveResponse {
  const lease = member.lessor.get(request.ID);
  if (lease === undefined) return { header: member.header(), ID: request.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
  return {
    header: member.header(),
    ID: request.ID,
    // Go's int64(d.Seconds()): truncated toward zero.
    TTL: BigInt(Math.trunc(member.lessor.remainingMs(lease) / 1000)),
    grantedTTL: BigInt(lease.ttlSeconds),
    keys: request.keys ? [...lease.keys].sort().map((key) => Buffer.from(key, 'latin1')) : [],
  };
}
