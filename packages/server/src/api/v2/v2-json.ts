/**
 * The v2 keys API's JSON, byte for byte as etcd 3.4 writes it with Go's
 * encoding/json: v2store.Event {action, node, prevNode} and NodeExtern
 * {key, value, dir, expiration, ttl, nodes, modifiedIndex, createdIndex}
 * in struct order with `omitempty` (a value "" stays, ttl 0 and index 0
 * go), v2error.Error {errorCode, message, cause, index}, strings escaped as
 * Go escapes them (<, >, & and U+2028/9 as \u, invalid UTF-8 as \ufffd),
 * times as RFC 3339 with nanoseconds trimmed, and the Encoder's newline.
 */

/** A v2 node as the API shows it. Strings are byte strings (latin1). */
export interface V2Node {
  readonly key: string;
  /** A file's value (a directory has none). */
  readonly value?: string;
  readonly dir?: boolean;
  /** When it expires, in Unix milliseconds (nodes with a TTL). */
  readonly expirationMs?: number;
  /** Seconds left, rounded up (0 is left out, as etcd leaves it out). */
  readonly ttl?: number;
  /** A listed directory's children. */
  readonly nodes?: readonly V2Node[];
  readonly modifiedIndex: number;
  readonly createdIndex: number;
}

export interface V2Event {
  readonly action: string;
  readonly node?: V2Node;
  readonly prevNode?: V2Node;
}

export interface V2ErrorBody {
  readonly errorCode: number;
  readonly message: string;
  readonly cause: string;
  readonly index: number;
}

const hex = '0123456789abcdef';

/** encoding/json's string encoding (escapeHTML on) of a byte string; returns a byte string. */
export function goJsonString(bytes: string): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const byte = bytes.charCodeAt(i);
    if (byte < 0x80) {
      if (byte >= 0x20 && byte !== 0x22 && byte !== 0x5c && byte !== 0x3c && byte !== 0x3e && byte !== 0x26) out += bytes[i];
      else if (byte === 0x22 || byte === 0x5c) out += `\\${bytes[i]}`;
      else if (byte === 0x0a) out += '\\n';
      else if (byte === 0x0d) out += '\\r';
      else if (byte === 0x09) out += '\\t';
      else out += `\\u00${hex[byte >> 4]}${hex[byte & 0xf]}`;
      i++;
      continue;
    }
    const size = utf8SequenceLength(bytes, i);
    if (size === 0) {
      out += '\\ufffd';
      i++;
      continue;
    }
    const sequence = bytes.slice(i, i + size);
    // U+2028 and U+2029 (E2 80 A8/A9) break JavaScript: Go escapes them.
    if (sequence === '\xe2\x80\xa8') out += '\\u2028';
    else if (sequence === '\xe2\x80\xa9') out += '\\u2029';
    else out += sequence;
    i += size;
  }
  return `${out}"`;
}

