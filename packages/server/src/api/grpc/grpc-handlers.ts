/**
 * Adapters from promise-returning handlers to grpc-js callbacks; every
 * error goes through toServiceError() so clients see etcd's codes and messages.
 */
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { toServiceError } from '../../errors.js';

export function unary<Request, Response>(handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response>): handleUnaryCall<Request, Response> {
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
    handler(call.request, call).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}
