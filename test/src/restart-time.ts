/**
 * Measures how long Holdfast takes to restart with many keys:
 *   node test/dist/src/restart-time.js [keys=1000000] [valueBytes=256]
 * Loads the keys through the gRPC API (Txns of 100 puts from concurrent
 * clients), stops the server with SIGTERM, starts it again, and reports the
 * time until a linearizable Range answers. Not a test: it prints figures.
 */
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { removeDirectory, startHoldfast, temporaryDirectory } from './support.js';

const keyCount = Number(process.argv[2] ?? 1_000_000);
const valueBytes = Number(process.argv[3] ?? 256);
/** Puts per Txn while loading (below --max-txn-ops 128). */
const putsPerTxn = 100;
const concurrentClients = 16;

function txn(client: etcdserverpb.KVClient, request: etcdserverpb.TxnRequest): Promise<void> {
  return new Promise((resolve, reject) => client.txn(request, (error: ServiceError | null) => (error ? reject(error) : resolve())));
}

function range(client: etcdserverpb.KVClient, request: Partial<etcdserverpb.RangeRequest>): Promise<etcdserverpb.RangeResponse> {
  return new Promise((resolve, reject) =>
    client.range(etcdserverpb.RangeRequest.fromPartial(request), (error: ServiceError | null, response) => (error ? reject(error) : resolve(response))),
  );
}

const dataDir = temporaryDirectory('restart');
try {
  let server = await startHoldfast({ dataDir });
  const client = new etcdserverpb.KVClient(server.endpoint, credentials.createInsecure());
  const value = Buffer.alloc(valueBytes, 0x76);
  let next = 0;
  const loadStarted = performance.now();
  await Promise.all(
    Array.from({ length: concurrentClients }, async () => {
      while (next < keyCount) {
        const first = next;
        next = Math.min(keyCount, next + putsPerTxn);
        const success = [];
        for (let i = first; i < next; i++) success.push({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`key-${String(i).padStart(8, '0')}`), value }) });
        await txn(client, etcdserverpb.TxnRequest.fromPartial({ success }));
      }
    }),
  );
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  client.close();
  console.log(`loaded ${keyCount} keys of ${valueBytes}-byte values in ${loadSeconds.toFixed(1)} s (${Math.round(keyCount / loadSeconds)} keys/s)`);
  await server.stop();

  const restartStarted = performance.now();
  server = await startHoldfast({ dataDir });
  const after = new etcdserverpb.KVClient(server.endpoint, credentials.createInsecure());
  const counted = await range(after, { key: Buffer.from('key-'), rangeEnd: Buffer.from('key.'), countOnly: true });
  const restartMs = performance.now() - restartStarted;
  after.close();
  console.log(`restart with ${counted.count} keys: ${Math.round(restartMs)} ms until a linearizable Range answered`);
  await server.stop();
} finally {
  removeDirectory(dataDir);
}
