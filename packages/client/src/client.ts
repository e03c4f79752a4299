/**
 * The client: one object per set of endpoints, holding the connections and
 * the watch and lease managers, with the whole v3 API.
 *
 *   const client = new Client({ endpoints: ['127.0.0.1:2379'] });
 *   await client.put('greeting', 'hello');
 *   const { kvs } = await client.get('greeting');
 *   client.close();
 *
 * Key-space methods (get, put, delete, txn, compact, watch, lease, lock,
 * election, namespace) come from Namespace; the member- and cluster-wide
 * services are here.
 */
import { AuthApi, authenticateWith } from './auth.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './client-options.js';
import { ClusterApi } from './cluster.js';
import { ConnectionPool } from './connection-pool.js';
import { KeySpace } from './key-space.js';
import { LeaseManager } from './lease.js';
import { MaintenanceApi } from './maintenance.js';
import { Namespace } from './namespace.js';
import { WatchManager } from './watch-manager.js';

export class Client extends Namespace {
  readonly maintenance: MaintenanceApi;
  readonly cluster: ClusterApi;
  readonly auth: AuthApi;
  /** The options in force, defaults filled in. */
  readonly options: ResolvedClientOptions;

  /** Connects lazily: nothing is dialled before the first call. Throws on invalid options. */
  constructor(options: ClientOptions) {
    const resolved = resolveClientOptions(options);
    const pool = new ConnectionPool(resolved);
    pool.setAuthenticator((username, password, authPool) => authenticateWith(authPool, username, password));
    super({ pool, watches: new WatchManager(pool), leases: new LeaseManager(pool) }, KeySpace.root);
    this.options = resolved;
    this.maintenance = new MaintenanceApi(pool);
    this.cluster = new ClusterApi(pool);
    this.auth = new AuthApi(pool);
  }

  /** host:port of every endpoint, as the client dials them. */
  get endpoints(): readonly string[] {
    return this.core.pool.endpointAddresses;
  }

  get closed(): boolean {
    return this.core.pool.closed;
  }

  /**
   * Ends every watch (iterators finish), stops every keepalive (leases then
   * expire on the server: revoke them first with lease.close() if they
   * should go at once), fails calls in flight with ClientClosedError, and
   * closes the connections.
   */
  close(): void {
    if (this.core.pool.closed) return;
    this.core.watches.close();
    this.core.leases.close();
    this.core.pool.close();
  }
}
