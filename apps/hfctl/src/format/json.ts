/**
 * Go's encoding/json, for the shapes etcdctl marshals: structs whose fields
 * keep their declaration order, `omitempty` (zero numbers, false, "", empty
 * slices and nil pointers left out), []byte as base64, and int64/uint64 as
 * exact decimal numbers (here from bigint, so nothing above 2^53 is rounded).
 * Strings are escaped as json.Marshal does, HTML characters included.
 */
import { decodeRune } from './go.js';

/** An encoded JSON value, or undefined for a field omitempty leaves out. */
export type Encoded = string | undefined;

const hexDigits = '0123456789abcdef';

/** A Go string (bytes, possibly invalid UTF-8) as json.Marshal writes it. */
export function jsonString(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const decoded = decodeRune(bytes, i);
    if (decoded === undefined) {
      out += '\\ufffd';
      i += 1;
      continue;
    }
    const { codePoint, size } = decoded;
    i += size;
    if (codePoint === 0x22) out += '\\"';
    else if (codePoint === 0x5c) out += '\\\\';
    else if (codePoint === 0x0a) out += '\\n';
    else if (codePoint === 0x0d) out += '\\r';
    else if (codePoint === 0x09) out += '\\t';
    else if (codePoint < 0x20 || codePoint === 0x3c || codePoint === 0x3e || codePoint === 0x26) {
      out += `\\u00${hexDigits[codePoint >> 4]}${hexDigits[codePoint & 0xf]}`;
    } else if (codePoint === 0x2028 || codePoint === 0x2029) out += `\\u${codePoint.toString(16)}`;
    else out += String.fromCodePoint(codePoint);
  }
  return `${out}"`;
}

/** A struct: fields in order, the undefined ones (omitempty) left out. */
export function jsonObject(fields: ReadonlyArray<readonly [string, Encoded]>): string {
  const parts: string[] = [];
  for (const [name, value] of fields) if (value !== undefined) parts.push(`${jsonString(name)}:${value}`);
  return `{${parts.join(',')}}`;
}

/** An integer field (int64 or uint64). */
export function jsonInt(value: bigint | number, omitEmpty = true): Encoded {
  const big = BigInt(value);
  return omitEmpty && big === 0n ? undefined : big.toString();
}

export function jsonBool(value: boolean, omitEmpty = true): Encoded {
  return omitEmpty && !value ? undefined : String(value);
}

export function jsonStr(value: string, omitEmpty = true): Encoded {
  return omitEmpty && value === '' ? undefined : jsonString(value);
}

/** A []byte: base64; nil or empty is omitted under omitempty, null without it when nil. */
export function jsonBytes(value: Uint8Array | undefined, omitEmpty = true): Encoded {
  if (value === undefined) return omitEmpty ? undefined : 'null';
  if (omitEmpty && value.length === 0) return undefined;
  return jsonString(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
}

/** A slice; `undefined` is a nil slice (null, or omitted under omitempty). */
export function jsonArray(values: readonly string[] | undefined, omitEmpty = true): Encoded {
  if (values === undefined) return omitEmpty ? undefined : 'null';
  if (omitEmpty && values.length === 0) return undefined;
  return `[${values.join(',')}]`;
}

/** A pointer to a struct: omitted (or null) when nil. */
export function jsonPointer(value: string | undefined, omitEmpty = true): Encoded {
  if (value === undefined) return omitEmpty ? undefined : 'null';
  return value;
}
