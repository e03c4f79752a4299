/**
 * The options of one benchmark run, their defaults, and their validation.
 * One plain object (structured-clone safe) travels from the command line to
 * every worker thread.
 */
import { availableParallelism } from 'node:os';
import { transportNames, type TransportName } from './transport.js';

export const workloadNames = [
  'put',
  'range',
  'txn-put',
  'txn-mixed',
  'watch',
  'watch-latency',
  'lease-keepalive',
  'lease-grant',
  'stm',
] as const;
export type WorkloadName = (typeof workloadNames)[number];

export type Consistency = 'l' | 's';

export interface WorkloadOptions {
  readonly workload: WorkloadName;
  /** host:port addresses; connection c goes to endpoints[c % length]. */
  readonly endpoints: readonly string[];
  /** TCP connections (gRPC channels) in total. */
  readonly conns: number;
  /** Concurrent clients in total, each with one request in flight; client i uses connection i % conns. */
  readonly clients: number;
  /** Operations to complete (successful or not); undefined: run for durationSeconds. */
  readonly total: number | undefined;
  /** Stop issuing after this long; undefined: run until total. With both, whichever comes first. */
  readonly durationSeconds: number | undefined;
  /** Cap on operations started per second across all clients; 0 is no cap. */
  readonly rateOpsPerSecond: number;
  readonly keySizeBytes: number;
  readonly valueSizeBytes: number;
  /** Keys are drawn from [0, keySpace). */
  readonly keySpace: number;
  /** Key of operation i is i % keySpace instead of a random one. */
  readonly sequentialKeys: boolean;
  /** Prepended to every generated key (keeps workloads' keys apart). */
  readonly keyPrefix: string;
  /** Worker threads generating the load; 0 picks min(conns, cores). */
  readonly workers: number;
  /**
   * Operations run before the measured run and then forgotten: they warm up
   * the generator's JIT and the server's caches. Split over the workers by
   * their share of clients. Not used by watch workloads (late warm-up events
   * would count in the measured run).
   */
  readonly warmupOps: number;
  /** Per-request deadline. */
  readonly requestTimeoutMs: number;
  /** How requests travel: lean gRPC on node:http2 (default) or grpc-js. */
  readonly transport: TransportName;

  // range
  readonly consistency: Consistency;
  /** Key read by `range`; written once (valueSizeBytes) before the run unless rangeNoPrefill. */
  readonly rangeKey: string;
  /** Optional range end (exclusive) for `range`. */
  readonly rangeEnd: string;
  readonly rangeLimit: number;
  readonly rangeNoPrefill: boolean;

  // txn-put / txn-mixed
  /** Puts per txn in `txn-put`. */
  readonly txnOps: number;
  /** Add one always-true compare (mod_revision(first key) < 2^62) to each `txn-put`, like a guarded write. */
  readonly txnCompare: boolean;
  /** Reads per write in `txn-mixed` (1 = half reads). */
  readonly readWriteRatio: number;

  // watch / watch-latency
  /** Watch streams in total; stream s uses connection s % conns. */
  readonly streams: number;
  readonly watchersPerStream: number;
  /** Distinct keys watched; watcher w watches key w % watchedKeys, put i writes key i % watchedKeys. */
  readonly watchedKeys: number;
  /** How long to wait after the last put for outstanding events. */
  readonly watchDrainTimeoutSeconds: number;

  // lease
  readonly leaseTtlSeconds: number;

  // stm
  readonly stmKeys: number;
  readonly stmKeysPerTxn: number;
  /** Percentage of the keys read in a transaction that it also writes. */
  readonly stmWritePercent: number;
  /** Retries of one conflicting transaction before it counts as an error. */
  readonly stmMaxRetries: number;

  // output
  readonly quiet: boolean;
  readonly json: boolean;
}

export const defaultOptions: Omit<WorkloadOptions, 'workload'> = {
  endpoints: ['127.0.0.1:2379'],
  conns: 1,
  clients: 1,
  total: 10_000,
  durationSeconds: undefined,
  rateOpsPerSecond: 0,
  keySizeBytes: 8,
  valueSizeBytes: 8,
  keySpace: 1,
  sequentialKeys: false,
  keyPrefix: '',
  workers: 0,
  warmupOps: 0,
  requestTimeoutMs: 30_000,
  transport: 'http2',
  consistency: 'l',
  rangeKey: 'bench-range-key',
  rangeEnd: '',
  rangeLimit: 0,
  rangeNoPrefill: false,
  txnOps: 1,
  txnCompare: false,
  readWriteRatio: 1,
  streams: 10,
  watchersPerStream: 10,
  watchedKeys: 10,
  watchDrainTimeoutSeconds: 10,
  leaseTtlSeconds: 60,
  stmKeys: 100,
  stmKeysPerTxn: 2,
  stmWritePercent: 50,
  stmMaxRetries: 1000,
  quiet: false,
  json: false,
};

/** Per-workload defaults that differ from the common ones (as in etcd's benchmark). */
export const workloadDefaults: Partial<Record<WorkloadName, Partial<WorkloadOptions>>> = {
  // One writer at a steady rate, many watchers of one key: the latency of a single event.
  'watch-latency': { clients: 1, total: 1_000, rateOpsPerSecond: 100, watchedKeys: 1, streams: 10, watchersPerStream: 1, valueSizeBytes: 32 },
  watch: { valueSizeBytes: 32 },
  stm: { keyPrefix: 'stm/' },
};

