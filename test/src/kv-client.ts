/** A minimal promise-based etcd KV client over @holdfast/proto, for tests. */
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';

export class TestKvClient {
  private readonly client: etcdserverpb.KVClient;
  constructor(endpoint: string) {
    this.client = new etcdserverpb.KVClient(endpoint, credentials.createInsecure());
  }
  put(key: string, value: string | Buffer): Promise<etcdserverpb.PutResponse> {
    return new Promise((resolve, reject) =>
      this.client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) }), (error: ServiceError | null, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  }
  range(request: Partial<etcdserverpb.RangeRequest>): Promise<etcdserverpb.RangeResponse> {
    return new Promise((resolve, reject) =>
      this.client.range(etcdserverpb.RangeRequest.fromPartial(request), (error: ServiceError | null, response) => (error ? reject(error) : resolve(response))),
    );
  }
  close(): void {
    this.client.close();
  }
}
