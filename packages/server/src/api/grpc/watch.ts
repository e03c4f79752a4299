/** The etcdserverpb.Watch service: one WatchStream per call (see watch/watch-stream.ts). */
import { etcdserverpb } from '@holdfast/proto';
import type { MemberApi, TrackStream } from '../member-api.js';
import { serveWatchCall } from '../../watch/watch-stream.js';
import { encodeWatchResponse } from '../../watch/watch-response-codec.js';

/** The Watch service with responses encoded by watch-response-codec.ts (each event once, however many watchers). */
export const watchServiceDefinition = {
  watch: { ...etcdserverpb.WatchService.watch, responseSerialize: encodeWatchResponse },
} as const satisfies typeof etcdserverpb.WatchService;

export function createWatchService(member: MemberApi, trackStream: TrackStream): etcdserverpb.WatchServer {
  const context = member.watchStreamContext();
  return {
    watch: (call) => {
      const untrack = trackStream(call);
      const stream = serveWatchCall(call, context);
      call.on('close', () => {
        untrack();
        stream.close();
      });
    },
  };
}
