/**
 * /metrics against real etcd 3.4: scrape both, parse the Prometheus text
 * exposition format, and check
 *
 * - every metric issue 5 lists is exposed by Holdfast with etcd's type (and
 *   real etcd has it with that type too, so the list itself is right);
 * - every etcd_* and grpc_* family Holdfast exposes exists in etcd with the
 *   same type, help text, label names and (histograms) buckets; process_*
 *   families etcd also has have its types;
 * - the counters move as etcd's do: the same operations (N puts, a failed
 *   put, a lease grant and revoke, an open watch, a health check) give the
 *   same deltas on both servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';
import { TestKvClient, TestLeaseClient } from '../src/kv-client.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Family {
  readonly name: string;
  type: string;
  help: string;
  readonly samples: Sample[];
}

/** Parses the text exposition format (version 0.0.4). */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let found = families.get(name);
    if (found === undefined) families.set(name, (found = { name, type: 'untyped', help: '', samples: [] }));
    return found;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \S+)?$/.exec(line);
    assert.ok(sample !== null, `unparsable exposition line: ${line}`);
    const [, name, , labelText = '', valueText] = sample;
    const labels: Record<string, string> = {};
    for (const match of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) {
      labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
    }
    // Prometheus reads values with Go's strconv.ParseFloat: "NaN" and "Inf" in any case (prom-client writes "Nan").
    const special: Record<string, number> = { nan: NaN, '+inf': Infinity, inf: Infinity, '-inf': -Infinity };
    const value = special[valueText!.toLowerCase()] ?? Number(valueText);
    assert.ok(!Number.isNaN(value) || valueText!.toLowerCase() === 'nan', `bad sample value in: ${line}`);
    // Histogram and summary samples belong to their family.
    const base = name!.replace(/_(bucket|sum|count)$/, '');
    const owner = base !== name && ['histogram', 'summary'].includes(families.get(base)?.type ?? '') ? base : name!;
    family(owner).samples.push({ name: name!, labels, value });
  }
  return families;
}

