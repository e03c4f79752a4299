/**
 * hfctl: etcdctl for TypeScript people. The same verbs, flags, output and
 * exit codes as etcdctl 3.4 (ETCDCTL_API=3), over @holdfast/client, plus
 * the v2-style verbs of the etcd documents emulated over the v3 API.
 */
import { Command } from './cli/command.js';
import { CliExit, ExitCode } from './cli/exit.js';
import { errLine } from './cli/io.js';
import { buildRoot } from './commands/root.js';

async function main(argv: readonly string[]): Promise<number> {
  const root: Command = buildRoot();
  try {
    return await root.execute(argv);
  } catch (error) {
    if (error instanceof CliExit) {
      if (!error.silent) errLine(`Error: ${error.message}`);
      return error.code;
    }
    errLine(`Error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return ExitCode.error;
  }
}

// A reader that went away (hfctl get --prefix "" | head -1): end as a Go program
// killed by SIGPIPE would, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(128 + 13);
    throw error;
  });
}

const code = await main(process.argv.slice(2));
// Streams, timers and sockets may still be open (a watch, a keepalive): the command is over.
process.exit(code);
