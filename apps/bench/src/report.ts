/**
 * The human-readable form of a result, in the spirit of etcd's benchmark
 * summary: totals, latency percentiles, a coarse histogram, errors by gRPC
 * code and message, and what the generator itself cost.
 */
import type { LatencySummary } from './histogram.js';
import type { BenchResult } from './result.js';

const histogramBarWidthChars = 40;

export function formatNumber(value: number, fractionDigits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits });
}

/** Milliseconds with three significant-ish digits: 0.412, 8.21, 153. */
export function formatMs(valueMs: number): string {
  if (valueMs >= 100) return valueMs.toFixed(0);
  if (valueMs >= 10) return valueMs.toFixed(1);
  if (valueMs >= 1) return valueMs.toFixed(2);
  return valueMs.toFixed(3);
}

export function formatPercentiles(summary: LatencySummary): string {
  return `p50 ${formatMs(summary.p50Ms)}  p90 ${formatMs(summary.p90Ms)}  p99 ${formatMs(summary.p99Ms)}  p99.9 ${formatMs(summary.p999Ms)}`;
}

export function formatResult(result: BenchResult): string {
  const lines: string[] = [];
  const watch = result.workload === 'watch' || result.workload === 'watch-latency';
  lines.push(`${result.label}${result.ok ? '' : `: FAILED: ${result.failure ?? ''}`}`);
  if (result.elapsedSeconds === 0) return lines.join('\n');
  const unit = watch ? 'events' : 'ops';
  lines.push(`  Total:       ${formatNumber(result.operations)} ${unit} in ${result.elapsedSeconds.toFixed(3)} s`);
  lines.push(`  Throughput:  ${formatNumber(result.opsPerSecond)} ${unit}/s`);
  lines.push(`  Errors:      ${formatNumber(result.errorCount)}`);
  const latency = result.latencyMs;
  lines.push(`Latency${watch ? ' (put sent to event received)' : ''}, ms:`);
  lines.push(`  min ${formatMs(latency.minMs)}  mean ${formatMs(latency.meanMs)}  stddev ${formatMs(latency.stddevMs)}  max ${formatMs(latency.maxMs)}`);
  lines.push(`  ${formatPercentiles(latency)}`);
  if (result.latencyHistogramMs.length > 0) {
    lines.push('Latency histogram:');
    const largest = Math.max(...result.latencyHistogramMs.map((row) => row.count));
    for (const row of result.latencyHistogramMs) {
      const bar = '∎'.repeat(largest === 0 ? 0 : Math.round((row.count / largest) * histogramBarWidthChars));
      lines.push(`  <= ${formatMs(row.upToMs).padStart(8)} ms [${String(row.count).padStart(9)}] |${bar}`);
    }
  }
  const seriesNames = Object.keys(result.seriesLatencyMs);
  if (seriesNames.length > 0) {
    lines.push('Latency by kind, ms:');
    for (const name of seriesNames) {
      const summary = result.seriesLatencyMs[name]!;
      lines.push(`  ${name.padEnd(8)} ${formatNumber(summary.count).padStart(10)} ops  mean ${formatMs(summary.meanMs)}  ${formatPercentiles(summary)}`);
    }
  }
  if (result.errors.length > 0) {
    lines.push('Errors:');
    for (const entry of result.errors) lines.push(`  ${formatNumber(entry.count).padStart(10)}  ${entry.error}`);
  }
  const counterNames = Object.keys(result.counters);
  if (counterNames.length > 0) lines.push(`Counters: ${counterNames.map((name) => `${name} ${formatNumber(result.counters[name]!)}`).join(', ')}`);
  if (result.serverRevisionBefore !== undefined && result.serverRevisionAfter !== undefined) {
    lines.push(`Server revision: ${result.serverRevisionBefore} -> ${result.serverRevisionAfter} (+${result.serverRevisionAfter - result.serverRevisionBefore})`);
  }
  const generator = result.generator;
  lines.push(`Generator: ${generator.workers.length} worker threads, process CPU ${generator.processCpuSeconds.toFixed(2)} s = ${generator.processCpuCores.toFixed(2)} cores`);
  for (const worker of generator.workers) {
    const cpu = worker.cpuSeconds === undefined ? 'CPU n/a' : `CPU ${worker.cpuSeconds.toFixed(2)} s (${((worker.cpuUtilization ?? 0) * 100).toFixed(0)}% of a core)`;
    lines.push(`  worker ${worker.workerIndex}: ${worker.connections} conns, ${worker.clients} clients, ${cpu}, event loop busy ${(worker.eventLoopUtilization * 100).toFixed(0)}%`);
  }
  return lines.join('\n');
}

/** A JSON replacer for values JSON cannot hold (bigint, Infinity). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}
