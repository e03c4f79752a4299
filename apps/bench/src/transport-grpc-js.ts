/**
 * The grpc-js transport: the machinery behind the generated clients
 * (Client.makeUnaryRequest / makeBidiStreamRequest with the generated
 * service definitions' codecs). Kept to cross-check the lean http2
 * transport; it costs about twice the CPU per request.
 */
import { Client, credentials, Metadata, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import type { DuplexCall, MethodDefinition, RpcTransport } from './transport.js';

/**
 * grpc-js shares subchannels (TCP connections) between channels to the same
 * address unless told not to; a benchmark asking for N connections must get
 * N sockets. Messages may be as large as the server allows.
 */
const channelOptions: ChannelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

export class GrpcJsTransport implements RpcTransport {
  private readonly client: Client;

  constructor(readonly endpoint: string) {
    this.client = new Client(endpoint, credentials.createInsecure(), channelOptions);
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(new Error(`cannot connect to ${this.endpoint} within ${timeoutMs} ms: ${error.message}`)) : resolve())),
    );
  }

  unary<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, timeoutMs: number): Promise<Response> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, response?: Response) => (error ? reject(error) : resolve(response!)),
      );
    });
  }

  duplex<Request, Response>(method: MethodDefinition<Request, Response>): DuplexCall<Request, Response> {
    const call = this.client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), {});
    // ClientDuplexStream already has write/on/end/cancel with these meanings.
    return call as unknown as DuplexCall<Request, Response>;
  }

  close(): void {
    this.client.close();
  }
}
