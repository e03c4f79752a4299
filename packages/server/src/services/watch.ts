/** The etcdserverpb.Watch service: one WatchStream per call (see watch/watch-stream.ts). */
import type { etcdserverpb } from '@holdfast/proto';
import { serveWatchCall, type WatchStreamContext } from '../watch/watch-stream.js';

export function createWatchService(context: WatchStreamContext): etcdserverpb.WatchServer {
  return {
    watch: (call) => {
      serveWatchCall(call, context);
    },
  };
}
