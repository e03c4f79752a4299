/**
 * Measures issue 12's findings 4 and 5 at full size, Holdfast next to etcd:
 *
 *   node test/dist/src/large-read-measure.js [keys=766000] [valueBytes=1024] [what=range,watch] [servers=holdfast,etcd] [putsPerRevision=128] [rounds=1]
 *
 * Loads the same keys into every server at once (Txns of 128 puts), then, one
 * server at a time (so they do not share the CPU): resets the peak RSS,
 * probes every 250 ms (new connection Put + Range with a 1 s deadline, GET
 * /health) while a full-keyspace Range runs / while a watch from revision 1
 * catches up on every event, and prints time, peak RSS and the probes'
 * latency. Not a test: it prints figures.
 *
 * The server measured second runs on a machine the first has filled (page
 * cache, memory): measured 15% slower either way round on this project's
 * 2-core sandbox. rounds=2 measures in the order A B B A and prints each
 * server's mean, which cancels that.
 */
import { startEtcd, startHoldfast, removeDirectory, type RunningServer } from './support.js';
import { cpuSeconds } from './adversarial/rss.js';
import { loadKeys, probeRepeatedly, rangeAll, resetPeakRss, rssMegabytes, summarizeProbes, watchFromRevisionOne } from './large-read.js';

const keyCount = Number(process.argv[2] ?? 766_000);
const valueBytes = Number(process.argv[3] ?? 1024);
const what = (process.argv[4] ?? 'range,watch').split(',');
const kinds = (process.argv[5] ?? 'holdfast,etcd').split(',');
/** 1 = one Put per revision (the issue's fill); 128 = Txns of 128 puts (loads faster). */
const putsPerRevision = Number(process.argv[6] ?? 128);
/** 1: each server once, in the order given; 2: A B B A, and each server's mean. */
const rounds = Number(process.argv[7] ?? 1);
if (rounds !== 1 && rounds !== 2) throw new Error(`rounds must be 1 or 2, not ${process.argv[7]}`);
const watchRates = new Map<string, number[]>();
/** Longest a catch-up may run, as in the issue's measurement. */
const watchTimeoutMs = 60_000;

const servers: RunningServer[] = [];
try {
  for (const kind of kinds) {
    // etcd's default 2 GiB quota is below 766,000 x 1 KB plus history; give both 8 GiB.
    const extraArgs = ['--quota-backend-bytes', String(8 * 1024 ** 3)];
    servers.push(kind === 'etcd' ? await startEtcd({ extraArgs }) : await startHoldfast({ extraArgs }));
  }
  const loadStarted = performance.now();
  await loadKeys(servers.map((server) => server.endpoint), keyCount, valueBytes, putsPerRevision);
  console.log(`loaded ${keyCount} keys x ${valueBytes} B into ${kinds.join(' and ')} in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  const order = rounds === 2 ? [...servers, ...[...servers].reverse()] : servers;
  for (const server of order) {
    const pid = server.process.pid!;
    const [host, port] = [server.endpoint.split(':')[0]!, Number(server.endpoint.split(':')[1])];
    const label = server.kind.padEnd(8);
    const measureRange = async () => {
      resetPeakRss(pid);
      const before = rssMegabytes(pid);
      const probes = probeRepeatedly(host, port);
      const started = performance.now();
      const response = await rangeAll(server.endpoint);
      const elapsedMs = performance.now() - started;
      const summary = summarizeProbes(await probes.stop());
      const after = rssMegabytes(pid);
      console.log(
        `${label} range: ${response.kvs.length} kvs (count ${response.count}, more ${response.more}) in ${(elapsedMs / 1000).toFixed(2)} s; ` +
          `RSS ${before.currentMb.toFixed(0)} MB before, peak ${after.peakMb.toFixed(0)} MB, ${after.currentMb.toFixed(0)} MB after; ` +
          `probes ${summary.probes}, failed ${summary.failed}, worst kv ${summary.worstKvMs.toFixed(0)} ms, worst /health ${summary.worstHealthMs.toFixed(0)} ms${summary.firstError ? ` (first failure: ${summary.firstError})` : ''}`,
      );
    };
    const measureWatch = async () => {
      resetPeakRss(pid);
      const probes = probeRepeatedly(host, port);
      const serverCpuBefore = cpuSeconds(pid) ?? NaN;
      const clientCpuBefore = process.cpuUsage();
      const result = await watchFromRevisionOne(server.endpoint, keyCount, watchTimeoutMs);
      const clientCpu = process.cpuUsage(clientCpuBefore);
      // Probes included: they are part of what the server did meanwhile.
      const serverCpuUsPerEvent = (((cpuSeconds(pid) ?? NaN) - serverCpuBefore) * 1e6) / result.events;
      const clientCpuUsPerEvent = (clientCpu.user + clientCpu.system) / result.events;
      const rate = result.events / (result.elapsedMs / 1000);
      watchRates.set(server.kind, [...(watchRates.get(server.kind) ?? []), rate]);
      const summary = summarizeProbes(await probes.stop());
      const after = rssMegabytes(pid);
      console.log(
        `${label} watch from revision 1: ${result.events} events in ${(result.elapsedMs / 1000).toFixed(2)} s (${Math.round(result.events / (result.elapsedMs / 1000))} events/s, ${result.responses} responses); ` +
          `CPU per event: server ${serverCpuUsPerEvent.toFixed(1)} us, this client ${clientCpuUsPerEvent.toFixed(1)} us; ` +
          `peak RSS ${after.peakMb.toFixed(0)} MB; probes ${summary.probes}, failed ${summary.failed}, worst kv ${summary.worstKvMs.toFixed(0)} ms, worst /health ${summary.worstHealthMs.toFixed(0)} ms${summary.firstError ? ` (first failure: ${summary.firstError})` : ''}`,
      );
    };
    // In the order asked: a range leaves garbage that a watch measured after it pays for.
    for (const step of what) await (step === 'range' ? measureRange() : measureWatch());
  }
  if (rounds === 2 && watchRates.size > 0) {
    const means = [...watchRates].map(([kind, rates]) => [kind, rates.reduce((sum, rate) => sum + rate, 0) / rates.length] as const);
    console.log(`watch catch-up, mean of ${rounds} rounds: ${means.map(([kind, rate]) => `${kind} ${Math.round(rate)} events/s`).join(', ')}`);
    if (means.length === 2) console.log(`ratio ${means[0]![0]}/${means[1]![0]}: ${(means[0]![1] / means[1]![1]).toFixed(2)}`);
  }
} finally {
  for (const server of servers) {
    await server.stop();
    removeDirectory(server.dataDir);
  }
}
