/**
 * Opening a member's data directory: the backend, the membership and the
 * WAL, and what of the WAL must be applied again.
 *
 * On disk (etcd's layout, our formats):
 *   <data-dir>/member/wal/   WAL segments (or --wal-dir)
 *   <data-dir>/member/db/    the lmdb backend
 *
 * Invariant checked here: the backend is never ahead of the WAL's
 * snapshot and the WAL has every entry after the backend's consistent
 * index; otherwise the start fails rather than serve a state that lost
 * acknowledged writes.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Backend, Wal, WalCorruptError, verifyBackendReadable } from '@holdfast/storage';
import { MvccStore } from '@holdfast/mvcc';
import type { ServerConfig } from '../config.js';
import { Membership } from '../membership.js';
import { readAppliedTerm, readConsistentIndex } from '../apply/applier.js';
import { logEntryTypeOf, type LogEntry } from '../log/replicated-log.js';

export interface RecoveredMember {
  readonly backend: Backend;
  readonly wal: Wal;
  readonly store: MvccStore;
  readonly membership: Membership;
  /** Committed entries after the backend's consistent index, to apply again in order. */
  readonly replay: readonly LogEntry[];
  /** The newest index the WAL or the backend knows. */
  readonly lastIndex: number;
  /** The newest term the WAL or the backend knows. */
  readonly term: number;
  /** Index of the WAL's last snapshot marker (0 if none). */
  readonly snapshotIndex: number;
}

/** Opens (or creates) the member in `config.dataDir`. On failure nothing is left open. */
export async function recoverMember(config: ServerConfig, logger: Logger): Promise<RecoveredMember> {
  const memberDir = join(config.dataDir, 'member');
  mkdirSync(memberDir, { recursive: true });
  const backendDirectory = join(memberDir, 'db');
  // A defragment a crash interrupted is finished or undone first, so the
  // file verified is the file served.
  Backend.recoverInterruptedDefragment(backendDirectory);
  await verifyBackendReadable(backendDirectory);
  const backend = Backend.open({ directory: backendDirectory });
  try {
    const membership = Membership.loadOrBootstrap(backend, config);
    const consistentIndex = readConsistentIndex(backend);
    const walLogger = { warn: (message: string, details?: Record<string, unknown>) => logger.warn(details ?? {}, message) };
    let wal: Wal;
    let replay: LogEntry[] = [];
    let lastIndex = consistentIndex;
    let term = readAppliedTerm(backend);
    let snapshotIndex = 0;
    if (await Wal.exists(config.walDir)) {
      const opened = await Wal.open(config.walDir, { snapshotIndex: consistentIndex, logger: walLogger });
      wal = opened.wal;
      snapshotIndex = opened.snapshotMarker.index;
      const first = opened.entries[0];
      if (first !== undefined && first.index > consistentIndex + 1) {
        throw new WalCorruptError(`wal: entries ${consistentIndex + 1}..${first.index - 1} are missing in ${config.walDir} (the backend is at index ${consistentIndex})`, config.walDir, 0);
      }
      if (snapshotIndex > consistentIndex) {
        throw new WalCorruptError(`wal: snapshot at index ${snapshotIndex} in ${config.walDir} is ahead of the backend (index ${consistentIndex}): the backend lost data`, config.walDir, 0);
      }
      replay = opened.entries.map((entry) => ({ index: entry.index, term: entry.term, type: logEntryTypeOf(entry.type), data: entry.data }));
      lastIndex = Math.max(lastIndex, opened.hardState.commit, replay[replay.length - 1]?.index ?? 0, snapshotIndex);
      term = Math.max(term, opened.hardState.term);
    } else {
      const metadata = Buffer.alloc(16);
      metadata.writeBigUInt64BE(membership.localId, 0);
      metadata.writeBigUInt64BE(membership.clusterId, 8);
      wal = await Wal.create(config.walDir, { metadata, logger: walLogger });
    }
    try {
      const store = MvccStore.open(backend, { warn: (message) => logger.warn(message) });
      return { backend, wal, store, membership, replay, lastIndex, term, snapshotIndex };
    } catch (error) {
      await wal.close().catch(() => {});
      throw error;
    }
  } catch (error) {
    await backend.close().catch(() => {});
    throw error;
  }
}
