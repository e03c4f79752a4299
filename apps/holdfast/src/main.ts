/**
 * The `holdfast` command: parse etcd's flags, start the server, stop cleanly
 * on SIGINT/SIGTERM.
 */
import { CommanderError } from 'commander';
import { pino, destination, multistream, type Logger } from 'pino';
import { HoldfastServer, ConfigError, type ServerConfig } from '@holdfast/server';
import { buildCommand, configFromFlags, FlagError } from './flags.js';

function createLogger(config: ServerConfig): Logger {
  const level = config.logLevel === 'panic' ? 'fatal' : config.logLevel;
  const targets = config.logOutputs.map((output) => {
    if (output === 'stderr' || output === 'default') return 2;
    if (output === 'stdout') return 1;
    return output;
  });
  const streams = targets.map((target) => ({ level, stream: destination({ dest: target, sync: true, mkdir: true }) }));
  return pino({ level, base: { name: config.name } }, multistream(streams));
}

async function main(argv: string[]): Promise<number> {
  const command = buildCommand();
  let config: ServerConfig;
  try {
    command.parse(argv);
    config = configFromFlags(command.opts(), process.env);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof FlagError) {
      console.error(`holdfast: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config);
  let server: HoldfastServer;
  try {
    server = await HoldfastServer.start(config, { logger });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`holdfast: ${error.message}`);
      return 2;
    }
    logger.fatal({ err: error }, 'cannot start');
    console.error(`holdfast: cannot start: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let exiting = false;
    const shutdown = (signal: string, code: number): void => {
      if (exiting) return;
      exiting = true;
      logger.info({ signal }, 'received signal; shutting down');
      server.stop().then(
        () => resolve(code),
        (error: unknown) => {
          logger.error({ err: error }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT', 0));
    process.once('SIGTERM', () => shutdown('SIGTERM', 0));
    server.onFatal(() => shutdown('fatal', 1));
  });
}

main(process.argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
