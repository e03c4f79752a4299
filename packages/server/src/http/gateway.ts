/**
 * HTTP on the client port: /health, /version, and the JSON gateway to the
 * v3 API in the shape etcd's grpc-gateway answers (proto JSON: bytes as
 * base64, 64-bit integers as strings, zero values left out; errors as
 * {"error","message","code"} with the gRPC code). Requests are handled by
 * the same service implementations gRPC calls use.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ServerUnaryCall, sendUnaryData, ServiceError, handleUnaryCall } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import type { HoldfastServer } from '../holdfast-server.js';
import { etcdCompatibleVersion } from '../version.js';
import { grpcOverheadBytes } from '../config.js';

/** What a generated message type offers for JSON. */
interface JsonMessage<T> {
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
}

/** gRPC code -> HTTP status, as grpc-gateway v1 maps them. */
const httpStatusByGrpcCode: Record<number, number> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 408,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

const corsHeaders = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
} as const;

export interface GatewayServices {
  readonly kv: etcdserverpb.KVServer;
  readonly maintenance: etcdserverpb.MaintenanceServer;
  readonly cluster: etcdserverpb.ClusterServer;
}

export function createHttpApp(server: HoldfastServer, services: GatewayServices): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_request, response, next) => {
    response.set(corsHeaders);
    next();
  });
  // Any content type: curl's default form type included, as etcd accepts.
  // The same ceiling gRPC enforces before the request-size check proper.
  app.use(express.raw({ type: () => true, limit: server.config.maxRequestBytes + grpcOverheadBytes }));

  app.get('/health', (_request, response) => {
    response.type('text/plain; charset=utf-8').send(JSON.stringify({ health: server.healthy ? 'true' : 'false' }));
  });
  app.get('/version', (_request, response) => {
    sendJson(response, 200, { etcdserver: etcdCompatibleVersion, etcdcluster: '3.4.0' });
  });

  const route = <Req, Res>(path: string, handler: handleUnaryCall<Req, Res>, requestType: JsonMessage<Req>, responseType: JsonMessage<Res>): void => {
    app.post(path, (request: Request, response: Response) => {
      let decoded: Req;
      try {
        decoded = requestType.fromJSON(parseBody(request.body as Buffer | undefined));
      } catch (error) {
        sendError(response, GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
        return;
      }
      const callback: sendUnaryData<Res> = (error, value) => {
        if (error) {
          const serviceError = error as Partial<ServiceError>;
          sendError(response, serviceError.code ?? GrpcStatus.UNKNOWN, serviceError.details ?? serviceError.message ?? 'unknown error');
        }
        else sendJson(response, 200, responseType.toJSON(value as Res));
      };
      handler({ request: decoded } as ServerUnaryCall<Req, Res>, callback);
    });
    app.all(path, (_request, response) => {
      response.status(405).type('text/plain; charset=utf-8').set('X-Content-Type-Options', 'nosniff').send('Method Not Allowed\n');
    });
  };

  const pb = etcdserverpb;
  route('/v3/kv/range', services.kv.range, pb.RangeRequest, pb.RangeResponse);
  route('/v3/kv/put', services.kv.put, pb.PutRequest, pb.PutResponse);
  route('/v3/kv/deleterange', services.kv.deleteRange, pb.DeleteRangeRequest, pb.DeleteRangeResponse);
  route('/v3/kv/txn', services.kv.txn, pb.TxnRequest, pb.TxnResponse);
  route('/v3/kv/compaction', services.kv.compact, pb.CompactionRequest, pb.CompactionResponse);
  route('/v3/maintenance/status', services.maintenance.status, pb.StatusRequest, pb.StatusResponse);
  route('/v3/maintenance/alarm', services.maintenance.alarm, pb.AlarmRequest, pb.AlarmResponse);
  route('/v3/maintenance/defragment', services.maintenance.defragment, pb.DefragmentRequest, pb.DefragmentResponse);
  route('/v3/maintenance/hash', services.maintenance.hashKv, pb.HashKVRequest, pb.HashKVResponse);
  route('/v3/cluster/member/list', services.cluster.memberList, pb.MemberListRequest, pb.MemberListResponse);

  app.use((_request, response) => {
    response.status(404).type('text/plain; charset=utf-8').set('X-Content-Type-Options', 'nosniff').send('404 page not found\n');
  });
  // Body too large or unreadable: an etcd-shaped error, never a crash.
  app.use((error: Error & { status?: number; type?: string }, _request: Request, response: Response, _next: NextFunction) => {
    const tooLarge = error.type === 'entity.too.large';
    sendError(response, tooLarge ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INVALID_ARGUMENT, tooLarge ? 'etcdserver: request is too large' : error.message);
  });
  return app;
}

function sendError(response: Response, code: number, message: string): void {
  sendJson(response, httpStatusByGrpcCode[code] ?? 500, { error: message, message, code });
}

/** JSON with etcd's exact Content-Type (express would add a charset). */
function sendJson(response: Response, status: number, body: unknown): void {
  response.status(status).setHeader('Content-Type', 'application/json');
  response.end(JSON.stringify(body));
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
