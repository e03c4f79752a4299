/**
 * Issue 12, finding 4: one Range over every key of a large keyspace (1 KiB
 * values), with a probe every 250 ms while it runs (new connection, Put +
 * Range with a 1 s deadline, GET /health). Before the fix the range held
 * Holdfast's event loop for its whole duration (42 s at full size: every
 * probe timed out) and its answer six times over (6.4 GB peak RSS).
 */
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';
import { loadKeys, probeRepeatedly, rangeAll, summarizeProbes } from '../../large-read.js';

/** Keys loaded: a few seconds in CI; the 766,000 at long scale. */
const keyCountByScale: Record<AttackScale, number> = { short: 20_000, long: 766_000 };
const valueBytes = 1024;
/** Longest the range may take before the attack gives up (the took 42 s). */
const rangeDeadlineMsByScale: Record<AttackScale, number> = { short: 60_000, long: 600_000 };

export const attack: Attack = {
  name: 'large-range',
  description: 'one Range over every key (1 KiB values) while a probe runs every 250 ms',
  // 766,000 x 1 KiB plus history is close to etcd's default 2 GiB quota.
  serverArgs: ['--quota-backend-bytes', String(8 * 1024 ** 3)],
  async run(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
    const keyCount = keyCountByScale[scale];
    await loadKeys([target.endpoint], keyCount, valueBytes);
    const probes = probeRepeatedly(target.host, target.port);
    const started = performance.now();
    let kvs = 0;
    let count = 0n;
    let error = '';
    try {
      const response = await rangeAll(target.endpoint, { key: Buffer.from('large/'), rangeEnd: Buffer.from('large0') }, rangeDeadlineMsByScale[scale]);
      kvs = response.kvs.length;
      count = response.count;
    } catch (caught) {
      error = (caught as Error).message;
    }
    const rangeMs = performance.now() - started;
    const summary = summarizeProbes(await probes.stop());
    return {
      keysLoaded: keyCount,
      rangeMs: Math.round(rangeMs),
      kvsReturned: kvs,
      countReturned: Number(count),
      complete: kvs === keyCount && count === BigInt(keyCount),
      rangeError: error,
      probesDuringRange: summary.probes,
      probesFailed: summary.failed,
      worstProbeKvMs: Math.round(summary.worstKvMs),
      worstProbeHealthMs: Math.round(summary.worstHealthMs),
    };
  },
};
