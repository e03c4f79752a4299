// @holdfast/client/test-support: what the toolkit packages' tests share
// (servers to test against, suites per server kind, a cuttable proxy,
// waiting). For this repository's tests only; not part of the client's API.
export { TestServer, accepts, etcdSkipReason, etcdctlSkipReason, freePort, holdfastBin, repositoryRoot, serverStartTimeoutMs, serverStopTimeoutMs } from './servers.js';
export type { ServerKind } from './servers.js';
export { TcpProxy, describeWarnings, forEachServer, sleep, stillPending, testClientOptions, uniqueName, waitUntil, warningsDuring } from './helpers.js';
export type { ForEachServerOptions, ServerSuite } from './helpers.js';
