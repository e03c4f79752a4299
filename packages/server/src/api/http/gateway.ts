/**
 * HTTP on the client port: /version, /health, /livez, /readyz and /metrics
 * (basic-routes.ts), the v2 keys API (v2-keys.ts), and the JSON gateway to the
 * v3 API in the shape etcd's grpc-gateway answers (proto JSON: bytes as
 * base64, 64-bit integers as strings, zero values left out; errors as
 * {"error","message","code"} with the gRPC code). Requests are handled by
 * the same service implementations gRPC calls use.
 *
 * Every route reads its body exactly as etcd does (Go's JSON decoder and
 * jsonpb: go-json.ts, over the request schemas in gateway-requests.ts), so
 * malformed JSON and wrong types get etcd's words. Watch and keepalive are
 * streams: gateway-streams.ts.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ServerUnaryCall, sendUnaryData, ServiceError, handleUnaryCall } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb, strict as strictProto } from '@holdfast/proto';
import type { MemberApi, TrackStream } from '../member-api.js';
import { grpcOverheadBytes } from '../../config.js';
import { RequestTooLargeError, TooManyOpsError } from '../../errors.js';
import type { MessageSchema } from './go-json.js';
import {
  alarmRequestSchema,
  compactionRequestSchema,
  deleteRangeRequestSchema,
  emptyRequestSchema,
  leaseGrantRequestSchema,
  leaseLeasesRequestSchema,
  leaseRevokeRequestSchema,
  leaseTimeToLiveRequestSchema,
  messageFromBody,
  putRequestSchema,
  rangeRequestSchema,
  txnRequestSchema,
  type PartialMessageType,
} from './gateway-requests.js';
import { grpcMetadataHeader, jsonAnswerStreamAboveBytes, methodNotAllowed, sendError, sendJson, sendServerError, streamRangeJson } from './gateway-response.js';
import { EncodedRangeResponse } from '../../apply/range-answer.js';
import { registerStreamingRoutes } from './gateway-streams.js';
import { registerBasicRoutes } from './basic-routes.js';
import { registerV2Keys } from '../v2/v2-keys.js';
import { BodyAbortedError, BodyReadError, BodyTimeoutError, BodyTooLargeError, closeAfterAnswer, readBody } from './gateway-body.js';

/** What a generated message type offers for JSON. */
interface JsonMessage<T> {
  toJSON(message: T): unknown;
}

/** What a generated message type offers for protobuf. */
interface EncodableMessage<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** A message larger than etcd's gRPC server takes (--max-request-bytes plus its overhead). */
class MessageTooLargeError extends Error {
  override name = 'MessageTooLargeError';
}

/** Bodies read before a message's size is checked, per byte of the largest message. */
const maxBodyBytesPerMessageByte = 4;

/** Reads a request body into a message; throws for a body etcd would refuse. */
type BodyDecoder<T> = (body: Buffer | undefined) => T;

const corsHeaders = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
} as const;

export interface GatewayServices {
  readonly kv: etcdserverpb.KVServer;
  readonly maintenance: etcdserverpb.MaintenanceServer;
  readonly cluster: etcdserverpb.ClusterServer;
  readonly lease: etcdserverpb.LeaseServer;
}

