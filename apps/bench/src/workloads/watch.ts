/**
 * watch and watch-latency: watchers on streams, writers putting to the
 * watched keys, and the time from a put being sent to each watcher receiving
 * its event.
 *
 * Watcher w (global index stream * watchersPerStream + j) watches key
 * w % watchedKeys; put i writes key i % watchedKeys. Every put value starts
 * with the send time (a float64 of the process-wide monotonic clock), so the
 * watcher thread computes put-to-event latency without any bookkeeping
 * shared with the writer thread.
 *
 * The headline latency is put-to-event; put latency is the "put" series.
 * Writers count their successful puts per key in a shared array, from which
 * the main thread knows how many events to wait for.
 */
import { etcdserverpb } from '@holdfast/proto';
import { nowMs } from '../clock.js';
import { put, watchStream } from '../connection.js';
import type { DuplexCall } from '../transport.js';
import { runClientLoop, type LoadContext } from '../load-context.js';
import { putRequest } from './kv.js';
import type { Workload } from './workload.js';

const emptyBuffer = Buffer.alloc(0);

interface WatchState {
  readonly calls: Array<DuplexCall<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>>;
  finishing: boolean;
}
const states = new WeakMap<LoadContext, WatchState>();

/** How many of `watcherCount` watchers watch each of `watchedKeys` keys. */
export function watchersPerKey(watcherCount: number, watchedKeys: number): number[] {
  return Array.from({ length: watchedKeys }, (_, k) => Math.floor(watcherCount / watchedKeys) + (k < watcherCount % watchedKeys ? 1 : 0));
}

function watchCreateRequest(key: Buffer): etcdserverpb.WatchRequest {
  return {
    createRequest: { key, rangeEnd: emptyBuffer, startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false },
  };
}

/** Opens one stream with its watchers; resolves when the server confirmed every one. */
function openStream(context: LoadContext, state: WatchState, streamIndex: number): Promise<void> {
  const { watchersPerStream, watchedKeys, requestTimeoutMs } = context.options;
  const call = watchStream(context.connectionFor(streamIndex));
  state.calls.push(call);
  return new Promise<void>((resolve, reject) => {
    let created = 0;
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`watch stream ${streamIndex}: ${watchersPerStream - created} watchers not created within ${requestTimeoutMs} ms`)), requestTimeoutMs);
    function fail(error: unknown): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    }
    call.on('data', (response: etcdserverpb.WatchResponse) => {
      if (response.created) {
        if (response.canceled) return fail(new Error(`watch create refused: ${response.cancelReason}`));
        created += 1;
        if (created === watchersPerStream && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      } else if (response.canceled && !state.finishing) {
        context.recordError(new Error(`watch canceled by the server: ${response.cancelReason || 'no reason given'}`));
      }
      const events = response.events;
      if (events.length === 0) return;
      const receivedMs = nowMs();
      for (const event of events) {
        const value = event.kv?.value;
        if (value !== undefined && value.length >= 8) context.latency.recordMs(receivedMs - value.readDoubleLE(0));
      }
      context.recordEvents(events.length);
      context.lastCompletionMs = receivedMs;
    });
    call.on('error', (error: unknown) => {
      if (state.finishing) return;
      if (!settled) return fail(error);
      context.recordError(error);
    });
    // Ignore the end of the response stream; errors and events are all that matter.
    call.on('end', () => undefined);
    for (let j = 0; j < watchersPerStream; j++) {
      const watcher = streamIndex * watchersPerStream + j;
      call.write(watchCreateRequest(context.keys.key(watcher % watchedKeys)));
    }
  });
}

export const watchWorkload: Workload = {
  async setup(context) {
    const state: WatchState = { calls: [], finishing: false };
    states.set(context, state);
    await Promise.all(context.plan.streamIndices.map((streamIndex) => openStream(context, state, streamIndex)));
  },

  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { watchedKeys, valueSizeBytes, requestTimeoutMs } = context.options;
    const putsPerKey = new Int32Array(context.plan.putsPerKey!);
    return runClientLoop(
      context,
      async (opIndex) => {
        const keyNumber = opIndex % watchedKeys;
        const value = Buffer.allocUnsafe(valueSizeBytes);
        context.value.copy(value);
        value.writeDoubleLE(nowMs(), 0);
        await put(connection, putRequest(context.keys.key(keyNumber), value), requestTimeoutMs);
        Atomics.add(putsPerKey, keyNumber, 1);
      },
      context.series('put'),
    );
  },

  async teardown(context) {
    const state = states.get(context);
    if (state === undefined) return;
    state.finishing = true;
    for (const call of state.calls) call.cancel();
  },
};
