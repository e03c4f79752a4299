/**
 * Many leases (issue 12, finding 7): grant N leases as fast as a pool of
 * concurrent callers can, then revoke them all. Reports the grant and
 * revoke rates and the server's RSS while it holds them all; the runner
 * adds the peak. 100,000 leases took Holdfast 26.7 s and 298 MB against
 * etcd's 18.5 s and 194 MB before the hardening work.
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { ownConnection } from '../../kv-client.js';
import { rssBytes } from '../rss.js';
import type { Attack, AttackScale } from '../attack.js';

export const leaseCounts: Record<AttackScale, number> = { short: 5_000, long: 100_000 };
/** Calls in flight at once (over a few connections, as a busy client fleet would). */
const concurrentCalls = 64;
const connections = 4;
/** Long enough that none expires while the attack runs. */
const leaseTtlSeconds = 3_600;
const callDeadlineMs = 30_000;

async function inPool(total: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrentCalls }, async () => {
      while (next < total) await work(next++);
    }),
  );
}

export const leasesAttack: Attack = {
  name: 'leases',
  description: 'grant 5,000 (long: 100,000) leases from 64 concurrent callers, then revoke them all',
  async run(target, scale) {
    const count = leaseCounts[scale];
    const clients = Array.from({ length: connections }, () => new etcdserverpb.LeaseClient(target.endpoint, credentials.createInsecure(), ownConnection));
    const ids: bigint[] = [];
    const deadline = () => ({ deadline: new Date(Date.now() + callDeadlineMs) });
    try {
      const grantStarted = performance.now();
      await inPool(count, (i) =>
        new Promise<void>((resolve, reject) =>
          clients[i % connections]!.leaseGrant(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: BigInt(leaseTtlSeconds) }), new Metadata(), deadline(), (error: ServiceError | null, response) => {
            if (error) return reject(error);
            ids.push(response.ID);
            resolve();
          }),
        ),
      );
      const grantMs = performance.now() - grantStarted;
      const rssHoldingBytes = rssBytes(target.pid) ?? 0;
      const revokeStarted = performance.now();
      await inPool(ids.length, (i) =>
        new Promise<void>((resolve, reject) =>
          clients[i % connections]!.leaseRevoke(etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: ids[i]! }), new Metadata(), deadline(), (error: ServiceError | null) => (error ? reject(error) : resolve())),
        ),
      );
      const revokeMs = performance.now() - revokeStarted;
      return {
        leases: count,
        grantMs: Math.round(grantMs),
        grantsPerSecond: Math.round(count / (grantMs / 1000)),
        revokeMs: Math.round(revokeMs),
        rssHoldingMiB: Math.round(rssHoldingBytes / 1024 / 1024),
      };
    } finally {
      for (const client of clients) client.close();
    }
  },
};
