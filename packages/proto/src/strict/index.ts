/**
 * Strict request decoding: etcd 3.4's acceptance rules and error texts for
 * request bytes (see strict-decode.ts), and service definitions that use it.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { requestSchemaByPath } from './request-schemas.js';
import { strictDecoder } from './strict-decode.js';

export { ProtoDecodeError, ProtoLengthOverflowError, ProtoNestingError, checkMessage, maxMessageDepth, strictDecoder, type MessageDecoder } from './strict-decode.js';
export { goCamelCase, messageSchema, type FieldKind, type FieldSchema, type MessageSchema, type ProtoDialect } from './schema.js';
export * as requestSchemas from './request-schemas.js';
export { requestSchemaByPath } from './request-schemas.js';

/**
 * `definition` with every method's request deserializer made strict: it
 * throws a ProtoDecodeError (Go's text) on bytes etcd 3.4 refuses. Throws
 * at once if a method has no schema in {@link requestSchemaByPath}.
 */
export function withStrictRequests<T extends ServiceDefinition>(definition: T): T {
  const strict: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const schema = requestSchemaByPath.get(method.path);
    if (schema === undefined) throw new Error(`no request schema for ${method.path}: add it to packages/proto/src/strict/request-schemas.ts`);
    strict[name] = { ...method, requestDeserialize: strictDecoder(schema, { decode: method.requestDeserialize }) };
  }
  return strict as T;
}
