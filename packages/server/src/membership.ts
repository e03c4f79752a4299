/**
 * Cluster membership as stored in the backend's `members` table (one JSON
 * record per member, keyed by id) and the cluster id in `meta`.
 */
import type { Backend } from '@holdfast/storage';
import { computeClusterId, computeMemberId } from './ids.js';
import type { ServerConfig } from './config.js';

export interface MemberRecord {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

const clusterIdKey = Buffer.from('cluster_id');

export class Membership {
  readonly clusterId: bigint;
  readonly localId: bigint;
  private readonly members = new Map<bigint, MemberRecord>();

  private constructor(clusterId: bigint, localId: bigint, members: MemberRecord[]) {
    this.clusterId = clusterId;
    this.localId = localId;
    for (const member of members) this.members.set(member.id, member);
  }

  /**
   * Loads membership from the backend, or on a new data directory creates it
   * from --initial-cluster. Ids are computed as etcd computes them.
   */
  static loadOrBootstrap(backend: Backend, config: ServerConfig): Membership {
    const meta = backend.table('meta');
    const stored = meta.get(clusterIdKey);
    const localId = computeMemberId(config.initialAdvertisePeerUrls, config.initialClusterToken);
    if (stored !== undefined) {
      const members = [...backend.table('members').range()].map(({ value }) => decodeMember(value));
      const local = members.find((member) => member.name === config.name) ?? members.find((member) => member.id === localId);
      return new Membership(stored.readBigUInt64BE(0), local?.id ?? localId, members);
    }
    const byName = new Map<string, string[]>();
    for (const { name, peerUrl } of config.initialCluster) byName.set(name, [...(byName.get(name) ?? []), peerUrl]);
    const members: MemberRecord[] = [...byName].map(([name, peerUrls]) => ({
      id: computeMemberId(peerUrls, config.initialClusterToken),
      name,
      peerUrls,
      clientUrls: name === config.name ? config.advertiseClientUrls : [],
      isLearner: false,
    }));
    const clusterId = computeClusterId(members.map((member) => member.id));
    backend.write(() => {
      const idBytes = Buffer.alloc(8);
      idBytes.writeBigUInt64BE(clusterId);
      meta.put(clusterIdKey, idBytes);
      for (const member of members) backend.table('members').put(memberKey(member.id), encodeMember(member));
    });
    return new Membership(clusterId, localId, members);
  }

  list(): MemberRecord[] {
    return [...this.members.values()];
  }

  get(id: bigint): MemberRecord | undefined {
    return this.members.get(id);
  }

  /** Records the client URLs this member advertises now (they may change between runs). */
  publishLocal(backend: Backend, name: string, clientUrls: readonly string[]): void {
    const local = this.members.get(this.localId);
    if (local === undefined) return;
    const updated = { ...local, name, clientUrls: [...clientUrls] };
    this.members.set(local.id, updated);
    backend.write(() => backend.table('members').put(memberKey(local.id), encodeMember(updated)));
  }
}

function memberKey(id: bigint): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(id);
  return key;
}

function encodeMember(member: MemberRecord): Buffer {
  return Buffer.from(JSON.stringify({ ...member, id: member.id.toString() }));
}

function decodeMember(bytes: Buffer): MemberRecord {
  const parsed = JSON.parse(bytes.toString('utf8')) as Omit<MemberRecord, 'id'> & { id: string };
  return { ...parsed, id: BigInt(parsed.id) };
}
