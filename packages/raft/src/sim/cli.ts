#!/usr/bin/env node
/**
 * Runs the deterministic Raft simulation over many seeds.
 *
 *   node packages/raft/dist/src/sim/cli.js --seeds 1000 [--nodes 3|5] [--seed S] [--steps K] [--trace]
 *
 * Seeds run are S, S+1, ..., S+N-1 (S defaults to 1). Prints one line per
 * failing seed, replayable with --seeds 1 --seed <seed>, then a summary:
 *   seeds=N violations=V unchecked=U elapsed=12.3s
 * Exit code 1 if any violation.
 */
import { runSimulation } from './cluster.js';

interface CliArgs {
  seeds: number;
  nodes: number;
  seed: number;
  steps: number;
  trace: boolean;
}

export const DEFAULT_SIM_STEPS = 1000;

function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { seeds: 100, nodes: 3, seed: 1, steps: DEFAULT_SIM_STEPS, trace: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
      return v;
    };
    switch (flag) {
      case '--seeds':
        args.seeds = value();
        break;
      case '--nodes':
        args.nodes = value();
        break;
      case '--seed':
        args.seed = value();
        break;
      case '--steps':
        args.steps = value();
        break;
      case '--trace':
        args.trace = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write('usage: cli.js --seeds N [--nodes 3|5] [--seed S] [--steps K] [--trace]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  if (args.nodes < 1 || args.nodes > 9) throw new Error('--nodes must be between 1 and 9');
  return args;
}

function main(): void {
  // Exit quietly when piped into e.g. `head`.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  let violations = 0;
  let unchecked = 0;
  for (let i = 0; i < args.seeds; i++) {
    const seed = args.seed + i;
    const result = runSimulation({ seed, nodes: args.nodes, steps: args.steps, trace: args.trace });
    if (args.trace) for (const line of result.trace) process.stdout.write(line + '\n');
    if (result.violation !== undefined) {
      violations++;
      const v = result.violation;
      process.stdout.write(`FAIL seed=${seed} nodes=${args.nodes}: ${v.invariant}: ${v.details} (step ${v.step})\n`);
    } else if (result.linearizability === 'unchecked') {
      unchecked++;
      process.stdout.write(`UNCHECKED seed=${seed} nodes=${args.nodes}: history too large for the checker bound\n`);
    }
  }
  const elapsedSeconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`seeds=${args.seeds} violations=${violations} unchecked=${unchecked} elapsed=${elapsedSeconds}s\n`);
  process.exitCode = violations > 0 ? 1 : 0;
}

main();
