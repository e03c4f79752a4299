/**
 * Errors of the recipes. Every one is a RecipeError; use `instanceof`.
 * Server and transport failures pass through as the client's EtcdError
 * classes, and an aborted wait rejects with the signal's reason.
 *
 * Elections reuse the client's ElectionNotLeaderError ("election: not
 * leader"), the error the Election service and Go's concurrency package give.
 */

export class RecipeError extends Error {
  override name = 'RecipeError';
}

/**
 * The session's lease is gone (revoked, expired, or no longer provably
 * alive), so whatever it was to hold is not held: a lock or leadership
 * reached after waiting in the queue, or a wait in progress. The Jepsen
 * finding against etcd's lock: a waiter whose lease expired while it waited
 * must not report the lock as held.
 */
export class SessionExpiredError extends RecipeError {
  override name = 'SessionExpiredError';
  constructor(
    readonly leaseId: bigint,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`session (lease ${leaseId.toString(16)}) expired: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The session was closed (or orphaned) before or during the call. */
export class SessionClosedError extends RecipeError {
  override name = 'SessionClosedError';
  constructor(readonly leaseId: bigint) {
    super(`session (lease ${leaseId.toString(16)}) is closed`);
  }
}

/** A fence, guard or release asked of a lock (or semaphore slot) this object does not hold. */
export class LockNotHeldError extends RecipeError {
  override name = 'LockNotHeldError';
  constructor(what: string) {
    super(`${what} is not held`);
  }
}

/** A DoubleBarrier found more participants than its count (Go recipe.ErrTooManyClients). */
export class TooManyClientsError extends RecipeError {
  override name = 'TooManyClientsError';
  constructor(
    readonly count: number,
    readonly found: number,
  ) {
    super(`double barrier for ${count} participants found ${found}`);
  }
}

/** An STM transaction did not commit within its retriesMax attempts. */
export class StmConflictError extends RecipeError {
  override name = 'StmConflictError';
  constructor(readonly attempts: number) {
    super(`STM transaction conflicted ${attempts} times; giving up`);
  }
}

/** A watch the recipe waited on ended without an error (the client closed). */
export class WaitEndedError extends RecipeError {
  override name = 'WaitEndedError';
  constructor(what: string) {
    super(`stopped waiting for ${what}: the watch ended (was the client closed?)`);
  }
}
