/**
 * Test helpers: the toolkit's shared test support (servers, one suite per
 * server kind, waiting; see @holdfast/client's README, "Test support"), plus
 * sessions that are always closed and names no other test uses.
 */
import type { Client } from '@holdfast/client';
import { forEachServer as forEachServerKind, uniqueName as uniqueNameWithPrefix, type ServerKind, type ServerSuite as ClientSuite } from '@holdfast/client/test-support';
import { Session, type SessionOptions } from '../src/index.js';

export { describeWarnings, etcdctlSkipReason, repositoryRoot, sleep, stillPending, testClientOptions, waitUntil, warningsDuring } from '@holdfast/client/test-support';

export interface ServerSuite extends ClientSuite {
  /** A session on `client` (default: the shared one), closed after the suite, before its clients. */
  newSession(client?: Client, options?: SessionOptions): Promise<Session>;
}

/** Runs `body` against a fresh Holdfast and a fresh etcd (skipped, with the reason, when etcd is not installed). */
export function forEachServer(title: string, body: (suite: ServerSuite) => void): void {
  for (const kind of ['holdfast', 'etcd'] as const satisfies readonly ServerKind[]) {
    const sessions: Session[] = [];
    const closeSessions = async (): Promise<void> => {
      for (const session of sessions.splice(0)) await session.close({ timeoutMs: 2_000 }).catch(() => {});
    };
    forEachServerKind(
      title,
      (suite) =>
        body({
          ...suite,
          newSession: async (on, options) => {
            const session = await Session.create(on ?? suite.client(), { ttlSeconds: 10, ...options });
            sessions.push(session);
            return session;
          },
        }),
      { kinds: [kind], beforeClose: closeSessions },
    );
  }
}

/** A unique name per test, so tests of one suite never share keys. */
export function uniqueName(what: string): string {
  return uniqueNameWithPrefix(what, '/recipes-test/');
}
