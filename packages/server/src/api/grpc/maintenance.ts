/** The etcdserverpb.Maintenance service. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { status as GrpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { Crc32c } from '@holdfast/mvcc';
import { backendTableNames } from '@holdfast/storage';
import type { MemberApi } from '../member-api.js';
import { etcdCompatibleVersion } from '../../version.js';
import { formatAlarm } from '../../apply/alarms.js';
import { AlarmTypeError, BadLeaderTransfereeError, EtcdError, NoLeaderError, toServiceError } from '../../errors.js';
import { unary } from './grpc-handlers.js';

/** Bytes per Snapshot message, as etcd sends them. */
export const snapshotChunkBytes = 32 * 1024;

export function createMaintenanceService(member: MemberApi): etcdserverpb.MaintenanceServer {
  return {
    alarm: unary(async (request: etcdserverpb.AlarmRequest) => {
      if (request.action === etcdserverpb.AlarmRequest_AlarmAction.GET) {
        return {
          header: member.header(),
          alarms: member.alarms.list(request.alarm).map((alarm) => ({ memberID: alarm.memberId, alarm: alarm.alarm })),
        };
      }
      if (request.alarm !== etcdserverpb.AlarmType.NOSPACE && request.alarm !== etcdserverpb.AlarmType.CORRUPT) throw new AlarmTypeError();
      const { response } = await member.propose({ alarm: request });
      return member.fillHeader(response as etcdserverpb.AlarmResponse);
    }),

    status: unary(async () => {
      const errors = member.alarms.list().map(formatAlarm);
      if (member.leaderId === 0n) errors.unshift(new NoLeaderError().message);
      return {
        header: member.header(),
        version: etcdCompatibleVersion,
        dbSize: BigInt(member.backend.sizeBytes()),
        leader: member.leaderId,
        raftIndex: BigInt(member.committedIndex),
        raftTerm: BigInt(member.term),
        raftAppliedIndex: BigInt(member.appliedIndex),
        errors,
        dbSizeInUse: BigInt(member.backend.sizeInUseBytes()),
        isLearner: false,
      } satisfies etcdserverpb.StatusResponse;
    }),

    defragment: unary(async () => {
      await member.defragment();
      return { header: member.header() };
    }),

    hash: unary(async () => {
      // A checksum of every table, key and value, in order.
      const crc = new Crc32c();
      for (const name of backendTableNames) {
        crc.update(Buffer.from(name));
        for (const { key, value } of member.backend.table(name).range()) crc.update(key).update(value);
      }
      return { header: member.header(), hash: crc.digest() };
    }),

    hashKv: unary(async (request: etcdserverpb.HashKVRequest) => {
      const result = member.store.hashByRevision(Number(request.revision));
      // etcd 3.4 reports -1 until the first compaction (its compactMainRev starts there).
      const compactRevision = result.compactRevision === 0 ? -1n : BigInt(result.compactRevision);
      return { header: member.header(BigInt(result.revision)), hash: result.hash, compactRevision };
    }),

    snapshot: (call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>) => {
      streamSnapshot(member, call).catch((error: unknown) => {
        member.logger.warn({ err: error }, 'snapshot stream failed');
        call.destroy(Object.assign(new Error(toServiceError(error).details), toServiceError(error)));
      });
    },

    moveLeader: unary(async (request: etcdserverpb.MoveLeaderRequest) => {
      // A group of one: the only possible leader already leads.
      if (request.targetID !== member.membership.localId) {
        throw new BadLeaderTransfereeError();
      }
      return { header: member.header() };
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
async function streamSnapshot(member: MemberApi, call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-snapshot-'));
  try {
    const path = await member.backend.copyTo(directory);
    const totalBytes = statSync(path).size;
    const sha = createHash('sha256');
    let sentBytes = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: snapshotChunkBytes })) {
      const blob = chunk as Buffer;
      sentBytes += blob.length;
      sha.update(blob);
      const ok = call.write({ header: member.header(), remainingBytes: BigInt(totalBytes - sentBytes), blob });
      if (!ok) await new Promise<void>((resolve) => call.once('drain', resolve));
      if (call.cancelled) return;
    }
    call.write({ header: member.header(), remainingBytes: 0n, blob: sha.digest() });
    call.end();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
