/**
 * The key/value layout of Go's etcd `client/v3/naming/endpoints`, so that Go
 * gRPC services registered with `endpoints.Manager.AddEndpoint` are
 * discovered here, and ours are found by Go's `naming/resolver`:
 *
 *   key    <service>/<id>           (Go: target + "/" + addr; the id defaults to the address)
 *   value  {"Op":0,"Addr":"<address>","Metadata":<any JSON, null when none>}
 *
 * The value is what Go's encoding/json writes for `internal.Update`: fields
 * in declaration order, object keys of the metadata sorted (Go marshals
 * maps sorted), and <, >, & and U+2028/U+2029 escaped as \u003c and so on,
 * byte for byte.
 */

/** Go's naming Operation: Add = 0, Delete = 1 (grpc <= 1.29 naming.Update). */
export const GoOperation = { add: 0, delete: 1 } as const;

/** A registered instance, as discovered. */
export interface Instance<M = unknown> {
  /** The service (Go: the target). */
  readonly service: string;
  /** The part of the key after `<service>/` (the address, unless registered with another id). */
  readonly id: string;
  /** The whole key, relative to the client's namespace. */
  readonly key: string;
  /** Where to connect (Go: Endpoint.Addr). */
  readonly address: string;
  /** Whatever the registrant attached (Go: Endpoint.Metadata); null when nothing. */
  readonly metadata: M;
  /** The lease the key is attached to (0n: none, e.g. written without a lease). */
  readonly leaseId: bigint;
  /** Mod revision of the key: the revision of its last registration or update. */
  readonly revision: bigint;
  /** Create revision of the key. */
  readonly createRevision: bigint;
}

/** The prefix under which `service`'s instances live: `<service>/`. */
export function servicePrefix(service: string): string {
  checkService(service);
  return `${service}/`;
}

/** The key of one instance: `<service>/<id>`. */
export function instanceKey(service: string, id: string): string {
  if (id.length === 0) throw new TypeError('an instance id (or address) must not be empty');
  return `${servicePrefix(service)}${id}`;
}

export function checkService(service: string): void {
  if (typeof service !== 'string' || service.length === 0) throw new TypeError('a service name must be a non-empty string');
  if (service.endsWith('/')) throw new TypeError(`a service name must not end with "/" (got "${service}"): the key layout adds it`);
}

const goEscapes: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** Object keys sorted by their UTF-8 bytes, recursively, as Go marshals map[string]any. */
function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  const maybeJson = value as { toJSON?: () => unknown };
  if (typeof maybeJson.toJSON === 'function') return sortKeysDeep(maybeJson.toJSON());
  const sorted: Record<string, unknown> = {};
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const key of keys) sorted[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
  return sorted;
}

/** JSON as Go's encoding/json writes it (HTML-safe escaping; sorted object keys). */
export function goJson(value: unknown): string {
  const text = JSON.stringify(sortKeysDeep(value)) ?? 'null';
  // These characters only ever occur inside JSON strings, so replacing them everywhere is safe.
  return text.replace(/[<>&\u2028\u2029]/g, (character) => goEscapes[character]!);
}

/** The value Go's endpoints.Manager writes for an Add of `address` with `metadata`. */
export function encodeEndpoint(address: string, metadata: unknown): string {
  if (typeof address !== 'string' || address.length === 0) throw new TypeError('an instance needs a non-empty address');
  return `{"Op":${GoOperation.add},"Addr":${goJson(address)},"Metadata":${metadata === undefined ? 'null' : goJson(metadata)}}`;
}

export interface DecodedEndpoint {
  readonly op: number;
  readonly address: string;
  readonly metadata: unknown;
}

/**
 * Reads a value written by Go or by us; undefined when it is not a valid
 * endpoint (Go logs and skips those too). Go's resolver treats every put as
 * an Add; a put with "Op":1 (grpc <= 1.29 naming's Delete, which etcd 3.4's
 * clientv3/naming turned into a delete of the key) is reported with op 1 and
 * treated as absent.
 */
export function decodeEndpoint(value: Buffer | string): DecodedEndpoint | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const op = record['Op'] ?? GoOperation.add;
  const address = record['Addr'] ?? '';
  if (typeof op !== 'number' || typeof address !== 'string') return undefined;
  const metadata = record['Metadata'] ?? null;
  // Go: "it is not valid having both empty string Addr and nil Metadata".
  if (address.length === 0 && metadata === null) return undefined;
  return { op, address, metadata };
}
