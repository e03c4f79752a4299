/**
 * The holdfast-bench command line: one subcommand per workload, plus
 * `compare`. Options common to every workload belong to the program and may
 * be given before or after the subcommand (`holdfast-bench --conns 10 put`
 * and `holdfast-bench put --conns 10` are the same).
 */
import { startNoopServer, noopServerKinds, type NoopServerKind } from './noop-server.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultOptions, OptionsError, resolveOptions, workloadDefaults, type WorkloadName, type WorkloadOptions } from './options.js';
import { formatResult, jsonReplacer } from './report.js';
import type { BenchResult } from './result.js';
import { runWorkload } from './run-workload.js';
import { addCompareCommand } from './compare-command.js';
import { transportNames, type TransportName } from './transport.js';

function integer(value: string): number {
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`not an integer: ${value}`);
  return parsed;
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError(`not a non-negative number: ${value}`);
  return parsed;
}

/** Durations like 10, 10s, 1.5s, 500ms, 2m. */
export function seconds(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError(`not a duration: ${value} (try 10s, 500ms, 2m)`);
  const amount = Number(match[1]);
  return match[2] === 'ms' ? amount / 1000 : match[2] === 'm' ? amount * 60 : amount;
}

function endpointList(value: string): string[] {
  return value
    .split(',')
    .map((endpoint) => endpoint.trim().replace(/^https?:\/\//, '').replace(/\/$/, ''))
    .filter((endpoint) => endpoint !== '');
}

/** Where the commands print (a test captures it). */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Options of the program (common to all workloads), as commander hands them over. */
interface CommonFlags {
  endpoints?: string[];
  conns?: number;
  clients?: number;
  total?: number;
  duration?: number;
  rate?: number;
  keySize?: number;
  valSize?: number;
  keySpace?: number;
  sequentialKeys?: boolean;
  keyPrefix?: string;
  workers?: number;
  warmup?: number;
  requestTimeout?: number;
  transport?: TransportName;
  json?: boolean;
  quiet?: boolean;
}

function commonOptions(flags: CommonFlags): Partial<WorkloadOptions> {
  return {
    endpoints: flags.endpoints,
    conns: flags.conns,
    clients: flags.clients,
    total: flags.total,
    durationSeconds: flags.duration,
    rateOpsPerSecond: flags.rate,
    keySizeBytes: flags.keySize,
    valueSizeBytes: flags.valSize,
    keySpace: flags.keySpace,
    sequentialKeys: flags.sequentialKeys,
    keyPrefix: flags.keyPrefix,
    workers: flags.workers,
    warmupOps: flags.warmup,
    requestTimeoutMs: flags.requestTimeout,
    transport: flags.transport,
    json: flags.json,
    quiet: flags.quiet,
  };
}

interface WorkloadCommandSpec {
  readonly name: WorkloadName;
  readonly summary: string;
  /** Adds the workload's own options and positional arguments. */
  readonly configure?: (command: Command) => void;
  /** Maps the subcommand's own flags and arguments to options. */
  readonly toOptions?: (flags: Record<string, unknown>, args: string[]) => Partial<WorkloadOptions>;
}

const watchOptions = (command: Command): void => {
  command
    .option('--streams <n>', 'watch streams in total (stream s on connection s % conns)', integer)
    .option('--watchers-per-stream <n>', 'watchers on each stream', integer)
    .option('--watched-keys <n>', 'distinct keys watched; watcher w watches key w % n, put i writes key i % n', integer)
    .option('--put-rate <n>', 'puts per second across all writers (same as --rate; 0 = unlimited)', positiveNumber)
    .option('--drain-timeout <duration>', 'wait this long after the last put for events still on their way (default 10s)', seconds);
};
const watchToOptions = (flags: Record<string, unknown>): Partial<WorkloadOptions> => ({
  streams: flags.streams as number | undefined,
  watchersPerStream: flags.watchersPerStream as number | undefined,
  watchedKeys: flags.watchedKeys as number | undefined,
  rateOpsPerSecond: flags.putRate as number | undefined,
  watchDrainTimeoutSeconds: flags.drainTimeout as number | undefined,
});

const workloadSpecs: readonly WorkloadCommandSpec[] = [
  { name: 'put', summary: 'Put keys: --key-space keys, random or --sequential-keys, values of --val-size bytes' },
  {
    name: 'range',
    summary: 'Range requests for one key (or [key, end)); the key is written once before the run',
    configure: (command) =>
      command
        .argument('[key]', `key to read (default ${defaultOptions.rangeKey})`)
        .argument('[end]', 'range end, exclusive')
        .addOption(new Option('--consistency <l|s>', 'linearizable (l) or serializable (s) reads').choices(['l', 's']))
        .option('--limit <n>', 'maximum keys per response (0 = no limit)', integer)
        .option('--no-prefill', 'do not write the key before the run'),
    toOptions: (flags, args) => ({
      rangeKey: args[0],
      rangeEnd: args[1],
      consistency: flags.consistency as 'l' | 's' | undefined,
      rangeLimit: flags.limit as number | undefined,
      rangeNoPrefill: flags.prefill === false ? true : undefined,
    }),
  },
  {
    name: 'txn-put',
    summary: 'Txns of --txn-ops puts each, optionally guarded by an always-true compare',
    configure: (command) =>
      command.option('--txn-ops <n>', 'puts per txn (default 1, at most 128)', integer).option('--txn-compare', 'add a compare on mod_revision of the first key (always true), like a guarded write'),
    toOptions: (flags) => ({ txnOps: flags.txnOps as number | undefined, txnCompare: flags.txnCompare as boolean | undefined }),
  },
  {
    name: 'txn-mixed',
    summary: 'One-op txns mixing reads (range) and writes (put) over --key-space keys',
    configure: (command) =>
      command
        .option('--rw-ratio <ratio>', 'reads per write (default 1)', positiveNumber)
        .addOption(new Option('--consistency <l|s>', 'linearizable (l) or serializable (s) reads').choices(['l', 's'])),
    toOptions: (flags) => ({ readWriteRatio: flags.rwRatio as number | undefined, consistency: flags.consistency as 'l' | 's' | undefined }),
  },
  {
    name: 'watch',
    summary: 'Event fan-out: --clients writers put to watched keys; measures events delivered/s and put-to-event latency',
    configure: watchOptions,
    toOptions: watchToOptions,
  },
  {
    name: 'watch-latency',
    summary: 'Watch latency: one writer at --put-rate (100/s), watchers of one key; put-to-event latency',
    configure: watchOptions,
    toOptions: watchToOptions,
  },
  {
    name: 'lease-keepalive',
    summary: 'Each client renews its own lease over its LeaseKeepAlive stream, one renewal in flight',
    configure: (command) => command.option('--lease-ttl <seconds>', 'TTL of the leases (default 60)', integer),
    toOptions: (flags) => ({ leaseTtlSeconds: flags.leaseTtl as number | undefined }),
  },
  {
    name: 'lease-grant',
    summary: 'Each operation grants a lease and revokes it',
    configure: (command) => command.option('--lease-ttl <seconds>', 'TTL of the leases (default 60)', integer),
    toOptions: (flags) => ({ leaseTtlSeconds: flags.leaseTtl as number | undefined }),
  },
  {
    name: 'stm',
    summary: 'Read-modify-write txns with compares on mod_revision, retried on conflict (etcd stm, repeatable read)',
    configure: (command) =>
      command
        .option('--keys <n>', 'distinct keys the transactions touch (default 100)', integer)
        .option('--keys-per-txn <n>', 'keys read per transaction (default 2)', integer)
        .option('--txn-wr-percent <n>', 'percentage of the keys read that are also written (default 50)', integer)
        .option('--stm-max-retries <n>', 'conflicting retries before a transaction counts as an error (default 1000)', integer),
    toOptions: (flags) => ({
      stmKeys: flags.keys as number | undefined,
      stmKeysPerTxn: flags.keysPerTxn as number | undefined,
      stmWritePercent: flags.txnWrPercent as number | undefined,
      stmMaxRetries: flags.stmMaxRetries as number | undefined,
    }),
  },
];

function describeDefaults(name: WorkloadName): string {
  const specific = workloadDefaults[name];
  if (specific === undefined) return '';
  const shown = Object.entries(specific).map(([key, value]) => `${key}=${String(value)}`);
  return `\n\nDefaults for ${name}: ${shown.join(', ')}`;
}

/** Prints a result; returns the exit code. */
export function printResult(result: BenchResult, json: boolean, output: Output = processOutput): number {
  if (json) output.stdout(`${JSON.stringify(result, jsonReplacer, 2)}\n`);
  else output.stdout(`${formatResult(result)}\n`);
  return result.ok ? 0 : 1;
}

export function buildProgram(output: Output = processOutput, setExitCode: (code: number) => void = (code) => (process.exitCode = code)): Command {
  const program = new Command('holdfast-bench')
    .description('A load generator for etcd v3 servers (Holdfast or etcd), in the spirit of etcd\'s benchmark tool.')
    .configureHelp({ showGlobalOptions: true })
    .option('--endpoints <list>', 'comma-separated host:port list; connection c goes to endpoint c % n (default 127.0.0.1:2379)', endpointList)
    .option('--conns <n>', 'gRPC connections in total (default 1)', integer)
    .option('--clients <n>', 'concurrent clients in total, one request in flight each (default 1)', integer)
    .option('--total <n>', 'operations to run (default 10000; with --duration alone, unlimited)', integer)
    .option('--duration <duration>', 'run this long instead (10s, 2m); with --total, whichever ends first', seconds)
    .option('--rate <ops/s>', 'cap on operations started per second, all clients together (default 0 = none)', positiveNumber)
    .option('--key-size <bytes>', 'key size: zero-padded decimal key numbers (default 8)', integer)
    .option('--val-size <bytes>', 'value size (default 8)', integer)
    .option('--key-space <n>', 'keys are drawn from [0, n) (default 1)', integer)
    .option('--sequential-keys', 'key of operation i is i % key-space instead of a random one')
    .option('--key-prefix <prefix>', 'prepended to every key')
    .option('--workers <n>', 'load-generating worker threads (default min(conns, cores))', integer)
    .option('--warmup <ops>', 'operations to run first and forget (JIT and cache warm-up; default 0; not for watch workloads)', integer)
    .option('--request-timeout <ms>', 'per-request deadline (default 30000)', integer)
    .addOption(new Option('--transport <name>', 'http2: lean gRPC on node:http2 (default); grpc-js: the generated grpc-js clients\' machinery').choices(transportNames))
    .option('--json', 'print the result as JSON on stdout')
    .option('--quiet', 'no progress bar')
    .showHelpAfterError();

  for (const spec of workloadSpecs) {
    const command = program.command(spec.name).summary(spec.summary).description(spec.summary + describeDefaults(spec.name));
    spec.configure?.(command);
    command.action(async function (this: Command) {
      const flags = this.opts<Record<string, unknown>>();
      const common = commonOptions(this.optsWithGlobals<CommonFlags>());
      let options: WorkloadOptions;
      try {
        options = resolveOptions(spec.name, { ...common, ...(spec.toOptions?.(flags, this.args) ?? {}) });
      } catch (error) {
        if (error instanceof OptionsError) {
          output.stderr(`holdfast-bench: ${error.message}\n`);
          setExitCode(2);
          return;
        }
        throw error;
      }
      const interrupt = new AbortController();
      const onSigint = (): void => {
        // First ^C: stop and report what was done; a second one exits at once.
        if (interrupt.signal.aborted) process.exit(130);
        interrupt.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const result = await runWorkload(options, { signal: interrupt.signal });
        setExitCode(printResult(result, options.json, output));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  }
  addCompareCommand(program, output, setExitCode);
  program
    .command('noop-server')
    .summary('a gRPC server that answers KV calls at once and stores nothing: the transport\'s own cost per call')
    .description(
      'Answers KV Range, Put, DeleteRange, Txn, Compact and Maintenance Status at once, storing nothing, until SIGINT or SIGTERM;\n' +
        'then prints the calls answered and its CPU time per call. Run a workload against it to measure the floor that the\n' +
        'transport alone puts under any Node server (docs/BENCHMARKS.md).',
    )
    .requiredOption('--port <n>', 'port to listen on (127.0.0.1)', integer)
    .addOption(new Option('--server <kind>', 'grpc-js: @grpc/grpc-js, as Holdfast serves; http2: node:http2 alone').choices(noopServerKinds).default('grpc-js'))
    .action(async function (this: Command) {
      const { port, server } = this.opts<{ port: number; server: NoopServerKind }>();
      const stop = await startNoopServer(server, port, output);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await stop();
    });
  return program;
}
