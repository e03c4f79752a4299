/**
 * HTTP on the client port: /version, /health, /livez, /readyz and /metrics
 * (basic-routes.ts), the v2 keys API (v2-keys.ts), and the JSON gateway to the
 * v3 API in the shape etcd's grpc-gateway answers (proto JSON: bytes as
 * base64, 64-bit integers as strings, zero values left out; errors as
 * {"error","message","code"} with the gRPC code). Requests are handled by
 * the same service implementations gRPC calls use.
 *
 * The lease routes read their bodies exactly as etcd does (Go's JSON
 * decoder and jsonpb: go-json.ts); the older KV, maintenance and cluster
 * routes still read them with ts-proto's fromJSON, which is more lenient.
 * Watch and keepalive are streams: gateway-streams.ts.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ServerUnaryCall, sendUnaryData, ServiceError, handleUnaryCall } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import type { HoldfastServer } from '../holdfast-server.js';
import { grpcOverheadBytes } from '../config.js';
import type { MessageSchema } from './go-json.js';
import { leaseGrantRequestSchema, leaseLeasesRequestSchema, leaseRevokeRequestSchema, leaseTimeToLiveRequestSchema, messageFromBody, type PartialMessageType } from './gateway-requests.js';
import { grpcMetadataHeader, methodNotAllowed, sendError, sendJson, sendServerError } from './gateway-response.js';
import { registerStreamingRoutes } from './gateway-streams.js';
import { registerBasicRoutes } from './basic-routes.js';
import { registerV2Keys } from './v2-keys.js';

/** What a generated message type offers for JSON. */
interface JsonMessage<T> {
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
}

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

export function createHttpApp(server: HoldfastServer, services: GatewayServices): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_request, response, next) => {
    response.set(corsHeaders);
    next();
  });
  // /version, /health, /livez, /readyz, /metrics: bodies are never read.
  registerBasicRoutes(app, server);
  // Watch and keepalive read their bodies as streams of requests.
  registerStreamingRoutes(app, server);
  // The v2 keys API reads its bodies as Go reads forms.
  registerV2Keys(app, server);
  // Any content type: curl's default form type included, as etcd accepts.
  // The same ceiling gRPC enforces before the request-size check proper.
  app.use(express.raw({ type: () => true, limit: server.config.maxRequestBytes + grpcOverheadBytes }));


  const route = <Req, Res>(path: string, handler: handleUnaryCall<Req, Res>, decode: BodyDecoder<Req>, responseType: JsonMessage<Res>): void => {
    app.post(path, (request: Request, response: Response) => {
      let decoded: Req;
      try {
        decoded = decode(request.body as Buffer | undefined);
      } catch (error) {
        sendError(response, GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
        return;
      }
      const callback: sendUnaryData<Res> = (error, value) => {
        if (error) {
          const serviceError = error as Partial<ServiceError>;
          sendServerError(response, serviceError.code ?? GrpcStatus.UNKNOWN, serviceError.details ?? serviceError.message ?? 'unknown error');
        }
        else sendJson(response, 200, responseType.toJSON(value as Res), { [grpcMetadataHeader.name]: grpcMetadataHeader.value });
      };
      handler({ request: decoded } as ServerUnaryCall<Req, Res>, callback);
    });
    app.all(path, methodNotAllowed);
  };
  /** The existing routes' lenient reading (ts-proto's fromJSON). */
  const lenient = <Req>(type: JsonMessage<Req>): BodyDecoder<Req> => (body) => type.fromJSON(parseBody(body));
  /** etcd's own reading: Go's JSON decoder and jsonpb rules (go-json.ts). */
  const strict = <Req>(schema: MessageSchema, type: PartialMessageType<Req>): BodyDecoder<Req> => (body) => messageFromBody(body, schema, type);

  const pb = etcdserverpb;
  route('/v3/kv/range', services.kv.range, lenient(pb.RangeRequest), pb.RangeResponse);
  route('/v3/kv/put', services.kv.put, lenient(pb.PutRequest), pb.PutResponse);
  route('/v3/kv/deleterange', services.kv.deleteRange, lenient(pb.DeleteRangeRequest), pb.DeleteRangeResponse);
  route('/v3/kv/txn', services.kv.txn, lenient(pb.TxnRequest), pb.TxnResponse);
  route('/v3/kv/compaction', services.kv.compact, lenient(pb.CompactionRequest), pb.CompactionResponse);
  route('/v3/maintenance/status', services.maintenance.status, lenient(pb.StatusRequest), pb.StatusResponse);
  route('/v3/maintenance/alarm', services.maintenance.alarm, lenient(pb.AlarmRequest), pb.AlarmResponse);
  route('/v3/maintenance/defragment', services.maintenance.defragment, lenient(pb.DefragmentRequest), pb.DefragmentResponse);
  route('/v3/maintenance/hash', services.maintenance.hashKv, lenient(pb.HashKVRequest), pb.HashKVResponse);
  route('/v3/cluster/member/list', services.cluster.memberList, lenient(pb.MemberListRequest), pb.MemberListResponse);

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
  app.use((error: Error & { status?: number; type?: string }, _request: Request, response: Response, _next: NextFunction) => {
    const tooLarge = error.type === 'entity.too.large';
    sendError(response, tooLarge ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INVALID_ARGUMENT, tooLarge ? 'etcdserver: request is too large' : error.message);
  });
  return app;
}

/**
 * Parses a JSON body for ts-proto's fromJSON, which reads the proto field
 * names: camelCase keys (which grpc-gateway also accepts) get their
 * snake_case twin. An empty body is an empty message.
 */
function parseBody(body: Buffer | undefined): unknown {
  const text = body === undefined ? '' : body.toString('utf8').trim();
  if (text.length === 0) return {};
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`json: cannot unmarshal ${Array.isArray(parsed) ? 'array' : typeof parsed} into a request message`);
  }
  return withSnakeCaseKeys(parsed);
}

function withSnakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withSnakeCaseKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const converted = withSnakeCaseKeys(child);
    out[key] = converted;
    const snake = key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    if (snake !== key && !(snake in out)) out[snake] = converted;
  }
  return out;
}
