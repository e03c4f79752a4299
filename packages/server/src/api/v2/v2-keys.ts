/**
 * /v2/keys: etcd 3.4's v2 keys HTTP API (etcdserver/api/v2http), on the v2
 * store emulation (v2-store.ts) and its waits (v2-watch.ts).
 *
 * Requests are read as etcd's Go server reads them (go-form.ts): the path
 * unescaped and cleaned (301 to the clean path), the form from the query
 * and a urlencoded body, every parameter checked in etcd's order with its
 * error code (203 index, 209 field, 201 prevValue, 202 ttl, 211/212
 * refresh, 210 form). Then, as etcd's handler:
 *
 *   GET     get, or wait (wait=true: long poll; stream=true: keep sending)
 *   HEAD    get, headers only
 *   PUT     prevExist=false: create; prevExist=true: update, or
 *           compareAndSwap with prevValue/prevIndex; prevValue/prevIndex
 *           alone: compareAndSwap; otherwise set
 *   POST    create an in-order key under the path
 *   DELETE  prevValue/prevIndex: compareAndDelete; otherwise delete
 *
 * Answers carry X-Etcd-Cluster-Id, X-Etcd-Index (the store index), and for
 * events X-Raft-Index and X-Raft-Term; errors are {errorCode, message,
 * cause, index} with v2error's HTTP status. Anything that is not a v2
 * error (a full quota, a request over --max-request-bytes, a stopping
 * server) is etcd's 300 "Raft Internal Error" with the message as cause.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import type { MemberApi, TrackStream } from '../member-api.js';
import { maxLeaseTtlSeconds } from '../../lease/lessor.js';
import { BodyReadError, BodyTooLargeError, closeAfterAnswer, readBody } from '../http/gateway-body.js';
import { formBodyKind, goEscapePath, goParseBool, goParseForm, goParseUint64, goServeMuxCleanPath, goCleanPath, goUnescape, GoFormError, maxFormBodyBytes, type FormValues } from '../http/go-form.js';
import { PieceWriter } from '../http/gateway-response.js';
import { countV2Nodes, encodeV2Error, encodeV2Event, encodeV2EventPieces, type V2Event } from './v2-json.js';
import { V2Error, V2Store, v2ErrorMessages, type V2Result } from './v2-store.js';
import { startWait } from './v2-watch.js';
import { sendGoError } from '../http/basic-routes.js';

const keysPath = '/v2/keys';
const allowedMethods = ['HEAD', 'GET', 'PUT', 'POST', 'DELETE'];

/** A parsed /v2/keys request (etcdserverpb.Request as parseKeyRequest fills it). */
interface KeyRequest {
  readonly method: string;
  readonly path: string;
  readonly value: string;
  readonly dir: boolean;
  readonly prevValue: string;
  readonly prevIndex: bigint;
  readonly prevExist: boolean | undefined;
  readonly wait: boolean;
  readonly waitIndex: bigint;
  readonly recursive: boolean;
  readonly sorted: boolean;
  readonly quorum: boolean;
  readonly stream: boolean;
  readonly refresh: boolean;
  readonly noValueOnSuccess: boolean;
  readonly ttlSeconds: number | undefined;
}

/** etcd's parseKeyRequest: the checks in its order, with its codes and causes (index 0). */
function parseKeyRequest(method: string, path: string, form: FormValues): KeyRequest | V2Error {
  const first = (name: string): string | undefined => form.get(name)?.[0];
  const fail = (code: number, cause: string): V2Error => new V2Error(code, cause, 0);
  const uint = (name: string): bigint | V2Error => {
    const given = first(name);
    if (given === undefined) return 0n;
    return goParseUint64(given) ?? fail(203, `invalid value for "${name}"`);
  };
  const flag = (name: string, cause = `invalid value for "${name}"`): boolean | V2Error => {
    const given = first(name);
    if (given === undefined) return false;
    return goParseBool(given) ?? fail(209, cause);
  };
  const prevIndex = uint('prevIndex');
  if (prevIndex instanceof V2Error) return prevIndex;
  const waitIndex = uint('waitIndex');
  if (waitIndex instanceof V2Error) return waitIndex;
  const flags: Record<string, boolean> = {};
  for (const name of ['recursive', 'sorted', 'wait', 'dir', 'quorum', 'stream']) {
    const value = flag(name);
    if (value instanceof V2Error) return value;
    flags[name] = value;
  }
  if (flags.wait && method !== 'GET') return fail(209, '"wait" can only be used with GET requests');
  const prevValue = first('prevValue') ?? '';
  if (form.has('prevValue') && prevValue === '') return fail(201, '"prevValue" cannot be empty');
  const noValueOnSuccess = flag('noValueOnSuccess');
  if (noValueOnSuccess instanceof V2Error) return noValueOnSuccess;
  let ttlSeconds: number | undefined;
  const ttlText = first('ttl') ?? '';
  if (ttlText.length > 0) {
    const ttl = goParseUint64(ttlText);
    // Leases end at etcd's maximum lease TTL: longer v2 TTLs are refused here.
    if (ttl === undefined || ttl > BigInt(maxLeaseTtlSeconds)) return fail(202, 'invalid value for "ttl"');
    ttlSeconds = Number(ttl);
  }
  let prevExist: boolean | undefined;
  if (form.has('prevExist')) {
    const value = flag('prevExist', 'invalid value for prevExist');
    if (value instanceof V2Error) return value;
    prevExist = value;
  }
  let refresh = false;
  if (form.has('refresh')) {
    const value = flag('refresh', 'invalid value for refresh');
    if (value instanceof V2Error) return value;
    refresh = value;
    if (refresh && (first('value') ?? '') !== '') return fail(211, 'A value was provided on a refresh');
    if (refresh && ttlSeconds === undefined) return fail(212, 'No TTL value set');
  }
  return {
    method,
    path,
    value: first('value') ?? '',
    dir: flags.dir!,
    prevValue,
    prevIndex,
    prevExist,
    wait: flags.wait!,
    waitIndex,
    recursive: flags.recursive!,
    sorted: flags.sorted!,
    quorum: flags.quorum!,
    stream: flags.stream!,
    refresh,
    noValueOnSuccess,
    ttlSeconds,
  };
}

