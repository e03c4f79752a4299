/**
 * `holdfast-bench noop-server`: a gRPC server that answers the KV calls and
 * Maintenance.Status at once, storing nothing. Run a workload against it to
 * see what the transport alone costs per call on this machine: the floor
 * under any Node server built on it, durable or not (docs/BENCHMARKS.md).
 *
 *   --server grpc-js   the generated service definitions on @grpc/grpc-js,
 *                      as Holdfast serves them
 *   --server http2     node:http2 alone: gRPC framing and trailers by hand
 *
 * On SIGINT or SIGTERM it prints the calls answered and the process's CPU
 * time per call.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { createServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { etcdserverpb } from '@holdfast/proto';
import type { Output } from './cli.js';

export const noopServerKinds = ['grpc-js', 'http2'] as const;
export type NoopServerKind = (typeof noopServerKinds)[number];

/** Streams one HTTP/2 connection may have open at once (grpc-go's default client limit is far above the bench's). */
const maxConcurrentStreams = 1000;

/** The answers, by method name: what a real server returns when nothing is there. */
class NoopAnswers {
  calls = 0;
  private revision = 1n;

  answer(method: string): Uint8Array {
    this.calls++;
    const header = { clusterId: 1n, memberId: 1n, revision: ++this.revision, raftTerm: 1n };
    switch (method) {
      case 'Range':
        return etcdserverpb.RangeResponse.encode(etcdserverpb.RangeResponse.fromPartial({ header })).finish();
      case 'Put':
        return etcdserverpb.PutResponse.encode(etcdserverpb.PutResponse.fromPartial({ header })).finish();
      case 'DeleteRange':
        return etcdserverpb.DeleteRangeResponse.encode(etcdserverpb.DeleteRangeResponse.fromPartial({ header })).finish();
      case 'Txn':
        return etcdserverpb.TxnResponse.encode(etcdserverpb.TxnResponse.fromPartial({ header, succeeded: true })).finish();
      case 'Compact':
        return etcdserverpb.CompactionResponse.encode(etcdserverpb.CompactionResponse.fromPartial({ header })).finish();
      default:
        return etcdserverpb.StatusResponse.encode(etcdserverpb.StatusResponse.fromPartial({ header, version: '3.4.0', leader: 1n, raftTerm: 1n })).finish();
    }
  }
}

/** Starts the server; resolves with a stop function that prints the summary. */
export async function startNoopServer(kind: NoopServerKind, port: number, output: Output): Promise<() => Promise<void>> {
  const answers = new NoopAnswers();
  const cpuAtStart = process.cpuUsage();
  let close: () => Promise<void>;
  if (kind === 'grpc-js') {
    const server = new Server({ 'grpc.enable_channelz': 0 });
    // The bytes are already encoded: pass them through the serializer.
    const passThrough = (method: string) => (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<Buffer>) => {
      const bytes = answers.answer(method);
      callback(null, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    };
    const raw = <T extends Record<string, { path: string }>>(definition: T, names: Record<string, string>) =>
      Object.fromEntries(Object.entries(definition).filter(([name]) => name in names).map(([name, method]) => [name, { ...method, responseSerialize: (bytes: Buffer) => bytes }]));
    const kvNames = { range: 'Range', put: 'Put', deleteRange: 'DeleteRange', txn: 'Txn', compact: 'Compact' };
    server.addService(raw(etcdserverpb.KVService, kvNames) as never, Object.fromEntries(Object.entries(kvNames).map(([name, method]) => [name, passThrough(method)])));
    server.addService(raw(etcdserverpb.MaintenanceService, { status: 'Status' }) as never, { status: passThrough('Status') });
    await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
    close = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  } else {
    const server = createServer({ settings: { maxConcurrentStreams } });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      stream.resume();
      stream.on('end', () => {
        const path = String(headers[':path'] ?? '');
        const body = answers.answer(path.slice(path.lastIndexOf('/') + 1));
        // gRPC's message framing: not compressed, 4-byte big-endian length.
        const framed = Buffer.allocUnsafe(5 + body.length);
        framed[0] = 0;
        framed.writeUInt32BE(body.length, 1);
        framed.set(body, 5);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(framed);
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  }
  output.stdout(`noop-server (${kind}) listening on 127.0.0.1:${port}\n`);
  return async () => {
    const cpu = process.cpuUsage(cpuAtStart);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const perCall = answers.calls === 0 ? '-' : ((cpuMs * 1000) / answers.calls).toFixed(1);
    output.stdout(`noop-server (${kind}): ${answers.calls} calls answered, process CPU ${(cpuMs / 1000).toFixed(2)} s, ${perCall} µs per call\n`);
    await close();
  };
}
