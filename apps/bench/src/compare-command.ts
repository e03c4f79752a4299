/**
 * The `compare` subcommand: option parsing and output around compare.ts and
 * recovery.ts.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { Output } from './cli.js';
import { fileURLToPath } from 'node:url';
import { updateBenchmarksFile } from './benchmarks-doc.js';
import { reportMarkdown, runComparison, suite } from './compare.js';
import { jsonReplacer } from './report.js';
import { recoveryMarkdown, runRecoveryComparison } from './recovery.js';
import { commandAvailable, defaultHoldfastBin, type ServerKind } from './servers.js';
import { transportNames, type TransportName } from './transport.js';

/** docs/BENCHMARKS.md of the repository, from apps/bench/dist/src/. */
export const defaultBenchmarksFile = fileURLToPath(new URL('../../../../docs/BENCHMARKS.md', import.meta.url));

const fullRecoveryKeys = 1_000_000;
const quickRecoveryKeys = 50_000;

interface CompareFlags {
  quick?: boolean;
  recovery?: boolean;
  keys?: number;
  output?: string;
  write?: boolean;
  servers?: ServerKind[];
  only?: string[];
  holdfastBin?: string;
  etcdBin?: string;
  keepData?: boolean;
  transport?: TransportName;
  json?: boolean;
  quiet?: boolean;
}

function serverList(value: string): ServerKind[] {
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) if (kind !== 'etcd' && kind !== 'holdfast') throw new InvalidArgumentError(`unknown server ${kind}: etcd or holdfast`);
  return kinds as ServerKind[];
}

function integer(value: string): number {
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`not a positive integer: ${value}`);
  return parsed;
}


export function addCompareCommand(program: Command, output: Output, setExitCode: (code: number) => void): void {
  program
    .command('compare')
    .summary('Run the suite against a fresh etcd and a fresh Holdfast, one after the other, and tabulate')
    .description(
      'Starts a fresh real etcd (when installed) and a fresh Holdfast, single node each, data under one temporary directory, ' +
        'and runs the same workload suite against each in turn. Prints one table (ops/s, ratio, p99) and writes it with the machine ' +
        'description to docs/BENCHMARKS.md (full runs; quick runs only with --output or --write).\n\n' +
        `Suite ids (for --only): ${suite.map((entry) => entry.id).join(', ')}`,
    )
    .option('--quick', 'small totals (a CI-time smoke run)')
    .option('--recovery', `memory, disk and restart time after loading --keys keys (default ${fullRecoveryKeys}, quick ${quickRecoveryKeys})`)
    .option('--keys <n>', 'keys to load in --recovery mode', integer)
    .option('--output <file>', 'the benchmarks document to update (default docs/BENCHMARKS.md)')
    .option('--write', 'write the document for a --quick run too')
    .option('--no-write', 'print only; do not touch the document')
    .option('--servers <list>', 'which servers, in order (default etcd,holdfast; etcd is skipped when not installed)', serverList)
    .option('--only <ids>', 'run only these suite entries (comma-separated ids)', (value: string) => value.split(',').map((id) => id.trim()))
    .option('--holdfast-bin <path>', 'the holdfast launcher (default apps/holdfast/bin/holdfast.js)')
    .option('--etcd-bin <path>', 'the etcd binary (default etcd on PATH)')
    .option('--keep-data', 'keep the data directories')
    .action(async function (this: Command) {
      const flags = this.optsWithGlobals<CompareFlags>();
      const binaries = { holdfastBin: flags.holdfastBin ?? defaultHoldfastBin, etcdBin: flags.etcdBin ?? 'etcd' };
      const log = flags.quiet === true ? () => undefined : (line: string) => output.stderr(`${line}\n`);
      let servers = flags.servers ?? (['etcd', 'holdfast'] as ServerKind[]);
      const notes: string[] = [];
      if (servers.includes('etcd') && !(await commandAvailable(binaries.etcdBin))) {
        servers = servers.filter((kind) => kind !== 'etcd');
        notes.push(`${binaries.etcdBin} is not installed: Holdfast only (apt-get install -y etcd-server)`);
        log(`compare: ${notes[notes.length - 1]!}`);
      }
      if (servers.length === 0) {
        output.stderr('compare: no server to run\n');
        setExitCode(2);
        return;
      }
      const transport = flags.transport ?? 'http2';
      if (!transportNames.includes(transport)) throw new InvalidArgumentError(`unknown transport ${transport}`);
      const interrupt = new AbortController();
      const onSigint = (): void => {
        // First ^C: finish the current workload early, stop the servers, remove the data; a second one exits at once.
        if (interrupt.signal.aborted) process.exit(130);
        log('interrupted: stopping servers and removing data directories');
        interrupt.abort();
      };
      process.on('SIGINT', onSigint);
      // A quick run writes only when asked to, so that a CI smoke run never replaces full results.
      const write = flags.write ?? (flags.quick !== true || flags.output !== undefined);
      const outputFile = flags.output ?? defaultBenchmarksFile;
      try {
        const common = { servers, binaries, transport, quiet: flags.quiet === true, keepData: flags.keepData === true, signal: interrupt.signal, log };
        let markdown: string;
        let report: unknown;
        if (flags.recovery === true) {
          const recovery = await runRecoveryComparison({ ...common, keyCount: flags.keys ?? (flags.quick === true ? quickRecoveryKeys : fullRecoveryKeys) });
          markdown = recoveryMarkdown(recovery);
          report = recovery;
        } else {
          const comparison = await runComparison({ ...common, quick: flags.quick === true, entryIds: flags.only });
          markdown = reportMarkdown({ ...comparison, notes: [...notes, ...comparison.notes] });
          report = comparison;
        }
        if (flags.json === true) output.stdout(`${JSON.stringify(report, jsonReplacer, 2)}\n`);
        else output.stdout(`${markdown}\n`);
        if (interrupt.signal.aborted) {
          log('interrupted: the document was not updated');
          setExitCode(130);
        } else if (write) {
          updateBenchmarksFile(outputFile, flags.recovery === true ? 'recovery' : 'results', markdown);
          log(`wrote ${outputFile}`);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
