/** The etcdserverpb.Cluster service. Membership changes arrive with Raft. */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { etcdserverpb } from '@holdfast/proto';
import type { MemberApi } from '../member-api.js';
import { EtcdError } from '../../errors.js';
import { unary } from './grpc-handlers.js';

export function createClusterService(member: MemberApi): etcdserverpb.ClusterServer {
  const members = (): etcdserverpb.Member[] =>
    member.membership.list().map((member) => ({
      ID: member.id,
      name: member.name,
      peerURLs: [...member.peerUrls],
      clientURLs: [...member.clientUrls],
      isLearner: member.isLearner,
    }));
  const notYet = unary(async () => {
    throw new EtcdError(GrpcStatus.UNIMPLEMENTED, 'etcdserver: membership changes need a Raft cluster, which this server does not run yet');
  });
  return {
    memberList: unary(async (request: etcdserverpb.MemberListRequest) => {
      if (request.linearizable) await member.linearizableRead();
      // etcd's cluster responses carry no revision in their header.
      return { header: { ...member.header(), revision: 0n }, members: members() };
    }),
    memberAdd: notYet,
    memberRemove: notYet,
    memberUpdate: notYet,
    memberPromote: notYet,
  };
}
