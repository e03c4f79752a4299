/**
 * Issue 12, finding 5: after filling the keyspace (1 KiB values), one watch
 * on every key from revision 1, counted until it has every event or its
 * time is up, with a probe every 250 ms while it runs. Before the fix
 * Holdfast re-read each history event ~9 times and delivered 953 events in
 * 60 s at full size (etcd: 775,000), stalling other clients meanwhile.
 */
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';
import { loadKeys, probeRepeatedly, summarizeProbes, watchFromRevisionOne } from '../../large-read.js';

const keyCountByScale: Record<AttackScale, number> = { short: 20_000, long: 766_000 };
const valueBytes = 1024;
/** How long the watch may catch up: the issue measured 60 s. */
const catchUpMsByScale: Record<AttackScale, number> = { short: 30_000, long: 60_000 };

export const attack: Attack = {
  name: 'watch-catchup',
  description: 'a watch on every key from revision 1 after a large fill, while a probe runs every 250 ms',
  // 766,000 x 1 KiB plus history is close to etcd's default 2 GiB quota.
  serverArgs: ['--quota-backend-bytes', String(8 * 1024 ** 3)],
  async run(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
    const keyCount = keyCountByScale[scale];
    await loadKeys([target.endpoint], keyCount, valueBytes);
    const probes = probeRepeatedly(target.host, target.port);
    let events = 0;
    let elapsedMs = 0;
    let error = '';
    try {
      const result = await watchFromRevisionOne(target.endpoint, keyCount, catchUpMsByScale[scale]);
      events = result.events;
      elapsedMs = result.elapsedMs;
    } catch (caught) {
      error = (caught as Error).message;
    }
    const summary = summarizeProbes(await probes.stop());
    return {
      keysLoaded: keyCount,
      eventsDelivered: events,
      catchUpMs: Math.round(elapsedMs),
      eventsPerSecond: elapsedMs > 0 ? Math.round(events / (elapsedMs / 1000)) : 0,
      complete: events >= keyCount,
      watchError: error,
      probesDuringCatchUp: summary.probes,
      probesFailed: summary.failed,
      worstProbeKvMs: Math.round(summary.worstKvMs),
      worstProbeHealthMs: Math.round(summary.worstHealthMs),
    };
  },
};
