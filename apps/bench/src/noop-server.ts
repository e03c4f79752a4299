/**
 * `holdfast-bench noop-server`: a gRPC server that answers the KV calls and
 * Maintenance.Status at once, storing nothing (with --server grpc-js, also
 * Watch on single keys, each put going to its key's watchers). Run a workload against it to
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
import { Server, ServerCredentials, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall } from '@grpc/grpc-js';
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

/**
 * Watchers by exact key, for `--server grpc-js`: enough of Watch for the
 * watch workload (create on one key, events for each put to it). An event's
 * bytes are encoded once per put and appended to each watcher's own fields
 * (protobuf merges concatenated messages), as Holdfast's codec does.
 */
class WatcherRegistry {
  private readonly byKey = new Map<string, Array<{ call: ServerDuplexStream<etcdserverpb.WatchRequest, Buffer>; watchId: bigint }>>();
  private revision = 1n;
  events = 0;

  constructor(private readonly answers: NoopAnswers) {}

  serve(call: ServerDuplexStream<etcdserverpb.WatchRequest, Buffer>): void {
    let nextWatchId = 0n;
    const mine: string[] = [];
    call.on('data', (request: etcdserverpb.WatchRequest) => {
      const create = request.createRequest;
      if (create === undefined) return;
      const key = Buffer.from(create.key).toString('latin1');
      const watchId = nextWatchId++;
      const list = this.byKey.get(key) ?? [];
      list.push({ call, watchId });
      this.byKey.set(key, list);
      mine.push(key);
      this.answers.calls++;
      call.write(Buffer.from(etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ header: { revision: this.revision }, watchId, created: true })).finish()));
    });
    const forget = (): void => {
      for (const key of mine) this.byKey.set(key, (this.byKey.get(key) ?? []).filter((watcher) => watcher.call !== call));
      mine.length = 0;
    };
    call.on('end', () => {
      forget();
      call.end();
    });
    call.on('cancelled', forget);
    call.on('error', forget);
  }

  notify(put: etcdserverpb.PutRequest): void {
    const list = this.byKey.get(Buffer.from(put.key).toString('latin1'));
    if (list === undefined || list.length === 0) return;
    const revision = ++this.revision;
    const kv = { key: put.key, value: put.value, createRevision: revision, modRevision: revision, version: 1n, lease: 0n };
    const eventPart = etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ events: [{ type: 0, kv }] })).finish();
    for (const { call, watchId } of list) {
      const own = etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ header: { revision }, watchId })).finish();
      call.write(Buffer.concat([own, eventPart]));
      this.events++;
    }
  }
}

/** Starts the server; resolves with a stop function that prints the summary. */
export async function startNoopServer(kind: NoopServerKind, port: number, output: Output): Promise<() => Promise<void>> {
  const answers = new NoopAnswers();
  const cpuAtStart = process.cpuUsage();
  let close: () => Promise<void>;
  let watchers: WatcherRegistry | undefined;
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
    watchers = new WatcherRegistry(answers);
    const registry = watchers;
    const kv: Record<string, unknown> = Object.fromEntries(Object.entries(kvNames).map(([name, method]) => [name, passThrough(method)]));
    // A put also goes to the watchers of its key, as the watch workload expects.
    kv.put = (call: ServerUnaryCall<etcdserverpb.PutRequest, Buffer>, callback: sendUnaryData<Buffer>) => {
      passThrough('Put')(call as ServerUnaryCall<unknown, unknown>, callback);
      registry.notify(call.request);
    };
    server.addService(raw(etcdserverpb.KVService, kvNames) as never, kv as never);
    server.addService(raw(etcdserverpb.WatchService, { watch: 'Watch' }) as never, { watch: (call: ServerDuplexStream<etcdserverpb.WatchRequest, Buffer>) => registry.serve(call) });
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
    const events = watchers === undefined || watchers.events === 0 ? '' : `, ${watchers.events} watch events sent (${((cpuMs * 1000) / watchers.events).toFixed(1)} µs of CPU per event)`;
    output.stdout(`noop-server (${kind}): ${answers.calls} calls answered, process CPU ${(cpuMs / 1000).toFixed(2)} s, ${perCall} µs per call${events}\n`);
    await close();
  };
}