/**
 * Reads a urlencoded body as ParseForm does: at most 10 MiB ("http: POST too
 * large"); also bounded in pieces and time (gateway-body.ts), which Go's is
 * not: then the connection closes after the answer.
 */
async function readFormBody(request: Request, response: Response): Promise<string | GoFormError> {
  try {
    return (await readBody(request, maxFormBodyBytes)).toString('latin1');
  } catch (error) {
    if (!(error instanceof BodyReadError)) throw error;
    if (error.closeConnection) closeAfterAnswer(response);
    // The rest of a body over the bound with a Content-Length is read and dropped, so the connection stays usable.
    else request.resume();
    return new GoFormError(error instanceof BodyTooLargeError ? 'http: POST too large' : error.message);
  }
}

/** GET answers with more nodes than this are streamed (smaller ones keep their Content-Length). */
export const v2AnswerSliceNodes = 1000;

export function registerV2Keys(app: Express, member: MemberApi, trackStream: TrackStream): void {
  const store = new V2Store(member);
  const clusterId = member.membership.clusterId.toString(16);

  const sendError = (response: Response, error: unknown): void => {
    const v2 = error instanceof V2Error ? error : new V2Error(300, error instanceof Error ? error.message : String(error), 0);
    response.status(v2.status).setHeader('Content-Type', 'application/json');
    response.setHeader('X-Etcd-Index', String(v2.index));
    response.end(encodeV2Error({ errorCode: v2.errorCode, message: v2ErrorMessages[v2.errorCode] ?? '', cause: v2.errorCause, index: v2.index }));
  };

  /** An event's headers (set raw: express would add a charset to the type). */
  const setEventHeaders = (response: Response, index: number): void => {
    response.setHeader('Content-Type', 'application/json');
    response.setHeader('X-Etcd-Index', String(index));
    response.setHeader('X-Raft-Index', String(member.committedIndex));
    response.setHeader('X-Raft-Term', String(member.term));
  };

  const sendResult = (response: Response, result: V2Result, noValueOnSuccess: boolean): void => {
    response.status(result.created ? 201 : 200);
    setEventHeaders(response, result.index);
    const bare = noValueOnSuccess && ['set', 'compareAndSwap', 'create', 'update'].includes(result.event.action);
    response.end(encodeV2Event(bare ? { action: result.event.action } : result.event));
  };

  /**
   * A GET's answer: a tree of more than v2AnswerSliceNodes nodes is written
   * through a PieceWriter (chunked, as Go's HTTP server sends any body past
   * its 2 KiB buffer); the bytes are encodeV2Event's.
   */
  const sendListing = async (response: Response, result: V2Result): Promise<void> => {
    if (countV2Nodes(result.event.node) <= v2AnswerSliceNodes) return sendResult(response, result, false);
    response.status(200);
    setEventHeaders(response, result.index);
    const writer = new PieceWriter(response);
    for (const part of encodeV2EventPieces(result.event)) {
      if (!writer.open) return;
      await writer.add(part);
    }
    await writer.end();
  };

  const wait = (request: Request, response: Response, keyRequest: KeyRequest): void => {
    let untrack = (): void => {};
    const finish = (): void => {
      untrack();
      if (!response.writableEnded) response.end();
    };
    const started = startWait(member, store, { path: keyRequest.path, recursive: keyRequest.recursive, sinceIndex: keyRequest.waitIndex }, {
      event: (event: V2Event) => {
        response.write(encodeV2Event(event));
        if (keyRequest.stream) return true;
        finish();
        return false;
      },
      cleared: () => finish(),
      get writable() {
        return !response.writableNeedDrain;
      },
    });
    if (started instanceof V2Error) {
      sendError(response, started);
      return;
    }
    // Headers go out at once, so that a long poll's client knows it is waiting.
    response.status(200);
    setEventHeaders(response, started.startIndex);
    response.flushHeaders();
    untrack = trackStream({
      emit: () => {
        started.cancel();
        finish();
        return true;
      },
    });
    response.on('drain', () => started.resume());
    response.on('close', () => {
      started.cancel();
      untrack();
    });
    request.on('error', () => started.cancel());
  };

  const handle = async (request: Request, response: Response, keyRequest: KeyRequest): Promise<void> => {
    const { path } = keyRequest;
    const set = { path, dir: keyRequest.dir, value: keyRequest.value, ttlSeconds: keyRequest.ttlSeconds, refresh: keyRequest.refresh };
    const compare = { prevValue: keyRequest.prevValue, prevIndex: keyRequest.prevIndex };
    switch (keyRequest.method) {
      case 'GET':
      case 'HEAD':
        // A quorum read goes through consensus in etcd (and never waits).
        if (keyRequest.quorum) await member.linearizableRead();
        else if (keyRequest.wait) return wait(request, response, keyRequest);
        return sendListing(response, await store.get(path, keyRequest.recursive, keyRequest.sorted));
      case 'POST':
        return sendResult(response, await store.create(set, true), keyRequest.noValueOnSuccess);
      case 'PUT': {
        const compared = keyRequest.prevIndex > 0n || keyRequest.prevValue !== '';
        let result: V2Result;
        if (keyRequest.prevExist === true) result = compared ? await store.compareAndSwap({ ...set, ...compare }) : await store.update(set);
        else if (keyRequest.prevExist === false) result = await store.create(set, false);
        else if (compared) result = await store.compareAndSwap({ ...set, ...compare });
        else result = await store.set(set);
        return sendResult(response, result, keyRequest.noValueOnSuccess);
      }
      case 'DELETE': {
        const compared = keyRequest.prevIndex > 0n || keyRequest.prevValue !== '';
        const result = compared ? await store.compareAndDelete(path, compare) : await store.delete(path, keyRequest.dir, keyRequest.recursive);
        return sendResult(response, result, false);
      }
    }
  };

  app.use((request: Request, response: Response, next: NextFunction) => {
    const url = request.originalUrl;
    if (!url.startsWith('/v2/')) return next();
    const queryAt = url.indexOf('?');
    const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
    const rawQuery = queryAt === -1 ? '' : url.slice(queryAt + 1);
    let decoded: string;
    try {
      decoded = goUnescape(rawPath, 'path');
    } catch {
      // Go's server refuses the request line itself.
      response.status(400).set({ 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('400 Bad Request');
      return;
    }
    const cleaned = goServeMuxCleanPath(decoded);
    if (cleaned !== keysPath && !cleaned.startsWith(`${keysPath}/`)) return next();
    if (cleaned !== decoded) {
      // ServeMux redirects to the clean path.
      const location = goEscapePath(cleaned) + (rawQuery === '' ? '' : `?${rawQuery}`);
      response.status(301).set('Location', location);
      if (request.method === 'GET' || request.method === 'HEAD') response.set('Content-Type', 'text/html; charset=utf-8');
      response.end(request.method === 'GET' ? `<a href="${location.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;')}">Moved Permanently</a>.\n\n` : undefined);
      return;
    }
    if (!allowedMethods.includes(request.method)) {
      sendGoError(response, 405, 'Method Not Allowed', { Allow: allowedMethods.join(',') });
      return;
    }
    response.set('X-Etcd-Cluster-Id', clusterId);
    void (async () => {
      const bodyKind = formBodyKind(request.method, request.headers['content-type']);
      if (bodyKind instanceof GoFormError) return sendError(response, new V2Error(210, bodyKind.message, 0));
      let body: string | undefined;
      if (bodyKind === 'form') {
        const read = await readFormBody(request, response);
        if (read instanceof GoFormError) return sendError(response, new V2Error(210, read.message, 0));
        body = read;
      }
      const { form, error } = goParseForm(rawQuery, body);
      if (error !== undefined) return sendError(response, new V2Error(210, error.message, 0));
      // etcd: path.Join("/1", the rest), the v2 store's namespace for keys.
      const keyRequest = parseKeyRequest(request.method, goCleanPath(`/${cleaned.slice(keysPath.length)}`), form);
      if (keyRequest instanceof V2Error) return sendError(response, keyRequest);
      await handle(request, response, keyRequest);
    })().catch((error: unknown) => {
      if (!response.headersSent) sendError(response, error);
      else response.destroy();
    });
  });
}