export function createHttpApp(member: MemberApi, services: GatewayServices, trackStream: TrackStream): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((request, response, next) => {
    response.set(corsHeaders);
    // etcd's CORS handler (--cors, default "*") answers every preflight
    // itself, whatever the path: 200 with no body.
    if (request.method === 'OPTIONS') {
      response.status(200).set('Content-Length', '0').end();
      return;
    }
    next();
  });
  // /version, /health, /livez, /readyz, /metrics: bodies are never read.
  registerBasicRoutes(app, member);
  // Watch and keepalive read their bodies as streams of requests.
  registerStreamingRoutes(app, member, trackStream);
  // The v2 keys API reads its bodies as Go reads forms. Without --enable-v2
  // /v2/keys is not routed, and falls to the 404 below as on etcd 3.4.
  if (member.config.enableV2) registerV2Keys(app, member, trackStream);
  // Any content type: curl's default form type included, as etcd accepts.
  // The same ceiling gRPC enforces before the request-size check proper.
  // JSON is larger than the protobuf message it holds (base64 alone is 4/3):
  // bodies up to this are decoded, and refused by their message's size as
  // etcd's gRPC server refuses them; larger ones are refused unread.
  // Bounded in pieces and time too (gateway-body.ts): 1-byte chunks and slow senders.
  const maxMessageBytes = member.config.maxRequestBytes + grpcOverheadBytes;
  app.use((request: Request, _response: Response, next: NextFunction) => {
    readBody(request, maxBodyBytesPerMessageByte * maxMessageBytes).then(
      (body) => {
        request.body = body;
        next();
      },
      (error: unknown) => next(error),
    );
  });


  const route = <Req, Res>(path: string, handler: handleUnaryCall<Req, Res>, decode: BodyDecoder<Req>, responseType: JsonMessage<Res>): void => {
    app.post(path, (request: Request, response: Response) => {
      let decoded: Req;
      try {
        decoded = decode(request.body as Buffer | undefined);
      } catch (error) {
        // Too large a message is the gRPC server's answer; unreadable JSON the gateway's own.
        if (error instanceof MessageTooLargeError) sendServerError(response, GrpcStatus.RESOURCE_EXHAUSTED, error.message);
        // Only a txn nests; etcd refuses one this deep as too many operations (strictProto.maxMessageDepth).
        else if (error instanceof strictProto.ProtoNestingError) sendServerError(response, GrpcStatus.INVALID_ARGUMENT, new TooManyOpsError().message);
        else sendError(response, GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
        return;
      }
      const callback: sendUnaryData<Res> = (error, value) => {
        if (error) {
          const serviceError = error as Partial<ServiceError>;
          sendServerError(response, serviceError.code ?? GrpcStatus.UNKNOWN, serviceError.details ?? serviceError.message ?? 'unknown error');
        }
        // A large Range answer is streamed: its JSON could be gigabytes.
        else if (value instanceof EncodedRangeResponse && value.kvsBytes > jsonAnswerStreamAboveBytes) void streamRangeJson(response, value).catch(() => response.destroy());
        else sendJson(response, 200, responseType.toJSON(value as Res), { [grpcMetadataHeader.name]: grpcMetadataHeader.value });
      };
      handler({ request: decoded } as ServerUnaryCall<Req, Res>, callback);
    });
    app.all(path, methodNotAllowed);
  };
  /** etcd's own reading: Go's JSON decoder and jsonpb rules (go-json.ts). */
  const strict =
    <Req>(schema: MessageSchema, type: PartialMessageType<Req> & EncodableMessage<Req>): BodyDecoder<Req> =>
    (body) => {
      const message = messageFromBody(body, schema, type);
      // Only a body this large can hold a message over the limit.
      if (body !== undefined && body.length > maxMessageBytes) {
        const size = type.encode(message).finish().length;
        if (size > maxMessageBytes) throw new MessageTooLargeError(`grpc: received message larger than max (${size} vs. ${maxMessageBytes})`);
      }
      return message;
    };

  const pb = etcdserverpb;
  route('/v3/kv/range', services.kv.range, strict(rangeRequestSchema, pb.RangeRequest), pb.RangeResponse);
  route('/v3/kv/put', services.kv.put, strict(putRequestSchema, pb.PutRequest), pb.PutResponse);
  route('/v3/kv/deleterange', services.kv.deleteRange, strict(deleteRangeRequestSchema, pb.DeleteRangeRequest), pb.DeleteRangeResponse);
  route('/v3/kv/txn', services.kv.txn, strict(txnRequestSchema, pb.TxnRequest), pb.TxnResponse);
  route('/v3/kv/compaction', services.kv.compact, strict(compactionRequestSchema, pb.CompactionRequest), pb.CompactionResponse);
  route('/v3/maintenance/status', services.maintenance.status, strict(emptyRequestSchema, pb.StatusRequest), pb.StatusResponse);
  route('/v3/maintenance/alarm', services.maintenance.alarm, strict(alarmRequestSchema, pb.AlarmRequest), pb.AlarmResponse);
  route('/v3/maintenance/defragment', services.maintenance.defragment, strict(emptyRequestSchema, pb.DefragmentRequest), pb.DefragmentResponse);
  // Hash and HashKV share this path in etcd 3.4's gateway; Hash, registered first, answers.
  route('/v3/maintenance/hash', services.maintenance.hash, strict(emptyRequestSchema, pb.HashRequest), pb.HashResponse);
  route('/v3/cluster/member/list', services.cluster.memberList, strict(emptyRequestSchema, pb.MemberListRequest), pb.MemberListResponse);

  // Lease routes; etcd 3.4 also serves all but grant under /v3/kv/lease/.
  const lease = services.lease;
  route('/v3/lease/grant', lease.leaseGrant, strict(leaseGrantRequestSchema, pb.LeaseGrantRequest), pb.LeaseGrantResponse);
  for (const prefix of ['/v3/lease', '/v3/kv/lease']) {
    route(`${prefix}/revoke`, lease.leaseRevoke, strict(leaseRevokeRequestSchema, pb.LeaseRevokeRequest), pb.LeaseRevokeResponse);
    route(`${prefix}/timetolive`, lease.leaseTimeToLive, strict(leaseTimeToLiveRequestSchema, pb.LeaseTimeToLiveRequest), pb.LeaseTimeToLiveResponse);
    route(`${prefix}/leases`, lease.leaseLeases, strict(leaseLeasesRequestSchema, pb.LeaseLeasesRequest), pb.LeaseLeasesResponse);
  }

  // Under /v3/ grpc-gateway's own "Not Found"; elsewhere Go's ServeMux's.
  app.use((request, response) => {
    const text = request.path.startsWith('/v3/') ? 'Not Found\n' : '404 page not found\n';
    response.status(404).type('text/plain; charset=utf-8').set('X-Content-Type-Options', 'nosniff').send(text);
  });
  // Body too large or unreadable: an etcd-shaped error, never a crash.
  app.use((error: Error, _request: Request, response: Response, _next: NextFunction) => {
    if (error instanceof BodyAbortedError) {
      response.destroy();
      return;
    }
    // A body cut short (chunked over the bound, too many pieces, too slow): its rest is not read, the connection closes.
    if (error instanceof BodyReadError && error.closeConnection) closeAfterAnswer(response);
    if (error instanceof BodyTooLargeError) sendError(response, GrpcStatus.RESOURCE_EXHAUSTED, new RequestTooLargeError().message);
    // grpc-gateway's status for Canceled is 408, Request Timeout.
    else if (error instanceof BodyTimeoutError) sendError(response, GrpcStatus.CANCELLED, error.message);
    else sendError(response, GrpcStatus.INVALID_ARGUMENT, error.message);
  });
  return app;
}
