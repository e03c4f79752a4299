/**
 * lease-keepalive: every client holds one lease and renews it over its own
 * LeaseKeepAlive stream, one renewal in flight at a time (etcd's
 * lease-keepalive benchmark). lease-grant: each operation grants a lease and
 * revokes it.
 */
import type { etcdserverpb } from '@holdfast/proto';
import { nowMs } from '../clock.js';
import { leaseGrant, leaseKeepAliveStream, leaseRevoke, type Connection } from '../connection.js';
import type { DuplexCall } from '../transport.js';
import { forEachBounded, runClientLoop, type LoadContext } from '../load-context.js';
import type { Workload } from './workload.js';

/** Grants and revokes in flight per worker during setup and teardown. */
export const setupConcurrencyMax = 32;

/**
 * One LeaseKeepAlive stream. Answers come back in request order, and a
 * client has one request in flight, so a FIFO of waiters matches them; it
 * never holds more than `waitersMax`.
 */
class KeepAliveStream {
  static readonly waitersMax = 1;
  private readonly call: DuplexCall<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>;
  private readonly waiters: Array<{ resolve: (response: etcdserverpb.LeaseKeepAliveResponse) => void; reject: (error: unknown) => void }> = [];
  broken: unknown = undefined;

  constructor(connection: Connection) {
    this.call = leaseKeepAliveStream(connection);
    this.call.on('data', (response: etcdserverpb.LeaseKeepAliveResponse) => this.waiters.shift()?.resolve(response));
    this.call.on('error', (error: unknown) => this.break(error));
    this.call.on('end', () => this.break(new Error('lease keepalive stream ended by the server')));
  }

  keepAlive(leaseId: bigint, timeoutMs: number): Promise<etcdserverpb.LeaseKeepAliveResponse> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    if (this.waiters.length >= KeepAliveStream.waitersMax) return Promise.reject(new Error('keepalive stream: a renewal is already in flight'));
    return new Promise((resolve, reject) => {
      // Without an answer in time the FIFO can no longer be trusted: give the stream up.
      const timer = setTimeout(() => this.break(new Error(`lease keepalive: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.call.write({ ID: leaseId });
    });
  }

  private break(error: unknown): void {
    if (this.broken === undefined) this.broken = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  close(): void {
    this.broken ??= new Error('closed');
    this.call.cancel();
  }
}

interface LeaseState {
  readonly leaseIds: Map<number, bigint>;
  readonly streams: Map<number, KeepAliveStream>;
}
const states = new WeakMap<LoadContext, LeaseState>();

export const leaseKeepAliveWorkload: Workload = {
  async setup(context) {
    const state: LeaseState = { leaseIds: new Map(), streams: new Map() };
    states.set(context, state);
    const { leaseTtlSeconds, requestTimeoutMs } = context.options;
    await forEachBounded(context.plan.clientIndices, setupConcurrencyMax, async (clientIndex) => {
      const granted = await leaseGrant(context.connectionFor(clientIndex), { TTL: BigInt(leaseTtlSeconds), ID: 0n }, requestTimeoutMs);
      if (granted.error !== '') throw new Error(`lease grant: ${granted.error}`);
      state.leaseIds.set(clientIndex, granted.ID);
    });
  },

  runClient(context, clientIndex) {
    const state = states.get(context)!;
    const leaseId = state.leaseIds.get(clientIndex)!;
    const connection = context.connectionFor(clientIndex);
    const { requestTimeoutMs } = context.options;
    return runClientLoop(context, async () => {
      let stream = state.streams.get(clientIndex);
      if (stream === undefined || stream.broken !== undefined) {
        // A broken stream was counted as an error already; renew over a fresh one.
        stream?.close();
        stream = new KeepAliveStream(connection);
        state.streams.set(clientIndex, stream);
      }
      const response = await stream.keepAlive(leaseId, requestTimeoutMs);
      if (response.TTL <= 0n) throw new Error('lease keepalive: lease expired or not found (TTL <= 0)');
    });
  },

  async teardown(context) {
    const state = states.get(context);
    if (state === undefined) return;
    for (const stream of state.streams.values()) stream.close();
    await revokeAll(context, [...state.leaseIds.entries()]);
  },
};

async function revokeAll(context: LoadContext, leases: Array<[number, bigint]>): Promise<void> {
  await forEachBounded(leases, setupConcurrencyMax, async ([clientIndex, leaseId]) => {
    await leaseRevoke(context.connectionFor(clientIndex), { ID: leaseId }, context.options.requestTimeoutMs).catch(() => undefined);
  });
}

export const leaseGrantWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { leaseTtlSeconds, requestTimeoutMs } = context.options;
    const grants = context.series('grant');
    const revokes = context.series('revoke');
    return runClientLoop(context, async () => {
      const grantStartedMs = nowMs();
      const granted = await leaseGrant(connection, { TTL: BigInt(leaseTtlSeconds), ID: 0n }, requestTimeoutMs);
      if (granted.error !== '') throw new Error(`lease grant: ${granted.error}`);
      const revokeStartedMs = nowMs();
      grants.recordMs(revokeStartedMs - grantStartedMs);
      await leaseRevoke(connection, { ID: granted.ID }, requestTimeoutMs);
      revokes.recordMs(nowMs() - revokeStartedMs);
    });
  },
};
