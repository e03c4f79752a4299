/**
 * The server's configuration: etcd's flags, their defaults, and validation.
 * One object, validated once at start; nothing reads flags elsewhere.
 */
import { join } from 'node:path';

export type AutoCompactionMode = 'periodic' | 'revision';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';

export interface ServerConfig {
  /** Human-readable name for this member (--name). */
  readonly name: string;
  /** Data directory (--data-dir); default "<name>.holdfast". */
  readonly dataDir: string;
  /** Dedicated WAL directory (--wal-dir); default "<data-dir>/member/wal". */
  readonly walDir: string;
  readonly listenClientUrls: readonly string[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  /** name=peerURL pairs (--initial-cluster). */
  readonly initialCluster: ReadonlyArray<{ name: string; peerUrl: string }>;
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  /** Applied entries between snapshots (--snapshot-count). */
  readonly snapshotCount: number;
  /** Backend size that raises the NOSPACE alarm (--quota-backend-bytes; 0 = default). */
  readonly quotaBackendBytes: number;
  /** Most ops in one txn branch (--max-txn-ops). */
  readonly maxTxnOps: number;
  /** Largest request the server accepts (--max-request-bytes). */
  readonly maxRequestBytes: number;
  readonly autoCompactionMode: AutoCompactionMode;
  /** "0" disables; periodic: a duration ("1h", "30m") or hours; revision: a count. */
  readonly autoCompactionRetention: string;
  readonly logLevel: LogLevel;
  /** Where logs go (--log-outputs): "stderr", "stdout", or file paths. */
  readonly logOutputs: readonly string[];
  /** Raft heartbeat interval (--heartbeat-interval). */
  readonly heartbeatIntervalMs: number;
  /** Raft election timeout (--election-timeout). */
  readonly electionTimeoutMs: number;
  /** Idle time before a progress_notify watcher gets an empty response (--experimental-watch-progress-notify-interval). */
  readonly watchProgressNotifyIntervalMs: number;
  /** Serve the v2 keys API on /v2/keys (--enable-v2; off by default, as in etcd 3.4). */
  readonly enableV2: boolean;
  /**
   * Streams each HTTP/2 connection of the client port may have open at once
   * (--max-concurrent-streams): advertised as SETTINGS_MAX_CONCURRENT_STREAMS,
   * streams past it refused with REFUSED_STREAM, as grpc-go does. etcd's
   * default, 2^32 - 1, leaves them unbounded; so does 0, which also leaves
   * the setting out of SETTINGS (grpc-go's reading of 0).
   */
  readonly maxConcurrentStreams: number;
}

/** etcd's default backend quota: 2 GiB. */
export const defaultQuotaBackendBytes = 2 * 1024 * 1024 * 1024;
/** etcd refuses quotas above 8 GiB. */
export const maxQuotaBackendBytes = 8 * 1024 * 1024 * 1024;
/** Extra room gRPC allows above --max-request-bytes before it refuses a message itself (etcd's). */
export const grpcOverheadBytes = 512 * 1024;
/** The largest --max-concurrent-streams (a uint32), and etcd's default: no bound. */
export const maxUint32 = 2 ** 32 - 1;

export function defaultServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const name = overrides.name ?? 'default';
  const dataDir = overrides.dataDir ?? `${name}.holdfast`;
  const initialAdvertisePeerUrls = overrides.initialAdvertisePeerUrls ?? ['http://localhost:2380'];
  const config: ServerConfig = {
    name,
    dataDir,
    walDir: overrides.walDir ?? join(dataDir, 'member', 'wal'),
    listenClientUrls: ['http://localhost:2379'],
    advertiseClientUrls: ['http://localhost:2379'],
    listenPeerUrls: ['http://localhost:2380'],
    initialAdvertisePeerUrls,
    initialCluster: overrides.initialCluster ?? initialAdvertisePeerUrls.map((peerUrl) => ({ name, peerUrl })),
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    snapshotCount: 100_000,
    quotaBackendBytes: 0,
    maxTxnOps: 128,
    maxRequestBytes: 1.5 * 1024 * 1024,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    logLevel: 'info',
    logOutputs: ['stderr'],
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    watchProgressNotifyIntervalMs: 10 * 60_000,
    enableV2: false,
    maxConcurrentStreams: maxUint32,
    ...overrides,
  };
  return config;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Throws ConfigError with etcd-like wording for the first problem found. */
export function validateConfig(config: ServerConfig): ServerConfig {
  const fail = (message: string): never => {
    throw new ConfigError(message);
  };
  if (config.name.length === 0) fail('--name must not be empty');
  for (const [flag, urls] of [
    ['--listen-client-urls', config.listenClientUrls],
    ['--advertise-client-urls', config.advertiseClientUrls],
    ['--listen-peer-urls', config.listenPeerUrls],
    ['--initial-advertise-peer-urls', config.initialAdvertisePeerUrls],
  ] as const) {
    if (urls.length === 0) fail(`${flag} must not be empty`);
    for (const url of urls) parseUrl(url, flag);
  }
  // No silent downgrade: an https:// listener needs a certificate, and
  // Holdfast takes none yet (--cert-file and the other TLS flags are
  // refused), so every https:// listener is refused with etcd's words for a
  // missing certificate rather than served in plain text.
  for (const url of config.listenClientUrls) {
    if (parseUrl(url, '--listen-client-urls').protocol === 'https') fail(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
  }
  for (const url of config.listenPeerUrls) {
    const { protocol, host, port } = parseUrl(url, '--listen-peer-urls');
    if (protocol === 'https') fail(`cannot listen on TLS for ${host}:${port}: KeyFile and CertFile are not presented`);
  }
  if (!config.initialCluster.some((member) => member.name === config.name)) {
    fail(`couldn't find local name "${config.name}" in the initial cluster configuration`);
  }
  // Until members replicate through Raft, each process is a cluster of its
  // own. Started from a multi-member --initial-cluster, every one of them
  // would lead and accept writes: split brain. Refuse instead.
  const memberNames = [...new Set(config.initialCluster.map((member) => member.name))];
  if (memberNames.length > 1) {
    fail(
      `--initial-cluster names ${memberNames.length} members (${memberNames.join(', ')}), but this Holdfast runs single-member clusters only ` +
        '(members do not replicate to each other yet); each member started this way would accept writes on its own',
    );
  }
  if (config.initialClusterState === 'existing') {
    fail('--initial-cluster-state existing: joining a running cluster needs the peer transport, which this Holdfast does not have yet');
  }
  if (!Number.isInteger(config.snapshotCount) || config.snapshotCount <= 0) fail('--snapshot-count must be a positive integer');
  if (!Number.isInteger(config.maxTxnOps) || config.maxTxnOps <= 0) fail('--max-txn-ops must be a positive integer');
  if (!Number.isInteger(config.maxRequestBytes) || config.maxRequestBytes <= 0) fail('--max-request-bytes must be a positive integer');
  if (!Number.isInteger(config.maxConcurrentStreams) || config.maxConcurrentStreams < 0 || config.maxConcurrentStreams > maxUint32) {
    fail(`--max-concurrent-streams must be an integer from 0 to ${maxUint32}`);
  }
  if (!Number.isInteger(config.quotaBackendBytes) || config.quotaBackendBytes < 0) fail('--quota-backend-bytes must be a non-negative integer');
  if (config.quotaBackendBytes > maxQuotaBackendBytes) {
    fail(`--quota-backend-bytes ${config.quotaBackendBytes} exceeds maximum recommended quota ${maxQuotaBackendBytes}`);
  }
  if (config.heartbeatIntervalMs <= 0 || config.electionTimeoutMs < 5 * config.heartbeatIntervalMs) {
    fail(`--election-timeout[${config.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${config.heartbeatIntervalMs}ms]`);
  }
  if (config.autoCompactionMode !== 'periodic' && config.autoCompactionMode !== 'revision') {
    fail(`unknown auto-compaction-mode ${String(config.autoCompactionMode)}`);
  }
  parseAutoCompactionRetention(config.autoCompactionMode, config.autoCompactionRetention);
  if (!Number.isFinite(config.watchProgressNotifyIntervalMs) || config.watchProgressNotifyIntervalMs <= 0) {
    fail('--experimental-watch-progress-notify-interval must be a positive duration');
  }
  return config;
}

/**
 * The smallest lease TTL, as etcd computes it: 1.5 election timeouts in
 * whole heartbeat ticks, rounded up to seconds (2 s with the defaults), so a
 * lease cannot expire before a new leader could have been elected.
 */
export function minLeaseTtlSeconds(config: ServerConfig): number {
  const electionTicks = Math.floor(config.electionTimeoutMs / config.heartbeatIntervalMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * config.heartbeatIntervalMs) / 1000);
}

/** The effective quota: 0 means etcd's default of 2 GiB. */
export function effectiveQuotaBytes(config: ServerConfig): number {
  return config.quotaBackendBytes === 0 ? defaultQuotaBackendBytes : config.quotaBackendBytes;
}

/**
 * --auto-compaction-retention: in periodic mode a Go-style duration ("1h",
 * "30m", "90s") or a bare number of hours; in revision mode a count of
 * revisions to keep. Returns 0 when auto compaction is off.
 */
export function parseAutoCompactionRetention(mode: AutoCompactionMode, retention: string): number {
  const trimmed = retention.trim();
  if (mode === 'revision') {
    if (!/^\d+$/.test(trimmed)) throw new ConfigError(`invalid auto-compaction-retention ${JSON.stringify(retention)} for revision mode`);
    return Number(trimmed);
  }
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 3_600_000;
  const totalMs = parseDurationMs(trimmed);
  if (totalMs === undefined) throw new ConfigError(`invalid auto-compaction-retention ${JSON.stringify(retention)} (want a duration like 1h or a number of hours)`);
  return totalMs;
}

/** A Go-style duration ("1h30m", "90s", "500ms") in milliseconds; undefined if malformed. */
export function parseDurationMs(value: string): number | undefined {
  const trimmed = value.trim();
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let totalMs = 0;
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    if (match.index !== consumed) break;
    totalMs += Number(match[1]) * units[match[2]!]!;
    consumed += match[0].length;
  }
  if (consumed !== trimmed.length || trimmed.length === 0) return undefined;
  return totalMs;
}

/** Parses a listen/advertise URL; only http and https (TLS comes later) on a host:port. */
export function parseUrl(url: string, flag: string): { protocol: 'http' | 'https'; host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${flag}: invalid URL ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${flag}: URL scheme must be http or https (got ${JSON.stringify(url)})`);
  }
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return { protocol: parsed.protocol === 'https:' ? 'https' : 'http', host: parsed.hostname.replace(/^\[|\]$/g, ''), port };
}
