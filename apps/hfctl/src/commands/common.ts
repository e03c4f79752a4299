/** Helpers every command uses: a session around the run, and etcdctl-style failures. */
import type { GetResult, DeleteResult, PutResult, TxnResult, OperationResult } from '@holdfast/client';
import type { etcdserverpb } from '@holdfast/proto';
import type { Invocation } from '../cli/command.js';
import { exitWithError } from '../cli/exit.js';
import { etcdctlMessage } from '../errors.js';
import { Session } from '../session.js';

/** Runs `body` with a session whose clients are closed afterwards, whatever happens. */
export function withSession(body: (session: Session) => Promise<void>): (invocation: Invocation) => Promise<void> {
  return async (invocation) => {
    const session = new Session(invocation);
    try {
      await body(session);
    } finally {
      session.close();
    }
  };
}

/** ExitWithError(code, err) for an error from the client. */
export function fail(code: number, error: unknown, wrap: (message: string) => string = (message) => message): never {
  exitWithError(code, wrap(etcdctlMessage(error)));
}

/**
 * A deadline for calls etcdctl makes without one (context.Background()):
 * 11.5 days. Not more: a server on grpc-js turns a grpc-timeout of 2^31 ms
 * or more into an immediate DEADLINE_EXCEEDED (its timer overflows).
 */
export const noDeadlineMs = 1_000_000_000;

// The client's typed results in their wire shape, which is what the printers print.

export function rangeResponse(result: GetResult): etcdserverpb.RangeResponse {
  return { header: result.header, kvs: result.kvs, more: result.more, count: result.count };
}

export function putResponse(result: PutResult): etcdserverpb.PutResponse {
  return { header: result.header, prevKv: result.prevKv };
}

export function deleteResponse(result: DeleteResult): etcdserverpb.DeleteRangeResponse {
  return { header: result.header, deleted: result.deleted, prevKvs: result.prevKvs };
}

export function txnResponse(result: TxnResult): etcdserverpb.TxnResponse {
  return { header: result.header, succeeded: result.succeeded, responses: result.responses.map(responseOp) };
}

function responseOp(result: OperationResult): etcdserverpb.ResponseOp {
  switch (result.kind) {
    case 'get':
      return { responseRange: rangeResponse(result) };
    case 'put':
      return { responsePut: putResponse(result) };
    case 'delete':
      return { responseDeleteRange: deleteResponse(result) };
    case 'txn':
      return { responseTxn: txnResponse(result) };
  }
}