async function scrape(server: RunningServer): Promise<Map<string, Family>> {
  const response = await fetch(`http://${server.endpoint}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

/** The metrics issue 5 lists, with etcd 3.4's types. */
const listedMetrics: Readonly<Record<string, string>> = {
  etcd_server_has_leader: 'gauge',
  etcd_server_is_leader: 'gauge',
  etcd_server_proposals_committed_total: 'gauge',
  etcd_server_proposals_applied_total: 'gauge',
  etcd_server_proposals_pending: 'gauge',
  etcd_server_proposals_failed_total: 'counter',
  etcd_mvcc_db_total_size_in_bytes: 'gauge',
  etcd_mvcc_db_total_size_in_use_in_bytes: 'gauge',
  etcd_debugging_mvcc_keys_total: 'gauge',
  etcd_disk_wal_fsync_duration_seconds: 'histogram',
  etcd_disk_backend_commit_duration_seconds: 'histogram',
  etcd_network_client_grpc_received_bytes_total: 'counter',
  etcd_network_client_grpc_sent_bytes_total: 'counter',
  grpc_server_started_total: 'counter',
  grpc_server_handled_total: 'counter',
  etcd_debugging_mvcc_watcher_total: 'gauge',
  etcd_debugging_mvcc_slow_watcher_total: 'gauge',
  etcd_debugging_lease_granted_total: 'counter',
  etcd_debugging_lease_revoked_total: 'counter',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_open_fds: 'gauge',
  process_start_time_seconds: 'gauge',
};

/** The sum of a family's samples whose labels include `labels` (histograms: the _count samples). */
function total(families: Map<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const family = families.get(name);
  assert.ok(family !== undefined, `${name} is exposed`);
  const wanted = family.type === 'histogram' ? `${name}_count` : name;
  return family.samples
    .filter((sample) => sample.name === wanted && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

function labelNames(family: Family): string {
  const names = new Set<string>();
  for (const sample of family.samples) for (const name of Object.keys(sample.labels)) if (name !== 'le' && name !== 'quantile') names.add(name);
  return [...names].sort().join(',');
}

function buckets(family: Family): string {
  return [...new Set(family.samples.filter((sample) => sample.name.endsWith('_bucket')).map((sample) => sample.labels.le))].join(',');
}

/** The operations whose effect on the counters is compared, and what each server's counters did. */
async function exercise(server: RunningServer): Promise<Record<string, number>> {
  const kv = new TestKvClient(server.endpoint);
  const lease = new TestLeaseClient(server.endpoint);
  const watchClient = new etcdserverpb.WatchClient(server.endpoint, credentials.createInsecure());
  try {
    // One call first so that the connection exists; then settle.
    await kv.range({ key: Buffer.from('warm-up') });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await scrape(server);
    const putCount = 25;
    for (let i = 0; i < putCount; i++) await kv.put(`metrics/key/${i}`, `value ${i}`);
    await assert.rejects(kv.put('', 'no key'));
    const granted = await lease.grant(600);
    await lease.revoke(granted.ID);
    const watch = watchClient.watch();
    const created = new Promise<void>((resolve) => watch.once('data', () => resolve()));
    watch.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('metrics/') , rangeEnd: Buffer.from('metrics0') } }));
    await created;
    // The backend commits its batch within 100 ms (etcd's batch interval too).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const after = await scrape(server);
    // Apart: etcd 3.4's /health reads through raft (a proposal); Holdfast's reads at the read index.
    assert.equal((await fetch(`http://${server.endpoint}/health`)).status, 200);
    const afterHealth = await scrape(server);
    watch.cancel();
    watch.on('error', () => {});
    const delta = (name: string, labels: Readonly<Record<string, string>> = {}): number => total(after, name, labels) - total(before, name, labels);
    const put = { grpc_service: 'etcdserverpb.KV', grpc_method: 'Put', grpc_type: 'unary' };
    return {
      'proposals committed': delta('etcd_server_proposals_committed_total'),
      'proposals applied': delta('etcd_server_proposals_applied_total'),
      'proposals pending': total(after, 'etcd_server_proposals_pending'),
      'proposals failed': delta('etcd_server_proposals_failed_total'),
      'keys total': delta('etcd_debugging_mvcc_keys_total'),
      'Put started': delta('grpc_server_started_total', put),
      'Put handled OK': delta('grpc_server_handled_total', { ...put, grpc_code: 'OK' }),
      'Put handled InvalidArgument': delta('grpc_server_handled_total', { ...put, grpc_code: 'InvalidArgument' }),
      'Put messages received': delta('grpc_server_msg_received_total', put),
      'Put messages sent': delta('grpc_server_msg_sent_total', put),
      'Watch started': delta('grpc_server_started_total', { grpc_method: 'Watch', grpc_type: 'bidi_stream' }),
      'watchers': total(after, 'etcd_debugging_mvcc_watcher_total'),
      'slow watchers': total(after, 'etcd_debugging_mvcc_slow_watcher_total'),
      'leases granted': delta('etcd_debugging_lease_granted_total'),
      'leases revoked': delta('etcd_debugging_lease_revoked_total'),
      'health checks passed': total(afterHealth, 'etcd_server_health_success') - total(after, 'etcd_server_health_success'),
      'has leader': total(after, 'etcd_server_has_leader'),
      'is leader': total(after, 'etcd_server_is_leader'),
      // Every acknowledged write was fsynced (etcd also fsyncs raft's own state between them).
      'WAL fsyncs >= 1': delta('etcd_disk_wal_fsync_duration_seconds') >= 1 ? 1 : 0,
      'backend commits >= 1': delta('etcd_disk_backend_commit_duration_seconds') >= 1 ? 1 : 0,
      // Every put's request carries its key and value: more than 20 bytes each.
      'gRPC bytes received > 20 per put': delta('etcd_network_client_grpc_received_bytes_total') > 20 * putCount ? 1 : 0,
      'gRPC bytes sent grow': delta('etcd_network_client_grpc_sent_bytes_total') > 0 ? 1 : 0,
      'db size > 0': total(after, 'etcd_mvcc_db_total_size_in_bytes') > 0 ? 1 : 0,
      'db size in use > 0': total(after, 'etcd_mvcc_db_total_size_in_use_in_bytes') > 0 ? 1 : 0,
    };
  } finally {
    watchClient.close();
    kv.close();
    lease.close();
  }
}

const availability = await etcdAvailability();

