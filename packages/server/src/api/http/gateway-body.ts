/**
 * Reading a whole request body (the gateway's unary routes, the v2 keys
 * API's forms), bounded in bytes, in pieces and in time.
 *
 * Node's HTTP parser hands over each piece of a body as its own Buffer: one
 * per chunk of a chunked body, one per socket read otherwise. A body of
 * 1-byte chunks is a Buffer (and its JS object) per byte: held in a list
 * until the end, as body parsers do, that costs about 60 times the body's
 * size, and glibc keeps the freed memory. So every piece is copied at once
 * into one buffer of the body's size (Content-Length) or a doubling one
 * (chunked), and dropped; the number of pieces and the time a body takes are
 * bounded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The most pieces (chunks of a chunked body, or socket reads) one body may
 * arrive in; more is refused and the connection closed. Each piece costs a
 * call from C++ into JS and a small allocation, whatever its size. Real
 * clients write bodies in pieces of kilobytes: the largest body the gateway
 * reads (4 x (--max-request-bytes + 512 KiB), 8 MiB by default) in
 * 1,448-byte TCP segments is about 5,800 pieces; 65,536 allows pieces of
 * 128 bytes on average. (etcd 3.4.23 has no such bound: it read 4 bodies
 * of 3,000,000 1-byte chunks whole, at a peak RSS of 49 MiB.)
 */
export const maxBodyChunks = 65_536;
/**
 * How long a body may take to arrive, from the moment it is awaited; then
 * the request is answered 408 and the connection closed. Slow senders hold
 * a connection each (slowloris): 30 s carries the largest body at
 * 280 KB/s. Go's server (etcd) has no such bound.
 */
export const bodyReadTimeoutMs = 30_000;
/** The first capacity of a chunked body's buffer; it doubles up to the body's bound. */
const initialChunkedBodyBytes = 16 * 1024;

/** Why a body was not read. `closeConnection`: the rest of it must not be read (it is the attack). */
export class BodyReadError extends Error {
  override name = 'BodyReadError';
  constructor(
    message: string,
    readonly closeConnection: boolean,
  ) {
    super(message);
  }
}

/** A body over the byte bound. */
export class BodyTooLargeError extends BodyReadError {
  override name = 'BodyTooLargeError';
}

/** A body in more than maxBodyChunks pieces. */
export class BodyTooManyChunksError extends BodyReadError {
  override name = 'BodyTooManyChunksError';
}

/** A body that took more than bodyReadTimeoutMs. */
export class BodyTimeoutError extends BodyReadError {
  override name = 'BodyTimeoutError';
}

/** The client went away (or the connection failed) before the body ended. */
export class BodyAbortedError extends BodyReadError {
  override name = 'BodyAbortedError';
}

/**
 * Reads a request's whole body, at most `maxBytes`. Rejects with a
 * BodyReadError; a Content-Length over the bound is refused unread (the
 * connection may then go on: Node reads and drops the rest), a chunked body
 * once it passes it (the connection must close: see closeConnection).
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  const declaredBytes = declared === undefined ? undefined : Number(declared);
  if (declaredBytes !== undefined && declaredBytes > maxBytes) {
    return Promise.reject(new BodyTooLargeError(`request body of ${declaredBytes} bytes, over ${maxBytes}`, false));
  }
  return new Promise<Buffer>((resolve, reject) => {
    let buffer = Buffer.allocUnsafe(declaredBytes ?? Math.min(initialChunkedBodyBytes, maxBytes));
    let size = 0;
    let pieces = 0;
    const finish = (error: BodyReadError | undefined): void => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAborted);
      request.off('close', onClose);
      if (error === undefined) {
        resolve(buffer.subarray(0, size));
        return;
      }
      request.pause();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      pieces++;
      if (pieces > maxBodyChunks) return finish(new BodyTooManyChunksError(`request body in more than ${maxBodyChunks} pieces`, true));
      if (size + chunk.length > maxBytes) return finish(new BodyTooLargeError(`request body over ${maxBytes} bytes`, declaredBytes === undefined));
      if (size + chunk.length > buffer.length) {
        // Only a chunked body grows (a Content-Length one has its size): double, up to the bound.
        const grown = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(buffer.length * 2, size + chunk.length)));
        buffer.copy(grown, 0, 0, size);
        buffer = grown;
      }
      chunk.copy(buffer, size);
      size += chunk.length;
    };
    const onEnd = (): void => finish(undefined);
    const onAborted = (): void => finish(new BodyAbortedError('request body not complete: the connection ended', true));
    const onClose = (): void => {
      if (!request.complete) onAborted();
    };
    const timer = setTimeout(() => finish(new BodyTimeoutError(`request body not received within ${bodyReadTimeoutMs} ms`, true)), bodyReadTimeoutMs);
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onAborted);
    request.on('close', onClose);
  });
}

/** After an error answer to a body that must not be read on: the connection closes once the answer is out. */
export function closeAfterAnswer(response: ServerResponse): void {
  response.setHeader('Connection', 'close');
}

/** The HTTP status a body error is answered with when the route has no own word for it: Node's for a request timeout, 413 for too large, 400 else. */
export function bodyErrorStatus(error: BodyReadError): number {
  if (error instanceof BodyTimeoutError) return 408;
  if (error instanceof BodyTooLargeError) return 413;
  return 400;
}
