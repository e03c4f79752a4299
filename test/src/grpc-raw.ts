/**
 * A raw gRPC call over node:http2: hand-made request bytes in, the gRPC
 * status out. For framing tests, where a real client would never send what
 * we send. One HTTP/2 connection per call, so no answer can leak into
 * another.
 */
import { connect } from 'node:http2';

export interface RawGrpcAnswer {
  /** grpc-status, or undefined when no status came within the timeout (or the connection died). */
  readonly code: number | undefined;
  /** grpc-message, percent-decoded (grpc-js encodes spaces, grpc-go does not). */
  readonly message: string | undefined;
  /** Response message bytes received (5-byte prefixes included). */
  readonly responseBytes: number;
  /** Why the call finished: 'status', 'timeout' or 'error'. */
  readonly outcome: 'status' | 'timeout' | 'error';
}

export interface RawGrpcCallOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** Half-close the request after the payload (default true). */
  readonly end?: boolean;
  /** How long to wait for the status (default 3 s: the finding's "no answer within 3 s"). */
  readonly timeoutMs?: number;
}

/** The gRPC message prefix: flag byte and 4-byte big-endian length (the body's unless `lengthBytes` says otherwise). */
export function grpcFrame(flag: number, body: Uint8Array | readonly number[], lengthBytes?: number): Buffer {
  const bytes = Buffer.from(body as Uint8Array);
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(lengthBytes ?? bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

/** Sends `payload` as the request body of a call to `path` on `endpoint` (host:port, loopback) and waits for the status. */
export function rawGrpcCall(endpoint: string, path: string, payload: Uint8Array, options: RawGrpcCallOptions = {}): Promise<RawGrpcAnswer> {
  return new Promise((resolve) => {
    const session = connect(`http://${endpoint}`);
    let status: Record<string, unknown> | undefined;
    let responseBytes = 0;
    let settled = false;
    const finish = (outcome: RawGrpcAnswer['outcome']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      const code = status?.['grpc-status'];
      const message = status?.['grpc-message'];
      resolve({
        code: code === undefined ? undefined : Number(code),
        message: typeof message === 'string' ? decodePercent(message) : code === undefined ? undefined : '',
        responseBytes,
        outcome: code === undefined && outcome === 'status' ? 'error' : outcome,
      });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 3000);
    session.on('error', () => finish('error'));
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...options.headers });
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = headers;
    });
    stream.on('trailers', (trailers) => (status = trailers));
    stream.on('data', (chunk: Buffer) => (responseBytes += chunk.length));
    // The response's end (trailers in) or the stream's close, whichever comes first.
    stream.on('end', () => finish('status'));
    stream.on('close', () => finish('status'));
    stream.on('error', () => finish('error'));
    stream.write(payload);
    if (options.end !== false) stream.end();
  });
}

function decodePercent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
