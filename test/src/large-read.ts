/**
 * Shared pieces of the large-read tests, attacks and measurements (issue 12,
 * findings 4 and 5): loading many keys fast, a probe that a new client would
 * be (new connection, Put + Range with a 1 s deadline, GET /health), a
 * full-keyspace Range, a watch from revision 1, and peak RSS from /proc.
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request as httpRequest } from 'node:http';
import { etcdserverpb, type mvccpb } from '@holdfast/proto';
import { ownConnection } from './kv-client.js';
import { peakRssBytes, rssBytes } from './adversarial/rss.js';

/** Puts per Txn while loading: below both servers' default --max-txn-ops (128). */
export const loadPutsPerTxn = 128;
/** Txns in flight per server while loading: enough to keep a server's apply loop busy, few enough for a 2-core machine. */
export const loadConcurrentTxns = 16;
/** Whole-keyspace reads and watches need answers above grpc-js's default 4 MiB receive limit. */
export const unlimitedReceive = { 'grpc.max_receive_message_length': -1 } as const;
/** The probe's deadline, the runner's and the issue's. */
export const probeDeadlineMs = 1000;

export function loadKey(index: number): Buffer {
  return Buffer.from(`large/${String(index).padStart(8, '0')}`);
}

function txn(client: etcdserverpb.KVClient, request: etcdserverpb.TxnRequest): Promise<void> {
  return new Promise((resolve, reject) => client.txn(request, (error: ServiceError | null) => (error ? reject(error) : resolve())));
}

function put(client: etcdserverpb.KVClient, request: etcdserverpb.PutRequest): Promise<void> {
  return new Promise((resolve, reject) => client.put(request, (error: ServiceError | null) => (error ? reject(error) : resolve())));
}

/**
 * Puts keys `large/00000000`.. `large/<count-1>` with `valueBytes`-byte
 * values, in Txns of `putsPerTxn` puts (1: plain Puts, one revision each), loadConcurrentTxns at a time, on
 * every endpoint at once (so Holdfast and etcd get the same data in one
 * wall-clock wait). Values differ per key so a wrong key/value pairing shows.
 */
export async function loadKeys(endpoints: readonly string[], count: number, valueBytes: number, putsPerTxn = loadPutsPerTxn): Promise<void> {
  await Promise.all(
    endpoints.map(async (endpoint) => {
      const client = new etcdserverpb.KVClient(endpoint, credentials.createInsecure(), ownConnection);
      let next = 0;
      try {
        await Promise.all(
          Array.from({ length: loadConcurrentTxns }, async () => {
            while (next < count) {
              const first = next;
              next = Math.min(count, next + putsPerTxn);
              if (putsPerTxn === 1) {
                await put(client, etcdserverpb.PutRequest.fromPartial({ key: loadKey(first), value: loadValue(first, valueBytes) }));
                continue;
              }
              const success: etcdserverpb.RequestOp[] = [];
              for (let i = first; i < next; i++) success.push({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: loadKey(i), value: loadValue(i, valueBytes) }) });
              await txn(client, etcdserverpb.TxnRequest.fromPartial({ success }));
            }
          }),
        );
      } finally {
        client.close();
      }
    }),
  );
}

export function loadValue(index: number, valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes, 0x61 + (index % 26));
  value.write(String(index), 0, 'latin1');
  return value;
}

/** A full-keyspace Range (key "\0", range_end "\0"), as `etcdctl get "" --from-key` sends it. */
export function rangeAll(endpoint: string, request: Partial<etcdserverpb.RangeRequest> = {}, deadlineMs = 600_000): Promise<etcdserverpb.RangeResponse> {
  const client = new etcdserverpb.KVClient(endpoint, credentials.createInsecure(), { ...ownConnection, ...unlimitedReceive });
  return new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
    client.range(
      etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), ...request }),
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, response) => (error ? reject(error) : resolve(response!)),
    ),
  ).finally(() => client.close());
}

export interface ProbeResult {
  /** Put then Range on a new connection, each with a 1 s deadline; -1 when it failed. */
  readonly kvMs: number;
  /** GET /health with a 1 s timeout; -1 when it failed or timed out. */
  readonly healthMs: number;
  readonly error?: string;
}

