/**
 * What a workload provides to a worker thread. Setup and teardown are not
 * measured; runClient is the measured request loop of one client.
 */
import type { LoadContext } from '../load-context.js';

export interface Workload {
  /** Once per worker before the start signal: open streams, grant leases. Throwing fails the run with the error. */
  setup?(context: LoadContext): Promise<void>;
  /** The request loop of client `clientIndex`; returns when no operation is left to claim. */
  runClient(context: LoadContext, clientIndex: number): Promise<void>;
  /** Once per worker after the finish signal: close streams, revoke leases. Errors are ignored. */
  teardown?(context: LoadContext): Promise<void>;
}
