/**
 * Test helpers: the toolkit's shared test support (servers, one suite per
 * server kind, a cuttable TCP proxy, waiting; see @holdfast/client's
 * README, "Test support"), and names no other test uses.
 */
import { uniqueName as uniqueNameWithPrefix } from '@holdfast/client/test-support';

export { TcpProxy, forEachServer, repositoryRoot, sleep, testClientOptions, waitUntil } from '@holdfast/client/test-support';
export type { ServerSuite } from '@holdfast/client/test-support';

/** A topic, group or consumer name no other test uses. */
export function uniqueName(what: string): string {
  return uniqueNameWithPrefix(what);
}
