/**
 * Test helpers: the toolkit's shared test support (servers, one suite per
 * server kind, a cuttable TCP proxy, waiting; see @holdfast/client's
 * README, "Test support"), service names, and etcdctl.
 */
import { execFile } from 'node:child_process';
import { uniqueName } from '@holdfast/client/test-support';

export { TcpProxy, describeWarnings, etcdctlSkipReason, forEachServer, repositoryRoot, sleep, testClientOptions, waitUntil, warningsDuring } from '@holdfast/client/test-support';
export type { ServerSuite } from '@holdfast/client/test-support';

/** A service name no other test uses. */
export function uniqueService(what: string): string {
  return uniqueName(what, 'registry-test/');
}

/** Runs etcdctl (API v3) against `endpoint`; rejects with its stderr on a non-zero exit. */
export function etcdctl(endpoint: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('etcdctl', ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`etcdctl ${args.join(' ')}: ${error.message}\n${stderr}`)),
    ),
  );
}