/** One probe: what a new client does, on a new connection. */
export async function probeOnce(host: string, port: number): Promise<ProbeResult> {
  const endpoint = `${host}:${port}`;
  const client = new etcdserverpb.KVClient(endpoint, credentials.createInsecure(), ownConnection);
  const deadline = () => ({ deadline: Date.now() + probeDeadlineMs });
  let kvMs = -1;
  let error: string | undefined;
  const started = performance.now();
  try {
    const key = Buffer.from(`probe/${process.pid}`);
    await new Promise<void>((resolve, reject) =>
      client.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from('p') }), new Metadata(), deadline(), (e: ServiceError | null) => (e ? reject(e) : resolve())),
    );
    await new Promise<void>((resolve, reject) =>
      client.range(etcdserverpb.RangeRequest.fromPartial({ key }), new Metadata(), deadline(), (e: ServiceError | null, response) =>
        e ? reject(e) : response!.kvs.length === 1 ? resolve() : reject(new Error('probe key missing')),
      ),
    );
    kvMs = performance.now() - started;
  } catch (caught) {
    error = `kv: ${(caught as Error).message}`;
  } finally {
    client.close();
  }
  const healthStarted = performance.now();
  const healthy = await new Promise<boolean>((resolve) => {
    const request = httpRequest({ host, port, path: '/health', timeout: probeDeadlineMs, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"health":"true"')));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
    request.end();
  });
  const healthMs = healthy ? performance.now() - healthStarted : -1;
  if (!healthy) error = `${error ?? ''} health: failed or over ${probeDeadlineMs} ms`.trim();
  return { kvMs, healthMs, ...(error === undefined ? {} : { error }) };
}

/**
 * Probes every `intervalMs` until stopped; the results in order. The probes
 * run in a child process (large-read-probe.ts), so that what they measure is
 * the server, not this process decoding a large answer meanwhile.
 */
export function probeRepeatedly(host: string, port: number, intervalMs = 250): { stop(): Promise<ProbeResult[]> } {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./large-read-probe.js', import.meta.url)), host, String(port), String(intervalMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      // Closing its stdin tells it to finish the probe under way and exit.
      child.stdin!.end();
      await exited;
      return output
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as ProbeResult);
    },
  };
}

/** Worst probe latency (ms; Infinity when a probe failed) and how many failed. */
export function summarizeProbes(results: readonly ProbeResult[]): { probes: number; failed: number; worstKvMs: number; worstHealthMs: number; firstError: string } {
  const failed = results.filter((result) => result.kvMs < 0 || result.healthMs < 0);
  const worst = (values: number[]) => (values.some((value) => value < 0) ? Infinity : Math.max(0, ...values));
  return {
    probes: results.length,
    failed: failed.length,
    worstKvMs: worst(results.map((result) => result.kvMs)),
    worstHealthMs: worst(results.map((result) => result.healthMs)),
    firstError: failed[0]?.error ?? '',
  };
}

/** Resets a process's peak RSS (the adversarial suite's helper). */
export { resetPeakRss } from './adversarial/rss.js';

/** VmHWM (peak resident set) and VmRSS of a process, in MiB. */
export function rssMegabytes(pid: number): { peakMb: number; currentMb: number } {
  return { peakMb: (peakRssBytes(pid) ?? NaN) / 1024 / 1024, currentMb: (rssBytes(pid) ?? NaN) / 1024 / 1024 };
}

export interface WatchCatchUpResult {
  readonly events: number;
  readonly elapsedMs: number;
  readonly responses: number;
}

/**
 * Watches every key from revision 1 and counts events until `expectedEvents`
 * arrived or `timeoutMs` passed; then cancels the stream. `inspect` sees
 * each event (content checks).
 */
export function watchFromRevisionOne(endpoint: string, expectedEvents: number, timeoutMs: number, inspect?: (event: mvccpb.Event) => void): Promise<WatchCatchUpResult> {
  const client = new etcdserverpb.WatchClient(endpoint, credentials.createInsecure(), { ...ownConnection, ...unlimitedReceive });
  const call = client.watch();
  let events = 0;
  let responses = 0;
  let lastRevision = 0n;
  const started = performance.now();
  return new Promise<WatchCatchUpResult>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      call.removeAllListeners('data');
      call.on('error', () => {});
      call.cancel();
      client.close();
      if (error !== undefined) reject(error);
      else resolve({ events, elapsedMs: performance.now() - started, responses });
    };
    const timer = setTimeout(() => finish(), timeoutMs);
    call.on('data', (response: etcdserverpb.WatchResponse) => {
      responses++;
      for (const event of response.events) {
        inspect?.(event);
        const revision = event.kv!.modRevision;
        if (revision < lastRevision) return finish(new Error(`watch: revision ${revision} after ${lastRevision}`));
        lastRevision = revision;
      }
      events += response.events.length;
      if (response.canceled) return finish(new Error(`watch canceled: ${response.cancelReason} (compact revision ${response.compactRevision})`));
      if (events >= expectedEvents) finish();
    });
    call.on('error', (error: Error) => finish(error));
    call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: 1n }) });
  });
}
