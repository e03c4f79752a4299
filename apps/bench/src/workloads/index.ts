/** The workload implementations by name. */
import type { WorkloadName } from '../options.js';
import { putWorkload, rangeWorkload, txnMixedWorkload, txnPutWorkload } from './kv.js';
import { leaseGrantWorkload, leaseKeepAliveWorkload } from './lease.js';
import { stmWorkload } from './stm.js';
import { watchWorkload } from './watch.js';
import type { Workload } from './workload.js';

export const workloads: Readonly<Record<WorkloadName, Workload>> = {
  put: putWorkload,
  range: rangeWorkload,
  'txn-put': txnPutWorkload,
  'txn-mixed': txnMixedWorkload,
  watch: watchWorkload,
  'watch-latency': watchWorkload,
  'lease-keepalive': leaseKeepAliveWorkload,
  'lease-grant': leaseGrantWorkload,
  stm: stmWorkload,
};

export function isWatchWorkload(name: WorkloadName): boolean {
  return name === 'watch' || name === 'watch-latency';
}
