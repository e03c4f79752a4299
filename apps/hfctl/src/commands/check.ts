/**
 * check perf (etcdctl/ctlv3/command/check.go): a minute of rate-limited
 * 1 KiB writes under a prefix from many concurrent clients, then
 * PASS/FAIL on throughput (> 90 % of the target), the slowest request
 * (<= 0.5 s) and the standard deviation (<= 0.1 s), exactly as etcdctl
 * judges them. A progress bar counts the seconds on stdout.
 */
import { performance } from 'node:perf_hooks';
import { Command } from '../cli/command.js';
import { ExitCode, exitSilently, exitWithError } from '../cli/exit.js';
import { outLine } from '../cli/io.js';
import { etcdctlMessage } from '../errors.js';
import { goFixed, goQuote } from '../format/go.js';
import { ProgressBar } from '../format/progress.js';
import type { HfClient } from '../session.js';
import { fail, noDeadlineMs, withSession } from './common.js';

interface PerfModel {
  /** Writes per second to aim at. */
  readonly limit: number;
  readonly clients: number;
  readonly durationS: number;
}

const perfModels: Record<string, PerfModel> = {
  s: { limit: 150, clients: 50, durationS: 60 },
  m: { limit: 1000, clients: 200, durationS: 60 },
  l: { limit: 8000, clients: 500, durationS: 60 },
  xl: { limit: 15000, clients: 1000, durationS: 60 },
};

const loadAliases: Record<string, string> = { s: 's', small: 's', m: 'm', medium: 'm', l: 'l', large: 'l', xl: 'xl', xLarge: 'xl' };

/** Connections shared by the workers (each etcdctl client is one connection; a few carry the load as well). */
const connectionsMax = 16;

interface PerfStats {
  readonly rps: number;
  readonly slowestS: number;
  readonly stddevS: number;
  readonly errors: Map<string, number>;
}

/** binary.PutVarint of a random non-negative int63 at the start of a 256-byte key. */
function randomKey(prefix: Buffer): Buffer {
  const key = Buffer.alloc(256);
  let value = (BigInt(Math.floor(Math.random() * 2 ** 31)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
  value <<= 1n; // zigzag of a non-negative value
  let i = 0;
  while (value >= 0x80n) {
    key[i++] = Number(value & 0x7fn) | 0x80;
    value >>= 7n;
  }
  key[i] = Number(value);
  return Buffer.concat([prefix, key]);
}

/** etcdctl's buffered request channel: workers wait for work, the producer for room. */
class RequestQueue<T> {
  private readonly items: T[] = [];
  private readonly takers: Array<(item: T | undefined) => void> = [];
  private readonly roomWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly capacity: number) {}

  async put(item: T): Promise<void> {
    while (this.items.length >= this.capacity) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    const taker = this.takers.shift();
    if (taker !== undefined) taker(item);
    else this.items.push(item);
  }

  take(): Promise<T | undefined> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.roomWaiters.shift()?.();
      return Promise.resolve(item);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const taker of this.takers.splice(0)) taker(undefined);
  }
}

async function runLoad(clients: HfClient[], model: PerfModel, prefix: Buffer): Promise<PerfStats> {
  const value = Buffer.alloc(1024);
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const requests = new RequestQueue<Buffer>(model.clients);
  const started = performance.now();
  const worker = async (client: HfClient): Promise<void> => {
    for (let key = await requests.take(); key !== undefined; key = await requests.take()) {
      const begin = performance.now();
      try {
        await client.put(key, value, { timeoutMs: noDeadlineMs });
      } catch (error) {
        const message = etcdctlMessage(error);
        errors.set(message, (errors.get(message) ?? 0) + 1);
      }
      latencies.push((performance.now() - begin) / 1000);
    }
  };
  const workers = Array.from({ length: model.clients }, (_, i) => worker(clients[i % clients.length]!));
  // The rate limiter (burst 1): one request every 1/limit s for the duration.
  const intervalMs = 1000 / model.limit;
  const endAt = started + model.durationS * 1000;
  for (let i = 0; started + i * intervalMs < endAt; i++) {
    const wait = started + i * intervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await requests.put(randomKey(prefix));
  }
  requests.close();
  await Promise.all(workers);
  const totalS = (performance.now() - started) / 1000;
  const count = latencies.length;
  const mean = latencies.reduce((sum, latency) => sum + latency, 0) / Math.max(1, count);
  const variance = latencies.reduce((sum, latency) => sum + (latency - mean) ** 2, 0) / Math.max(1, count);
  return { rps: count / totalS, slowestS: latencies.reduce((max, latency) => Math.max(max, latency), 0), stddevS: Math.sqrt(variance), errors };
}

