// @holdfast/recipes: coordination recipes over the etcd v3 API, interoperable
// with Go's clientv3/concurrency and contrib/recipes. See README.md.

export { Session, defaultSessionTtlSeconds } from './session.js';
export type { SessionOptions } from './session.js';
export { Mutex } from './mutex.js';
export { Election } from './election.js';
export { RWMutex } from './rwmutex.js';
export { Semaphore } from './semaphore.js';
export { Barrier, DoubleBarrier } from './barrier.js';
export { runStm, Isolation } from './stm.js';
export type { Stm, StmOptions } from './stm.js';
export { fence, fenceCompare, guard } from './fence.js';
export type { Fence } from './fence.js';
export type { WaitOptions } from './signals.js';
export { leaseIdHex } from './keys.js';
export { RecipeError, SessionExpiredError, SessionClosedError, LockNotHeldError, TooManyClientsError, StmConflictError, WaitEndedError } from './errors.js';
// Re-exported for convenience: proclaim() throws it when we no longer lead.
export { ElectionNotLeaderError } from '@holdfast/client';
