/**
 * An in-process Holdfast for tests and tools: `startEmbedded()` starts a
 * server on a free loopback port with a temporary data directory (unless one
 * is given) and `stop()` shuts it down and removes what it created. The same
 * application code then runs against it, a Holdfast cluster, or etcd.
 *
 *     const embedded = await startEmbedded();
 *     const client = new Client({ endpoints: embedded.endpoints });
 *     ...
 *     await embedded.stop();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { HoldfastServer } from './holdfast-server.js';
import { defaultServerConfig, type ServerConfig } from './config.js';

export interface EmbeddedOptions {
  /** Data directory to use (kept on stop); default: a new temporary one (removed on stop). */
  readonly dataDir?: string;
  /** Any other server settings (etcd's flags as ServerConfig fields). */
  readonly config?: Partial<ServerConfig>;
  /** Default: a silent logger. */
  readonly logger?: Logger;
}

export interface EmbeddedServer {
  readonly server: HoldfastServer;
  /** host:port endpoints, as etcd clients take them. */
  readonly endpoints: string[];
  /** Client URLs (http://127.0.0.1:port). */
  readonly clientUrls: string[];
  readonly dataDir: string;
  /** Stops the server; removes the data directory if startEmbedded created it. */
  stop(): Promise<void>;
}

export async function startEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'holdfast-embedded-'));
  try {
    const server = await HoldfastServer.start(
      defaultServerConfig({
        dataDir,
        listenClientUrls: ['http://127.0.0.1:0'],
        advertiseClientUrls: ['http://127.0.0.1:0'],
        logLevel: 'error',
        ...options.config,
      }),
      { logger: options.logger ?? pino({ level: 'silent' }) },
    );
    const clientUrls = [...server.clientUrls];
    return {
      server,
      clientUrls,
      endpoints: clientUrls.map((url) => new URL(url).host),
      dataDir,
      stop: async () => {
        await server.stop();
        if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
