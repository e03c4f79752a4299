/**
 * One 'abort' listener per AbortSignal, however many waiters the toolkit
 * has on it.
 *
 * Node warns (MaxListenersExceededWarning) once an EventTarget has more than
 * 10 listeners of one type, because that usually means a leak. The client
 * legitimately has many waiters on one signal: every call in flight waits on
 * the client's close signal, a hundred watches may share their caller's
 * signal, every waiter of a mutex queue waits on its session's signal.
 * Raising the limit would also hide a real leak, so instead the waiters of
 * each signal are kept in a set here and the signal itself carries a single
 * listener, removed as soon as the last waiter goes. A leak then shows as a
 * growing set (see abortWaiterCount), not as listeners piling up on the
 * signal.
 */

interface SignalWaiters {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

const waitersBySignal = new WeakMap<AbortSignal, SignalWaiters>();

/**
 * Calls `callback` once when `signal` aborts (not at all when it already
 * has: check `signal.aborted` first, as with addEventListener). Returns the
 * function that stops waiting; call it when the work the signal guards ends.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) return () => {};
  let waiters = waitersBySignal.get(signal);
  if (waiters === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      waitersBySignal.delete(signal);
      for (const waiting of [...callbacks]) {
        try {
          waiting();
        } catch (error) {
          // As EventTarget does: one failing waiter neither hides the error nor stops the others.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
      callbacks.clear();
    };
    waiters = { callbacks, listener };
    waitersBySignal.set(signal, waiters);
    signal.addEventListener('abort', listener, { once: true });
  }
  // A wrapper per registration, so that the same callback registered twice is two waiters.
  const registration = (): void => callback();
  const { callbacks, listener } = waiters;
  callbacks.add(registration);
  return () => {
    if (!callbacks.delete(registration) || callbacks.size > 0) return;
    if (waitersBySignal.get(signal)?.callbacks === callbacks) waitersBySignal.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/** How many waiters `signal` has here (for tests: 0 once every call on it has finished). */
export function abortWaiterCount(signal: AbortSignal): number {
  return waitersBySignal.get(signal)?.callbacks.size ?? 0;
}
