/**
 * The composition root: opens a member's data directory, builds its node
 * and its log, and serves the etcd v3 API on the client port.
 *
 *   node/       recovery, proposals and deadlines, the apply loop, reads,
 *               quota, snapshot policy: no transport (member-node.ts)
 *   log/        the replicated log behind the node (solo-log.ts: a group of one)
 *   api/        gRPC, the JSON gateway, v2 and plain HTTP, over MemberApi
 *
 * Data path of a write (docs/ARCHITECTURE.md draws it):
 *   api -> MemberNode.propose -> log: WAL append + fsync -> committed
 *   -> MemberNode.applyCommitted: MVCC + leases + consistent index in one
 *      backend transaction -> watch hub -> reply.
 */
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { validateConfig, type ServerConfig } from './config.js';
import { systemClock, type Clock } from './node/clock.js';
import { recoverMember } from './node/recovery.js';
import { MemberNode } from './node/member-node.js';
import { SoloLog } from './log/solo-log.js';
import { ClientApi } from './api/client-api.js';

export { requestTimeoutMs } from './node/proposals.js';

export interface ServerOptions {
  readonly logger?: Logger;
  /** Time as the member sees it (tests and the simulator inject their own). */
  readonly clock?: Clock;
}

export class HoldfastServer {
  readonly config: ServerConfig;
  private readonly node: MemberNode;
  private readonly api: ClientApi;
  private stopping: Promise<void> | undefined;

  private constructor(config: ServerConfig, node: MemberNode, api: ClientApi) {
    this.config = config;
    this.node = node;
    this.api = api;
  }

  /** Opens the data directory, recovers, and starts serving. */
  static async start(configInput: ServerConfig, options: ServerOptions = {}): Promise<HoldfastServer> {
    const config = validateConfig(configInput);
    const logger = options.logger ?? pino({ level: config.logLevel === 'panic' ? 'fatal' : config.logLevel, base: { name: config.name } });
    const recovered = await recoverMember(config, logger);
    const node = new MemberNode({ config, logger, clock: options.clock ?? systemClock, recovered, livenessStampPath: join(config.dataDir, 'member', 'lease-liveness') });
    let api: ClientApi | undefined;
    try {
      node.replay(recovered.replay);
      recovered.membership.publishLocal(recovered.backend, config.name, config.advertiseClientUrls);
      node.attachLog(
        await SoloLog.start({
          wal: recovered.wal,
          lastIndex: recovered.lastIndex,
          previousTerm: recovered.term,
          memberId: recovered.membership.localId,
          events: {
            applyCommitted: (entries) => node.applyCommitted(entries),
            leaderChanged: (leaderId, term) => node.leaderChanged(leaderId, term),
            fatal: (error) => node.fail(error),
          },
          onFsync: node.metrics.observeWalFsync,
        }),
      );
      await node.startBackgroundWork();
      api = await ClientApi.listen(node);
      logger.info(
        { memberId: recovered.membership.localId.toString(16), clusterId: recovered.membership.clusterId.toString(16), revision: recovered.store.currentRevision, clientUrls: api.clientUrls },
        'serving client requests',
      );
      return new HoldfastServer(config, node, api);
    } catch (error) {
      await api?.stop().catch(() => {});
      await node.stop().catch(() => {});
      throw error;
    }
  }

  /** Client URLs actually listened on (ports resolved when 0 was asked). */
  get clientUrls(): readonly string[] {
    return this.api.clientUrls;
  }

  /** Called if the member hits an unrecoverable error (a failed fsync, a backend write). */
  onFatal(listener: (error: unknown) => void): void {
    this.node.onFatal(listener);
  }

  /** Stops serving and closes storage. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.node.beginStop();
      await this.api.stop();
      await this.node.stop();
      this.node.logger.info('stopped');
    })();
    return this.stopping;
  }
}
