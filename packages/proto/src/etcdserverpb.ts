// The whole etcdserverpb package in one module: the client API (rpc.proto)
// plus the raft-replicated request types (raft_internal.proto). Both files
// share the proto package, so they share a namespace here too. The two
// generated modules each export the same ts-proto helpers (protobufPackage,
// protobufFileName, DeepPartial, Exact, MessageFns), so raft_internal's
// messages are re-exported by name rather than with `export *`.
export * from './gen/etcd/etcdserverpb/rpc.js';
export {
  RequestHeader,
  InternalRaftRequest,
  EmptyResponse,
  InternalAuthenticateRequest,
} from './gen/etcd/etcdserverpb/raft_internal.js';
