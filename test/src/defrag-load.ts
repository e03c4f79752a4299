/**
 * Load for the defragment tests and attack: fill a server with 1 KiB values
 * quickly (many puts per Txn), grant leases, defragment over gRPC, and probe
 * latency while something slow runs. Works against Holdfast and etcd alike.
 */
import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { request as httpRequest } from 'node:http';
import { etcdserverpb } from '@holdfast/proto';
import { ownConnection, type TestKvClient, type TestLeaseClient } from './kv-client.js';

/** Puts per Txn when filling; etcd's --max-txn-ops default is 128. */
export const fillPutsPerTxn = 100;
/** Txns in flight while filling. */
export const fillConcurrency = 16;
/** Lease grants in flight. */
export const leaseGrantConcurrency = 64;

export function fillKey(prefix: string, index: number): string {
  return `${prefix}/${String(index).padStart(9, '0')}`;
}

/** The value stored under fillKey(prefix, index): `valueBytes` long, naming its key, so a misplaced value shows. */
export function fillValue(prefix: string, index: number, valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes, '.');
  value.write(fillKey(prefix, index));
  return value;
}

export interface FillResult {
  /** Keys acknowledged (every put of an acknowledged Txn). */
  readonly acknowledged: number;
  /** True if the server answered "database space exceeded" (NOSPACE). */
  readonly full: boolean;
  readonly revision: bigint;
}

/**
 * Writes keys prefix/0.. in Txns of fillPutsPerTxn puts until `count` keys
 * are acknowledged or the quota is reached. Keys are acknowledged in Txn
 * order per worker; a gap never hides an acknowledged key because every Txn
 * covers a distinct index range.
 */
export async function fillKeys(kv: TestKvClient, prefix: string, count: number, valueBytes: number, onAcknowledged?: (from: number, to: number) => void): Promise<FillResult> {
  let next = 0;
  let acknowledged = 0;
  let full = false;
  let revision = 0n;
  await Promise.all(
    Array.from({ length: fillConcurrency }, async () => {
      while (!full && next < count) {
        const from = next;
        const to = Math.min(count, from + fillPutsPerTxn);
        next = to;
        const success = [];
        for (let index = from; index < to; index++) {
          success.push({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(fillKey(prefix, index)), value: fillValue(prefix, index, valueBytes) }) });
        }
        try {
          const response = await kv.txn({ success });
          acknowledged += to - from;
          if (response.header!.revision > revision) revision = response.header!.revision;
          onAcknowledged?.(from, to);
        } catch (error) {
          if ((error as ServiceError).details?.includes('database space exceeded')) full = true;
          else throw error;
        }
      }
    }),
  );
  return { acknowledged, full, revision };
}

/** Grants `count` leases with `ttlSeconds`; returns their ids. */
export async function grantLeases(lease: TestLeaseClient, count: number, ttlSeconds: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: leaseGrantConcurrency }, async () => {
      while (next < count) {
        next++;
        ids.push((await lease.grant(ttlSeconds)).ID);
      }
    }),
  );
  return ids;
}

/** The Maintenance calls the defragment tests need. */
export class TestMaintenanceClient {
  private readonly client: etcdserverpb.MaintenanceClient;
  constructor(endpoint: string) {
    this.client = new etcdserverpb.MaintenanceClient(endpoint, credentials.createInsecure(), ownConnection);
  }
  defragment(deadlineMs: number): Promise<etcdserverpb.DefragmentResponse> {
    return new Promise((resolve, reject) => this.client.defragment({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response))));
  }
  status(): Promise<etcdserverpb.StatusResponse> {
    return new Promise((resolve, reject) => this.client.status({}, (error, response) => (error ? reject(error) : resolve(response))));
  }
  close(): void {
    this.client.close();
  }
}

/** Latencies of one kind of probe request while something ran. */
export interface ProbeLatencies {
  readonly answered: number;
  readonly failed: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export function summarize(latenciesMs: readonly number[], failed: number): ProbeLatencies {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
  return { answered: sorted.length, failed, maxMs: Math.round(sorted[sorted.length - 1] ?? 0), p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** Bound on one probe request; past it the probe counts a failure (the 1 s deadline of the adversarial probe). */
export const probeDeadlineMs = 1_000;
/** Pause between probes of one kind. */
export const probeIntervalMs = 20;

/**
 * Probes GET /health and a one-key serializable Range in a loop until
 * `until` settles, each with probeDeadlineMs; returns how many were
 * answered (any HTTP status) in time and their latencies.
 */
export async function probeWhile(host: string, port: number, kv: TestKvClient, rangeKey: string, until: Promise<unknown>): Promise<{ health: ProbeLatencies; range: ProbeLatencies }> {
  let done = false;
  void until.finally(() => (done = true));
  const loop = async (probe: () => Promise<void>) => {
    const latencies: number[] = [];
    let failed = 0;
    while (!done) {
      const started = performance.now();
      try {
        await probe();
        latencies.push(performance.now() - started);
      } catch {
        failed++;
      }
      await new Promise((resolve) => setTimeout(resolve, probeIntervalMs));
    }
    return summarize(latencies, failed);
  };
  const [health, range] = await Promise.all([
    loop(() => getHealth(host, port)),
    loop(async () => {
      await Promise.race([
        kv.range({ key: Buffer.from(rangeKey), serializable: true }),
        new Promise((_, reject) => setTimeout(() => reject(new Error('range probe deadline')), probeDeadlineMs)),
      ]);
    }),
  ]);
  return { health, range };
}

function getHealth(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port, path: '/health', timeout: probeDeadlineMs }, (response) => {
      response.resume();
      // Any answer counts: a full backend (NOSPACE) makes /health answer 503, as etcd's does.
      response.on('end', () => resolve());
    });
    request.on('timeout', () => request.destroy(new Error('health probe deadline')));
    request.on('error', reject);
    request.end();
  });
}