/** The length of a valid UTF-8 sequence at `at` (Go's utf8.DecodeRuneInString rules), 0 if invalid. */
function utf8SequenceLength(bytes: string, at: number): number {
  const first = bytes.charCodeAt(at);
  const cont = (offset: number, low = 0x80, high = 0xbf): boolean => {
    const byte = bytes.charCodeAt(at + offset);
    return byte >= low && byte <= high;
  };
  if (first >= 0xc2 && first <= 0xdf) return cont(1) ? 2 : 0;
  if (first === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((first >= 0xe1 && first <= 0xec) || first === 0xee || first === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (first === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (first === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (first >= 0xf1 && first <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (first === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** time.Time's MarshalJSON in UTC: RFC 3339 with the fraction's trailing zeros trimmed. */
export function goJsonTime(unixMs: number): string {
  const iso = new Date(Math.floor(unixMs)).toISOString(); // 2026-11-21T07:11:24.321Z
  const [seconds, fraction = ''] = iso.slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `"${seconds}${trimmed === '' ? '' : `.${trimmed}`}Z"`;
}

export function encodeV2Node(node: V2Node): string {
  const fields: string[] = [];
  if (node.key !== '') fields.push(`"key":${goJsonString(node.key)}`);
  if (node.value !== undefined) fields.push(`"value":${goJsonString(node.value)}`);
  if (node.dir === true) fields.push('"dir":true');
  if (node.expirationMs !== undefined) fields.push(`"expiration":${goJsonTime(node.expirationMs)}`);
  if (node.ttl !== undefined && node.ttl !== 0) fields.push(`"ttl":${node.ttl}`);
  if (node.nodes !== undefined && node.nodes.length > 0) fields.push(`"nodes":[${node.nodes.map(encodeV2Node).join(',')}]`);
  if (node.modifiedIndex !== 0) fields.push(`"modifiedIndex":${node.modifiedIndex}`);
  if (node.createdIndex !== 0) fields.push(`"createdIndex":${node.createdIndex}`);
  return `{${fields.join(',')}}`;
}

/**
 * encodeV2Node in pieces, one node's own fields per piece: the pieces joined
 * are exactly encodeV2Node(node), but no piece holds a whole large tree.
 */
export function* encodeV2NodePieces(node: V2Node): Generator<string> {
  const before: string[] = [];
  if (node.key !== '') before.push(`"key":${goJsonString(node.key)}`);
  if (node.value !== undefined) before.push(`"value":${goJsonString(node.value)}`);
  if (node.dir === true) before.push('"dir":true');
  if (node.expirationMs !== undefined) before.push(`"expiration":${goJsonTime(node.expirationMs)}`);
  if (node.ttl !== undefined && node.ttl !== 0) before.push(`"ttl":${node.ttl}`);
  const after: string[] = [];
  if (node.modifiedIndex !== 0) after.push(`"modifiedIndex":${node.modifiedIndex}`);
  if (node.createdIndex !== 0) after.push(`"createdIndex":${node.createdIndex}`);
  if (node.nodes === undefined || node.nodes.length === 0) {
    yield `{${[...before, ...after].join(',')}}`;
    return;
  }
  yield `{${before.join(',')}${before.length > 0 ? ',' : ''}"nodes":[`;
  let first = true;
  for (const child of node.nodes) {
    if (!first) yield ',';
    first = false;
    yield* encodeV2NodePieces(child);
  }
  yield `]${after.length > 0 ? ',' : ''}${after.join(',')}}`;
}

/** encodeV2Event in pieces (see encodeV2NodePieces), as latin1 strings. */
export function* encodeV2EventPieces(event: V2Event): Generator<string> {
  yield `{"action":${goJsonString(event.action)}`;
  if (event.node !== undefined) {
    yield ',"node":';
    yield* encodeV2NodePieces(event.node);
  }
  if (event.prevNode !== undefined) {
    yield ',"prevNode":';
    yield* encodeV2NodePieces(event.prevNode);
  }
  yield '}\n';
}

/** Nodes in a tree (the node and everything below it). */
export function countV2Nodes(node: V2Node | undefined): number {
  if (node === undefined) return 0;
  let count = 1;
  for (const child of node.nodes ?? []) count += countV2Nodes(child);
  return count;
}

/** An event as json.Encoder writes it (with its newline), as bytes. */
export function encodeV2Event(event: V2Event): Buffer {
  const fields = [`"action":${goJsonString(event.action)}`];
  if (event.node !== undefined) fields.push(`"node":${encodeV2Node(event.node)}`);
  if (event.prevNode !== undefined) fields.push(`"prevNode":${encodeV2Node(event.prevNode)}`);
  return Buffer.from(`{${fields.join(',')}}\n`, 'latin1');
}

/** v2error.Error's JSON and newline, as bytes. */
export function encodeV2Error(error: V2ErrorBody): Buffer {
  const cause = error.cause === '' ? '' : `,"cause":${goJsonString(error.cause)}`;
  return Buffer.from(`{"errorCode":${error.errorCode},"message":${goJsonString(error.message)}${cause},"index":${error.index}}\n`, 'latin1');
}
