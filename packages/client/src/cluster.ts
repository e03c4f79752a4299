/** Cluster membership: list, add (as learner or voter), remove, update peer URLs, promote. */
import { etcdserverpb } from '@holdfast/proto';
import { toHeader, type ResponseHeader } from './bytes.js';
import type { ConnectionPool, RequestOptions } from './connection-pool.js';

export interface Member {
  readonly id: bigint;
  /** Empty until the member has started. */
  readonly name: string;
  readonly peerUrls: string[];
  readonly clientUrls: string[];
  readonly isLearner: boolean;
}

export interface MembersResult {
  readonly header: ResponseHeader;
  readonly members: Member[];
}

function toMember(member: etcdserverpb.Member): Member {
  return { id: member.ID, name: member.name, peerUrls: member.peerURLs, clientUrls: member.clientURLs, isLearner: member.isLearner };
}

function toMembers(response: { header?: etcdserverpb.ResponseHeader | undefined; members: etcdserverpb.Member[] }): MembersResult {
  return { header: toHeader(response.header), members: response.members.map(toMember) };
}

export class ClusterApi {
  constructor(private readonly pool: ConnectionPool) {}

  /** Members; `linearizable` asks the leader rather than the member's possibly stale view. */
  async memberList(options: RequestOptions & { linearizable?: boolean } = {}): Promise<MembersResult> {
    return toMembers(await this.pool.unary(etcdserverpb.ClusterService.memberList, { linearizable: options.linearizable ?? false }, options));
  }

  async memberAdd(peerUrls: readonly string[], options: RequestOptions & { learner?: boolean } = {}): Promise<MembersResult & { member: Member | undefined }> {
    const response = await this.pool.unary(etcdserverpb.ClusterService.memberAdd, { peerURLs: [...peerUrls], isLearner: options.learner ?? false }, options);
    return { ...toMembers(response), member: response.member === undefined ? undefined : toMember(response.member) };
  }

  async memberRemove(memberId: bigint, options: RequestOptions = {}): Promise<MembersResult> {
    return toMembers(await this.pool.unary(etcdserverpb.ClusterService.memberRemove, { ID: memberId }, options));
  }

  async memberUpdate(memberId: bigint, peerUrls: readonly string[], options: RequestOptions = {}): Promise<MembersResult> {
    return toMembers(await this.pool.unary(etcdserverpb.ClusterService.memberUpdate, { ID: memberId, peerURLs: [...peerUrls] }, options));
  }

  async memberPromote(memberId: bigint, options: RequestOptions = {}): Promise<MembersResult> {
    return toMembers(await this.pool.unary(etcdserverpb.ClusterService.memberPromote, { ID: memberId }, options));
  }
}
