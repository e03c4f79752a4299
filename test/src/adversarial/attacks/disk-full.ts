/**
 * A full disk: the server's whole data directory (WAL and backend) sits on
 * a small tmpfs, and writes of large values go on until the disk refuses
 * them. Stopping is the right outcome (etcd panics on a failed WAL write;
 * Holdfast stops too, since after a failed fsync the page cache cannot be
 * trusted). What must hold: once there is room again, the server restarts
 * and every write acknowledged before or during the fill is there.
 *
 * Needs root to mount; reported as skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { removeDirectory, temporaryDirectory } from '../../support.js';
import { ownConnection } from '../../kv-client.js';
import type { Attack } from '../attack.js';

/**
 * etcd preallocates 64 MiB WAL segments and its first backend commit needs
 * room beside one (it cannot start on 96 MiB), so the filesystem holds one
 * segment, the first backend pages and some room to fill.
 */
export const diskFullTmpfsBytes = 160 * 1024 * 1024;
/** Room after the attack, to restart and probe. */
const roomAfterBytes = 512 * 1024 * 1024;
const fillValueBytes = 64 * 1024;
/** The fill stops after this many writes even if the disk never fills (it must). */
const maxFillWrites = 4_000;
/** Refusals tried after the first, to see that the server keeps refusing cleanly. */
const writesAfterFirstRefusal = 5;
const writeDeadlineMs = 10_000;

const mounts = new Map<string, string>();

export const diskFullAttack: Attack = {
  name: 'disk-full',
  description: `data dir on a ${diskFullTmpfsBytes / 1024 / 1024} MiB tmpfs, ${fillValueBytes / 1024} KiB puts until the disk refuses; then room, restart, every acknowledged write read back`,
  mayStopServer: true,
  unavailable: () => (process.getuid?.() === 0 ? undefined : 'needs root to mount a small tmpfs'),
  async placement(kind) {
    const mountPoint = temporaryDirectory(`diskfull-${kind}`);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${diskFullTmpfsBytes}`, 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs on ${mountPoint}: ${mounted.stderr.trim()}`);
    const dataDir = `${mountPoint}/data`;
    mounts.set(dataDir, mountPoint);
    return {
      dataDir,
      release: () => {
        spawnSync('umount', [mountPoint]);
        removeDirectory(mountPoint);
        mounts.delete(dataDir);
      },
    };
  },
  async recover(target) {
    const mountPoint = mounts.get(target.dataDir);
    if (mountPoint === undefined) throw new Error(`no tmpfs recorded for ${target.dataDir}`);
    const remounted = spawnSync('mount', ['-o', `remount,size=${roomAfterBytes}`, mountPoint], { encoding: 'utf8' });
    if (remounted.status !== 0) throw new Error(`cannot make room on ${mountPoint}: ${remounted.stderr.trim()}`);
  },
  async run(target, _scale, context) {
    if (context === undefined) throw new Error('disk-full needs the runner context to record its writes');
    const client = new etcdserverpb.KVClient(target.endpoint, credentials.createInsecure(), ownConnection);
    let acknowledged = 0;
    let firstRefusal: string | undefined;
    let refusals = 0;
    try {
      for (let i = 0; i < maxFillWrites && refusals <= writesAfterFirstRefusal; i++) {
        const key = `${context.acknowledgedKeyPrefix}${String(i).padStart(5, '0')}`;
        const value = `${i}:${'f'.repeat(fillValueBytes)}`;
        try {
          await new Promise<void>((resolve, reject) =>
            client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) }), new Metadata(), { deadline: new Date(Date.now() + writeDeadlineMs) }, (error: ServiceError | null) =>
              error ? reject(error) : resolve(),
            ),
          );
          context.acknowledge(key, value);
          acknowledged++;
        } catch (error) {
          refusals++;
          firstRefusal ??= `${(error as ServiceError).code} ${(error as ServiceError).details}`;
        }
      }
    } finally {
      client.close();
    }
    if (firstRefusal === undefined) throw new Error(`the disk never filled after ${acknowledged} writes of ${fillValueBytes} bytes`);
    return { acknowledgedWrites: acknowledged, firstRefusal };
  },
};
