export { HoldfastServer, requestTimeoutMs } from './holdfast-server.js';
export type { ServerOptions } from './holdfast-server.js';
export { etcdCompatibleVersion, holdfastVersion } from './version.js';
export { defaultServerConfig, validateConfig, parseAutoCompactionRetention, parseDurationMs, minLeaseTtlSeconds, effectiveQuotaBytes, ConfigError, defaultQuotaBackendBytes } from './config.js';
export type { ServerConfig, AutoCompactionMode, LogLevel } from './config.js';
export { computeMemberId, computeClusterId, formatId } from './ids.js';
export * from './errors.js';
export { startEmbedded } from './embedded.js';
export type { EmbeddedOptions, EmbeddedServer } from './embedded.js';