function perfCommand(): Command {
  return new Command({
    use: 'perf [options]',
    short: 'Check the performance of the etcd cluster',
    flags: [
      { name: 'load', kind: 'string', defaultText: 's', usage: "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)" },
      { name: 'prefix', kind: 'string', defaultText: '/etcdctl-check-perf/', usage: "The prefix for writing the performance check's keys." },
      { name: 'auto-compact', kind: 'bool', usage: 'Compact storage with last revision after test is finished.' },
      { name: 'auto-defrag', kind: 'bool', usage: 'Defragment storage after test is finished.' },
    ],
    run: withSession(async (session) => {
      const load = session.flag('load').string;
      const modelName = Object.hasOwn(loadAliases, load) ? loadAliases[load] : undefined;
      if (modelName === undefined) exitWithError(ExitCode.badFeature, `unknown load option ${load}`);
      const model = perfModels[modelName]!;
      const prefixText = session.flag('prefix').string;
      const prefix = Buffer.from(prefixText, 'utf8');
      const settings = await session.clientSettings();
      const clients: HfClient[] = [];
      for (let i = 0; i < Math.min(model.clients, connectionsMax); i++) clients.push(await session.connect(settings));
      const first = clients[0]!;
      let existing;
      try {
        existing = await first.get(prefix, { prefix: true, limit: 1, timeoutMs: model.durationS * 1000 });
      } catch (error) {
        fail(ExitCode.error, error);
      }
      if (existing.kvs.length > 0) {
        exitWithError(ExitCode.invalidInput, `prefix ${goQuote(prefixText)} has keys. Delete with hfctl del --prefix ${prefixText} first`);
      }
      const bar = new ProgressBar(process.stdout, { unit: 'count', intervalMs: 200 });
      const startedAt = Date.now();
      bar.update(0, model.durationS);
      const ticker = setInterval(() => bar.update(Math.min(model.durationS, Math.floor((Date.now() - startedAt) / 1000)), model.durationS), 200);
      const stats = await runLoad(clients, model, prefix);
      clearInterval(ticker);
      bar.update(model.durationS, model.durationS);
      bar.finish();
      let deletedAt: bigint;
      try {
        deletedAt = (await first.delete(prefix, { prefix: true, timeoutMs: 30_000 })).header.revision;
      } catch (error) {
        fail(ExitCode.error, error);
      }
      if (session.flag('auto-compact').bool) {
        outLine(`Compacting with revision ${deletedAt}`);
        try {
          await first.compact(deletedAt, { physical: true, timeoutMs: 30_000 });
        } catch (error) {
          fail(ExitCode.error, error);
        }
        outLine(`Compacted with revision ${deletedAt}`);
      }
      if (session.flag('auto-defrag').bool) {
        for (const endpoint of settings.endpoints) {
          outLine(`Defragmenting ${goQuote(endpoint)}`);
          const member = await session.connect(settings, [endpoint]);
          try {
            await member.maintenance.defragment({ timeoutMs: 30_000 });
          } catch (error) {
            fail(ExitCode.error, error);
          }
          outLine(`Defragmented ${goQuote(endpoint)}`);
        }
      }
      let ok = true;
      if (stats.errors.size !== 0) {
        outLine('FAIL: too many errors');
        for (const [message, count] of stats.errors) outLine(`FAIL: ERROR(${message}) -> ${count}`);
        ok = false;
      }
      if (stats.rps / model.limit <= 0.9) {
        outLine(`FAIL: Throughput too low: ${Math.trunc(stats.rps) + 1} writes/s`);
        ok = false;
      } else {
        outLine(`PASS: Throughput is ${Math.trunc(stats.rps) + 1} writes/s`);
      }
      if (stats.slowestS > 0.5) {
        outLine(`Slowest request took too long: ${goFixed(stats.slowestS, 6)}s`);
        ok = false;
      } else {
        outLine(`PASS: Slowest request took ${goFixed(stats.slowestS, 6)}s`);
      }
      if (stats.stddevS > 0.1) {
        outLine(`Stddev too high: ${goFixed(stats.stddevS, 6)}s`);
        ok = false;
      } else {
        outLine(`PASS: Stddev is ${goFixed(stats.stddevS, 6)}s`);
      }
      if (ok) outLine('PASS');
      else {
        outLine('FAIL');
        exitSilently(ExitCode.error);
      }
    }),
  });
}

export function checkCommand(): Command {
  return new Command({
    use: 'check <subcommand>',
    short: 'commands for checking properties of the etcd cluster',
    subcommands: [perfCommand()],
  });
}