/** Both servers scraped after the same exercise (once, for both tests). */
let runs: Promise<{ scraped: Record<string, Map<string, Family>>; moved: Record<string, Record<string, number>> }> | undefined;
function scrapeBoth(): NonNullable<typeof runs> {
  runs ??= (async () => {
    const scraped: Record<string, Map<string, Family>> = {};
    const moved: Record<string, Record<string, number>> = {};
    for (const start of [startEtcd, startHoldfast]) {
      const server = await start();
      try {
        moved[server.kind] = await exercise(server);
        scraped[server.kind] = await scrape(server);
      } finally {
        await server.stop();
        removeDirectory(server.dataDir);
      }
    }
    return { scraped, moved };
  })();
  return runs;
}

const skip = availability.available ? false : availability.reason;

test('/metrics: every listed metric with etcd\'s type, and counters move as etcd\'s do', { skip, timeout: 120_000 }, async () => {
  const { scraped, moved } = await scrapeBoth();
  const etcd = scraped.etcd!;
  const holdfast = scraped.holdfast!;
  for (const [name, type] of Object.entries(listedMetrics)) {
    assert.equal(etcd.get(name)?.type, type, `etcd 3.4 exposes ${name} as a ${type}`);
    assert.equal(holdfast.get(name)?.type, type, `Holdfast exposes ${name} as a ${type}`);
  }
  // grpc_server_* count every method of every registered service from 0, as go-grpc-prometheus does.
  const started = holdfast.get('grpc_server_started_total')!;
  for (const method of ['Range', 'Put', 'DeleteRange', 'Txn', 'Compact', 'LeaseGrant', 'Watch', 'Status', 'MemberList', 'Check']) {
    assert.ok(started.samples.some((sample) => sample.labels.grpc_method === method), `grpc_server_started_total has ${method}`);
  }
  // The same operations move both servers' counters the same way.
  assert.deepEqual(moved.holdfast, moved.etcd, `counter deltas, Holdfast vs etcd:\n${JSON.stringify(moved, null, 2)}`);
  // And they moved at all (an exercise that did nothing would compare equal too).
  assert.equal(moved.holdfast!['proposals committed'], 25 + 2, '25 puts, a lease grant and a revoke are 27 proposals');
  assert.equal(moved.holdfast!['Put started'], 26);
  assert.equal(moved.holdfast!['Put handled InvalidArgument'], 1);
  assert.equal(moved.holdfast!['keys total'], 25);
  assert.equal(moved.holdfast!.watchers, 1);
});

test('/metrics: Holdfast\'s etcd and gRPC metrics are a subset of etcd 3.4\'s, same types, help, labels and buckets', { skip, timeout: 120_000 }, async () => {
  const { scraped } = await scrapeBoth();
  const etcd = scraped.etcd!;
  const holdfast = scraped.holdfast!;
  const mismatches: string[] = [];
  let compared = 0;
  for (const family of holdfast.values()) {
    const theirs = etcd.get(family.name);
    if (!/^(etcd|grpc)_/.test(family.name)) {
      // process_* that etcd has too must have its types.
      if (theirs !== undefined && theirs.type !== family.type) mismatches.push(`${family.name}: type ${family.type}, etcd ${theirs.type}`);
      continue;
    }
    compared++;
    if (theirs === undefined) {
      mismatches.push(`${family.name}: not an etcd 3.4 metric`);
      continue;
    }
    if (theirs.type !== family.type) mismatches.push(`${family.name}: type ${family.type}, etcd ${theirs.type}`);
    if (theirs.help !== family.help) mismatches.push(`${family.name}: help ${JSON.stringify(family.help)}, etcd ${JSON.stringify(theirs.help)}`);
    if (labelNames(theirs) !== labelNames(family)) mismatches.push(`${family.name}: labels ${labelNames(family)}, etcd ${labelNames(theirs)}`);
    if (family.type === 'histogram' && buckets(theirs) !== buckets(family)) mismatches.push(`${family.name}: buckets ${buckets(family)}, etcd ${buckets(theirs)}`);
  }
  assert.deepEqual(mismatches, [], `Holdfast metrics that differ from etcd 3.4's:\n${mismatches.join('\n')}`);
  assert.ok(compared >= 30, `etcd and gRPC families compared: ${compared}`);
});
