// Service discovery in one file: two gRPC servers register themselves, a
// client discovers them, picks one, and calls them through `etcd:///`.
// Usage: node packages/registry/examples/greeter.mjs [host:port]
import * as grpc from '@grpc/grpc-js';
import { Client } from '@holdfast/client';
import { Registry, registerEtcdResolver } from '@holdfast/registry';

const method = '/demo.Greeter/Hello';
const encode = (text) => Buffer.from(text);
const decode = (bytes) => bytes.toString();

/** A tiny gRPC server answering Hello with its name. */
async function startGreeter(name) {
  const server = new grpc.Server();
  server.addService(
    { Hello: { path: method, requestStream: false, responseStream: false, requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode } },
    { Hello: (call, callback) => callback(null, `hello ${call.request} from ${name}`) },
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { name, server, address: `127.0.0.1:${port}` };
}

const client = new Client({ endpoints: [process.argv[2] ?? '127.0.0.1:2379'] });
const registry = new Registry(client, { ttlSeconds: 10 });
registry.handleSignals(); // Ctrl-C: deregister at once, then exit
const greeters = [await startGreeter('alpha'), await startGreeter('beta')];
try {
  // Each instance: key demo/greeter/<address> under its own lease, kept alive every TTL/3.
  const registrations = [];
  for (const greeter of greeters) {
    registrations.push(await registry.register('demo/greeter', { address: greeter.address, metadata: { name: greeter.name } }));
  }

  // A cache kept fresh by a watch; pick() round-robins over it.
  const discovery = await registry.discover('demo/greeter');
  console.log('instances:', discovery.instances().map((instance) => instance.metadata.name).sort());
  console.log('round-robin:', [1, 2, 3, 4].map(() => discovery.pick().metadata.name).join(' '));

  // gRPC: the etcd:/// resolver feeds the instances to round_robin.
  registerEtcdResolver(client);
  const channel = new grpc.Client('etcd:///demo/greeter', grpc.credentials.createInsecure());
  const hello = () =>
    new Promise((resolve, reject) => channel.makeUnaryRequest(method, encode, decode, 'you', (error, answer) => (error ? reject(error) : resolve(answer))));
  const answered = new Set();
  for (let i = 0; i < 10; i++) answered.add(await hello());
  console.log('answers:', [...answered].sort());

  // Deregistering beta: discoverers get a 'removed' event at once.
  const events = discovery.events({ initial: false });
  await registrations[1].close();
  const { value: event } = await events.next();
  console.log('event:', event.type, event.instance.metadata.name);
  console.log('now:', discovery.instances().map((instance) => instance.metadata.name));
  channel.close();
} finally {
  await registry.close(); // deregisters what is left
  for (const greeter of greeters) greeter.server.forceShutdown();
  client.close();
}
