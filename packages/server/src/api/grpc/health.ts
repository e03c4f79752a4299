/** grpc.health.v1.Health: SERVING while the server accepts requests. */
import { status as GrpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import { healthpb } from '@holdfast/proto';
import type { MemberApi } from '../member-api.js';
import { EtcdError } from '../../errors.js';
import { unary } from './grpc-handlers.js';

const { HealthCheckResponse_ServingStatus: ServingStatus } = healthpb;

export function createHealthService(member: MemberApi): healthpb.HealthServer {
  const current = (): healthpb.HealthCheckResponse_ServingStatus => (member.healthy ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  return {
    check: unary(async (request: healthpb.HealthCheckRequest) => {
      if (request.service !== '' && request.service !== 'etcdserverpb.KV') throw new EtcdError(GrpcStatus.NOT_FOUND, 'unknown service');
      return { status: current() };
    }),
    watch: (call: ServerWritableStream<healthpb.HealthCheckRequest, healthpb.HealthCheckResponse>) => {
      call.write({ status: current() });
      // Status changes only on fatal errors, after which the stream ends with the server.
    },
  };
}
