/**
 * holdfast-bench: a load generator for etcd v3 servers. See README.md.
 */
import { buildProgram } from './cli.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(`holdfast-bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
