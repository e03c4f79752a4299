/**
 * The `holdfast` command: parse etcd's flags (or its --config-file), start
 * the server, stop cleanly on SIGINT/SIGTERM.
 */
import { CommanderError } from 'commander';
import { pino, destination, multistream, type Logger } from 'pino';
import { HoldfastServer, ConfigError, type ServerConfig } from '@holdfast/server';
import { buildCommand, configFromFlags, FlagError } from './flags.js';
import { configFilePath, ConfigFileError, readConfigFile, type IgnoredKey } from './config-file.js';

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
  let configFile: string | undefined;
  let unknownKeys: readonly IgnoredKey[] = [];
  try {
    command.parse(argv);
    configFile = configFilePath(command.opts(), process.env);
    if (configFile === undefined) {
      config = configFromFlags(command.opts(), process.env);
    } else {
      ({ config, unknownKeys } = readConfigFile(configFile));
    }
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof FlagError) {
      console.error(`holdfast: ${error.message}`);
      return 2;
    }
    if (error instanceof ConfigFileError) {
      // etcd's words and exit status for a config file it cannot use.
      console.error(`holdfast: error verifying flags, ${error.message}. See 'holdfast --help'.`);
      return 1;
    }
    throw error;
  }
  const logger = createLogger(config);
  if (configFile !== undefined) {
    logger.info({ path: configFile }, 'loaded server configuration, other configuration command line flags and environment variables will be ignored if provided');
    for (const { key, line } of unknownKeys) logger.warn({ path: configFile, line, key }, 'unknown configuration key ignored (etcd ignores it too)');
  }
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
