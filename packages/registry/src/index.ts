// @holdfast/registry: service discovery with TTL heartbeats over the etcd v3
// API, in the key/value layout of Go's client/v3/naming/endpoints, and a
// name resolver for @grpc/grpc-js. See README.md.

export { Registry } from './registry.js';
export type { RegistryOptions, RegisterOptions, HandleSignalsOptions } from './registry.js';
export { Registration, defaultRegistrationTtlSeconds } from './registration.js';
export type { InstanceSpec, RegistrationOptions, RegisteredInfo } from './registration.js';
export { Discovery } from './discovery.js';
export type { DiscoveryEvent, DiscoveryEventType, DiscoveryOptions, EventsOptions, PickStrategy } from './discovery.js';
export { registerEtcdResolver, instancesToEndpoints, targetService, defaultAuthority, roundRobinServiceConfig } from './resolver.js';
export type { EtcdResolverOptions } from './resolver.js';
export { encodeEndpoint, decodeEndpoint, goJson, instanceKey, servicePrefix, GoOperation } from './codec.js';
export type { Instance, DecodedEndpoint } from './codec.js';
