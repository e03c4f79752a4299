/**
 * v2 waits (GET ?wait=true, long polls and ?stream=true) on the watch hub.
 *
 * A wait is a hub watcher on everything under the v2 prefix from
 * `waitIndex` (or the next revision). The hub hands it whole revisions,
 * from history first (the backend) and then as they are applied; each
 * revision is turned into its v2 event (V2Store.eventOf) and matched as
 * etcd's v2 store matches it:
 *
 * - an event from before the wait began (history: etcd's EventHistory.scan)
 *   matches the watched key itself, anything below it when recursive, and
 *   a delete or expiry of a directory above it;
 * - a later event (etcd's watcherHub.notify) matches the watched key
 *   itself, anything below it when recursive except under a hidden ("_")
 *   name, and a watched node that a delete or expiry removed.
 *
 * Refreshes (TTL refreshes, ?refresh=true) are never sent, as in etcd.
 *
 * etcd keeps the last 1000 v2 events: an older waitIndex gets 401 "The
 * event in requested index is outdated and cleared". Holdfast keeps the
 * same window over revisions (v2 and v3 writes alike, since one revision
 * is one event when only v2 writes), and answers the same for history that
 * compaction removed.
 */
import type { HistoryEvent } from '@holdfast/mvcc';
import type { MemberApi } from '../member-api.js';
import type { Watcher, WatchSink } from '../../watch/watch-hub.js';
import type { V2Event } from './v2-json.js';
import { V2Error, v2RangeEnd, v2RangeStart, type V2Store } from './v2-store.js';

/** etcd's v2 event history: the last 1000 events. */
export const v2EventHistoryLength = 1000;

export interface WaitRequest {
  readonly path: string;
  readonly recursive: boolean;
  /** 0: from the next index. */
  readonly sinceIndex: bigint;
}

export interface WaitTarget {
  /** Delivers an event; returns false to end the wait (a long poll ends after one). */
  event(event: V2Event): boolean;
  /** History the wait needed was compacted away while it waited. */
  cleared(error: V2Error): void;
  /** False while the client is not reading (events then wait in the backend). */
  readonly writable: boolean;
}

export interface Wait {
  /** The store index when the wait began (X-Etcd-Index). */
  readonly startIndex: number;
  /** The target can take events again. */
  resume(): void;
  cancel(): void;
}

/** v2store's isHidden: a "_" name between the watched path and the key. */
function isHidden(watchPath: string, keyPath: string): boolean {
  if (watchPath.length > keyPath.length) return false;
  const after = `/${keyPath.slice(watchPath.length)}`.replace(/\/+/g, '/');
  return after.includes('/_');
}

/** EventHistory.scan's test, for events from before the wait began. */
export function matchesPast(event: V2Event, key: string, recursive: boolean): boolean {
  const nodeKey = event.node?.key ?? '';
  if (nodeKey === key) return true;
  if (recursive && nodeKey.startsWith(key.endsWith('/') ? key : `${key}/`)) return true;
  const prev = event.prevNode;
  return (event.action === 'delete' || event.action === 'expire') && prev?.dir === true && key.startsWith(prev.key);
}

/** watcherHub.notify's test, for events after the wait began; `removed` are the nodes the event removed. */
export function matchesNew(event: V2Event, removed: readonly string[], key: string, recursive: boolean): boolean {
  const nodeKey = event.node?.key ?? '';
  if (nodeKey === key) return true;
  const above = key === '/' || nodeKey.startsWith(`${key}/`);
  if (above && recursive && !isHidden(key, nodeKey)) return true;
  return removed.includes(key);
}

/** Starts a wait, or returns the 401 for a waitIndex outside the window. */
export function startWait(member: MemberApi, store: V2Store, request: WaitRequest, target: WaitTarget): Wait | V2Error {
  const current = member.store.currentRevision;
  const oldest = Math.max(1, current - (v2EventHistoryLength - 1), member.store.compactRevision);
  const since = request.sinceIndex === 0n ? current + 1 : request.sinceIndex > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(request.sinceIndex);
  if (since < oldest) return new V2Error(401, `the requested history has been cleared [${oldest}/${since}]`, current);

  let done = false;
  const sink: WatchSink = {
    get writable() {
      return !done && target.writable;
    },
    deliver: (_watcher: Watcher, events: readonly HistoryEvent[]) => {
      let from = 0;
      while (from < events.length && !done) {
        const revision = events[from]!.kv.modRevision;
        let to = from + 1;
        while (to < events.length && events[to]!.kv.modRevision === revision) to++;
        const made = store.eventOf(revision, events.slice(from, to));
        from = to;
        if (made === undefined || made.refresh) continue;
        const matches = revision <= current ? matchesPast(made.event, request.path, request.recursive) : matchesNew(made.event, made.removed, request.path, request.recursive);
        if (matches && !target.event(made.event)) cancel();
      }
    },
    compacted: (_watcher: Watcher, compactRevision: number) => {
      if (done) return;
      done = true;
      target.cleared(new V2Error(401, `the requested history has been cleared [${compactRevision}/${since}]`, member.store.currentRevision));
    },
    synced: () => {},
  };
  const watcher = member.watchHub.watch({ range: { start: v2RangeStart, end: v2RangeEnd }, startRevision: since, noPut: false, noDelete: false, sink });
  const cancel = (): void => {
    if (done) return;
    done = true;
    member.watchHub.cancel(watcher);
  };
  return {
    startIndex: current,
    resume: () => member.watchHub.resume(),
    cancel: () => {
      if (watcher.state !== 'canceled') member.watchHub.cancel(watcher);
      done = true;
    },
  };
}
