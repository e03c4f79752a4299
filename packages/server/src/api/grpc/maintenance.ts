/** The etcdserverpb.Maintenance service. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { status as GrpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { Crc32c } from '@holdfast/mvcc';
import { backendTableNames } from '@holdfast/storage';
import type { HoldfastServer } from '../../holdfast-server.js';
import { etcdCompatibleVersion } from '../../version.js';
import { formatAlarm } from '../../apply/alarms.js';
import { AlarmTypeError, EtcdError, toServiceError } from '../../errors.js';
import { unary } from './grpc-handlers.js';

/** Bytes per Snapshot message, as etcd sends them. */
export const snapshotChunkBytes = 32 * 1024;

export function createMaintenanceService(server: HoldfastServer): etcdserverpb.MaintenanceServer {
  return {
    alarm: unary(async (request: etcdserverpb.AlarmRequest) => {
      if (request.action === etcdserverpb.AlarmRequest_AlarmAction.GET) {
        return {
          header: server.header(),
          alarms: server.alarms.list(request.alarm).map((alarm) => ({ memberID: alarm.memberId, alarm: alarm.alarm })),
        };
      }
      if (request.alarm !== etcdserverpb.AlarmType.NOSPACE && request.alarm !== etcdserverpb.AlarmType.CORRUPT) throw new AlarmTypeError();
      const { response } = await server.propose({ alarm: request });
      return server.fillHeader(response as etcdserverpb.AlarmResponse);
    }),

    status: unary(async () => {
      const errors = server.alarms.list().map(formatAlarm);
      if (server.leaderId === 0n) errors.unshift('etcdserver: no leader');
      return {
        header: server.header(),
        version: etcdCompatibleVersion,
        dbSize: BigInt(server.backend.sizeBytes()),
        leader: server.leaderId,
        raftIndex: BigInt(server.committedIndex),
        raftTerm: BigInt(server.term),
        raftAppliedIndex: BigInt(server.appliedIndex),
        errors,
        dbSizeInUse: BigInt(server.backend.sizeInUseBytes()),
        isLearner: false,
      } satisfies etcdserverpb.StatusResponse;
    }),

    defragment: unary(async () => {
      await server.defragment();
      return { header: server.header() };
    }),

    hash: unary(async () => {
      // A checksum of every table, key and value, in order.
      const crc = new Crc32c();
      for (const name of backendTableNames) {
        crc.update(Buffer.from(name));
        for (const { key, value } of server.backend.table(name).range()) crc.update(key).update(value);
      }
      return { header: server.header(), hash: crc.digest() };
    }),

    hashKv: unary(async (request: etcdserverpb.HashKVRequest) => {
      const result = server.store.hashByRevision(Number(request.revision));
      // etcd 3.4 reports -1 until the first compaction (its compactMainRev starts there).
      const compactRevision = result.compactRevision === 0 ? -1n : BigInt(result.compactRevision);
      return { header: server.header(BigInt(result.revision)), hash: result.hash, compactRevision };
    }),

    snapshot: (call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>) => {
      streamSnapshot(server, call).catch((error: unknown) => {
        server.logger.warn({ err: error }, 'snapshot stream failed');
        call.destroy(Object.assign(new Error(toServiceError(error).details), toServiceError(error)));
      });
    },

    moveLeader: unary(async (request: etcdserverpb.MoveLeaderRequest) => {
      // A group of one: the only possible leader already leads.
      if (request.targetID !== server.membership.localId) {
        throw new EtcdError(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: bad leader transferee');
      }
      return { header: server.header() };
    }),

    downgrade: unary(async () => {
      throw new EtcdError(GrpcStatus.UNIMPLEMENTED, 'etcdserver: downgrade is not supported');
    }),
  };
}

/**
 * Streams a consistent copy of the backend in 32 KiB messages counting down
 * remaining_bytes, then one message with the SHA-256 of everything sent
 * (what `etcdctl snapshot restore` checks).
 */
async function streamSnapshot(server: HoldfastServer, call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-snapshot-'));
  try {
    const path = await server.backend.copyTo(directory);
    const totalBytes = statSync(path).size;
    const sha = createHash('sha256');
    let sentBytes = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: snapshotChunkBytes })) {
      const blob = chunk as Buffer;
      sentBytes += blob.length;
      sha.update(blob);
      const ok = call.write({ header: server.header(), remainingBytes: BigInt(totalBytes - sentBytes), blob });
      if (!ok) await new Promise<void>((resolve) => call.once('drain', resolve));
      if (call.cancelled) return;
    }
    call.write({ header: server.header(), remainingBytes: 0n, blob: sha.digest() });
    call.end();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
