/** Keys named `<prefix>/<unix nanos>` created only if absent, as Go's contrib/recipes do. */
import { Compare, LeaseNotFoundError, Op, type Namespace, type RequestOptions } from '@holdfast/client';
import { SessionExpiredError } from './errors.js';
import { joinKey, unixNanos } from './keys.js';
import { deleteIfLeased } from './wait.js';

export interface CreatedKey {
  readonly key: Buffer;
  readonly revision: bigint;
}

/**
 * Creates `<prefix>/<nanoseconds since the epoch>` (Go
 * newUniqueEphemeralKV), under `leaseId` (0n: none), retrying with a new
 * name if that key exists.
 */
export async function createUniqueKey(client: Namespace, prefix: Buffer, value: string, leaseId: bigint, options: RequestOptions = {}): Promise<CreatedKey> {
  for (;;) {
    const key = joinKey(prefix, `/${unixNanos()}`);
    let result;
    try {
      result = await client.txn().if(Compare.version(key, '=', 0n)).then(Op.put(key, value, { lease: leaseId })).commit(options);
    } catch (error) {
      if (error instanceof LeaseNotFoundError) throw new SessionExpiredError(leaseId, 'the lease no longer exists', { cause: error });
      // It may have been applied: a key of this name under our lease is ours.
      if (leaseId !== 0n) await deleteIfLeased(client, key, leaseId);
      throw error;
    }
    if (result.succeeded) return { key, revision: result.header.revision };
  }
}
