/** The etcdserverpb.Watch service: one WatchStream per call (see watch/watch-stream.ts). */
import type { etcdserverpb } from '@holdfast/proto';
import type { HoldfastServer } from '../holdfast-server.js';
import { serveWatchCall } from '../watch/watch-stream.js';

export function createWatchService(server: HoldfastServer): etcdserverpb.WatchServer {
  const context = server.watchStreamContext();
  return {
    watch: (call) => {
      const untrack = server.trackStream(call);
      const stream = serveWatchCall(call, context);
      call.on('close', () => {
        untrack();
        stream.close();
      });
    },
  };
}