/** Bounds that keep one run's memory and shared counters in range. */
export const limits = {
  /** Shared op counters are Int32; keep a total well inside them. */
  totalMax: 2_000_000_000,
  connsMax: 10_000,
  clientsMax: 100_000,
  streamsMax: 10_000,
  watchersMax: 1_000_000,
  /** One shared Int32 counter per watched key. */
  watchedKeysMax: 1_000_000,
  valueSizeBytesMax: 1_572_864,
  keySizeBytesMax: 64 * 1024,
  /** etcd's default --max-txn-ops. */
  txnOpsMax: 128,
} as const;

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export function resolveOptions(workload: WorkloadName, given: Partial<WorkloadOptions>): WorkloadOptions {
  const definedGiven = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as Partial<WorkloadOptions>;
  const options: WorkloadOptions = { ...defaultOptions, ...workloadDefaults[workload], ...definedGiven, workload };
  // --duration alone means "for that long", not "10,000 ops or that long".
  const withDuration = given.durationSeconds !== undefined && given.total === undefined ? { ...options, total: undefined } : options;
  validateOptions(withDuration);
  return withDuration;
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new OptionsError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
}

export function validateOptions(options: WorkloadOptions): void {
  if (!(workloadNames as readonly string[]).includes(options.workload)) throw new OptionsError(`unknown workload ${options.workload}`);
  if (options.endpoints.length === 0) throw new OptionsError('--endpoints names no endpoint');
  for (const endpoint of options.endpoints) {
    if (!/^[^\s/]+:\d+$/.test(endpoint)) throw new OptionsError(`endpoint ${JSON.stringify(endpoint)} is not host:port`);
  }
  requireInteger('--conns', options.conns, 1, limits.connsMax);
  requireInteger('--clients', options.clients, 1, limits.clientsMax);
  if (options.total === undefined && options.durationSeconds === undefined) throw new OptionsError('give --total or --duration');
  if (options.total !== undefined) requireInteger('--total', options.total, 1, limits.totalMax);
  if (options.durationSeconds !== undefined && !(options.durationSeconds > 0)) throw new OptionsError('--duration must be > 0 seconds');
  if (!(options.rateOpsPerSecond >= 0)) throw new OptionsError('--rate must be >= 0');
  requireInteger('--key-size', options.keySizeBytes, 1, limits.keySizeBytesMax);
  requireInteger('--val-size', options.valueSizeBytes, 0, limits.valueSizeBytesMax);
  requireInteger('--key-space', options.keySpace, 1, limits.totalMax);
  if (options.keySpace > 10 ** Math.min(options.keySizeBytes, 15)) {
    throw new OptionsError(`--key-space ${options.keySpace} needs --key-size >= ${String(options.keySpace - 1).length} (keys are zero-padded decimal)`);
  }
  requireInteger('--workers', options.workers, 0, 1024);
  requireInteger('--warmup', options.warmupOps, 0, limits.totalMax);
  requireInteger('--request-timeout', options.requestTimeoutMs, 1, 3_600_000);
  if (!transportNames.includes(options.transport)) throw new OptionsError(`--transport must be one of ${transportNames.join(', ')}`);
  if (options.consistency !== 'l' && options.consistency !== 's') throw new OptionsError('--consistency must be l or s');
  requireInteger('--limit', options.rangeLimit, 0, limits.totalMax);
  requireInteger('--txn-ops', options.txnOps, 1, limits.txnOpsMax);
  if (options.workload === 'txn-put' && options.txnOps > options.keySpace) throw new OptionsError('--txn-ops cannot exceed --key-space (keys in one txn must differ)');
  if (!(options.readWriteRatio >= 0)) throw new OptionsError('--rw-ratio must be >= 0');
  requireInteger('--streams', options.streams, 1, limits.streamsMax);
  requireInteger('--watchers-per-stream', options.watchersPerStream, 1, limits.watchersMax);
  if (options.streams * options.watchersPerStream > limits.watchersMax) throw new OptionsError(`at most ${limits.watchersMax} watchers in total`);
  requireInteger('--watched-keys', options.watchedKeys, 1, limits.watchedKeysMax);
  if (options.watchedKeys > 10 ** Math.min(options.keySizeBytes, 15)) throw new OptionsError('--watched-keys needs a larger --key-size');
  if ((options.workload === 'watch' || options.workload === 'watch-latency') && options.valueSizeBytes < 8) {
    throw new OptionsError('watch workloads carry the send time in the value: --val-size must be >= 8');
  }
  if (!(options.watchDrainTimeoutSeconds >= 0)) throw new OptionsError('--drain-timeout must be >= 0');
  requireInteger('--lease-ttl', options.leaseTtlSeconds, 1, 9_000_000_000);
  requireInteger('--stm-keys', options.stmKeys, 1, limits.watchedKeysMax);
  requireInteger('--keys-per-txn', options.stmKeysPerTxn, 1, Math.min(options.stmKeys, limits.txnOpsMax));
  requireInteger('--txn-wr-percent', options.stmWritePercent, 0, 100);
  if (options.workload === 'stm' && options.valueSizeBytes < 8) throw new OptionsError('stm keeps a counter in the value: --val-size must be >= 8');
  if (options.stmKeys > 10 ** Math.min(options.keySizeBytes, 15)) throw new OptionsError('--stm-keys needs a larger --key-size');
  requireInteger('--stm-max-retries', options.stmMaxRetries, 0, 1_000_000);
}

/** Worker threads for a run: never more than connections (a connection lives in one thread). */
export function workerCountFor(options: WorkloadOptions): number {
  const wanted = options.workers > 0 ? options.workers : Math.min(options.conns, availableParallelism());
  return Math.max(1, Math.min(wanted, options.conns));
}
