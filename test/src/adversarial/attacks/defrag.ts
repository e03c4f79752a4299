/**
 * Compact + defragment a full backend under a probe (issue 12, finding 1).
 *
 * Grants leases, fills the backend with 1 KiB values (long scale: until the
 * quota answers NOSPACE, the issue's ~2 GiB), deletes some keys (short:
 * half; long: none, as in the issue), compacts, then defragments while GET /health and a serializable Range are
 * probed every 20 ms with a 1 s deadline. Reports the defragment's time and
 * the probes' latencies; afterwards the runner's probe and key check show
 * the server still serves everything it acknowledged.
 *
 * Holdfast answers the probes during the copy (it yields every 1 MiB copied);
 * etcd 3.4 holds its backend lock for the whole defragment, so its probes
 * wait (or miss their deadline) until it ends.
 */
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';
import { defaultPeakRssBoundBytes } from '../run.js';
import { removeDirectory, temporaryDirectory } from '../../support.js';
import { TestKvClient, TestLeaseClient, ownConnection } from '../../kv-client.js';
import { TestMaintenanceClient, fillKey, fillKeys, grantLeases, probeWhile } from '../../defrag-load.js';

interface Scale {
  /** Keys of valueBytes written at most (the quota may stop the fill first). */
  readonly keys: number;
  readonly leases: number;
  readonly valueBytes: number;
  /** Share of the keys deleted before the compaction (free pages for the defragment to drop). */
  readonly deletedShare: number;
  /** Bound on the defragment call. */
  readonly defragmentDeadlineMs: number;
}

/**
 * short: CI (a few seconds, ~10 MB, half the keys deleted); long: the
 * issue's steps (100,000 leases, 1 KiB values until the 2 GiB quota answers
 * NOSPACE, compact, defragment: the whole ~2 GiB is copied).
 */
export const defragScales: Record<AttackScale, Scale> = {
  short: { keys: 8_000, leases: 1_000, valueBytes: 1024, deletedShare: 0.5, defragmentDeadlineMs: 60_000 },
  long: { keys: 2_400_000, leases: 100_000, valueBytes: 1024, deletedShare: 0, defragmentDeadlineMs: 600_000 },
};

/** TTL of the granted leases: longer than the attack, so none expires during it. */
const leaseTtlSeconds = 3_600;

export const attack: Attack = {
  name: 'defrag',
  description: 'grant leases, fill with 1 KiB values (long: 100,000 leases, to the 2 GiB quota), compact, defragment under a /health + Range probe',
  // A server of its own: the long form leaves the backend full (NOSPACE),
  // which would refuse the next attacks' seed writes.
  async placement(kind) {
    const dataDir = temporaryDirectory(`defrag-${kind}`);
    return { dataDir, release: () => removeDirectory(dataDir) };
  },
  // The long form copies a 2 GiB file into a new one while both are mapped:
  // the pages read and written count in RSS (measured 3,206 MiB), though the
  // kernel can drop them at will. The short form stays under the default.
  peakRssBoundBytes: (scale) => (scale === 'long' ? 4 * 1024 ** 3 : defaultPeakRssBoundBytes),
  async run(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
    const { keys, leases, valueBytes, deletedShare, defragmentDeadlineMs } = defragScales[scale];
    const large = { ...ownConnection, 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
    const kv = new TestKvClient(target.endpoint, large);
    const probeKv = new TestKvClient(target.endpoint, ownConnection);
    const lease = new TestLeaseClient(target.endpoint, ownConnection);
    const maintenance = new TestMaintenanceClient(target.endpoint);
    try {
      const granted = await grantLeases(lease, leases, leaseTtlSeconds);
      const fillStarted = performance.now();
      const filled = await fillKeys(kv, 'defrag', keys, valueBytes);
      const fillMs = performance.now() - fillStarted;
      let revision = filled.revision;
      const deleted = Math.floor(filled.acknowledged * deletedShare);
      if (deleted > 0) {
        revision = (await kv.deleteRange({ key: Buffer.from(fillKey('defrag', 0)), rangeEnd: Buffer.from(fillKey('defrag', deleted)) })).header!.revision;
      }
      const compactStarted = performance.now();
      await kv.compact(revision, true);
      const compactMs = performance.now() - compactStarted;
      const before = await maintenance.status();
      const started = performance.now();
      let defragmentError = '';
      const defragmented = maintenance.defragment(defragmentDeadlineMs).catch((error: Error) => {
        defragmentError = error.message;
      });
      const probes = await probeWhile(target.host, target.port, probeKv, fillKey('defrag', filled.acknowledged - 1), defragmented);
      const defragmentMs = performance.now() - started;
      const after = await maintenance.status();
      return {
        leasesGranted: granted.length,
        keysAcknowledged: filled.acknowledged,
        quotaReached: filled.full,
        fillMs: Math.round(fillMs),
        keysDeleted: deleted,
        compactMs: Math.round(compactMs),
        dbSizeBeforeBytes: Number(before.dbSize),
        dbSizeAfterBytes: Number(after.dbSize),
        defragmentMs: Math.round(defragmentMs),
        defragmentError,
        healthAnswered: probes.health.answered,
        healthFailed: probes.health.failed,
        healthMaxMs: probes.health.maxMs,
        healthP99Ms: probes.health.p99Ms,
        rangeAnswered: probes.range.answered,
        rangeFailed: probes.range.failed,
        rangeMaxMs: probes.range.maxMs,
        rangeP99Ms: probes.range.p99Ms,
      };
    } finally {
      kv.close();
      probeKv.close();
      lease.close();
      maintenance.close();
    }
  },
};
