/**
 * Request JSON read the way etcd 3.4's grpc-gateway reads it, so that the
 * gateway accepts, refuses and words errors exactly as etcd does:
 *
 * - GoJsonStreamDecoder is Go's json.Decoder: one JSON value after another
 *   from a byte stream (values may be concatenated or separated by
 *   whitespace), with encoding/json's scanner and its syntax error messages
 *   ("invalid character 'b' looking for beginning of object key string",
 *   "unexpected EOF");
 * - unmarshalMessage is golang/protobuf's jsonpb.Unmarshaler (as
 *   grpc-gateway's JSONPb calls it, unknown fields allowed) over a small
 *   hand-written schema of the request message: field names as in the
 *   .proto or in camelCase (camelCase wins when both are given), the last of
 *   duplicate keys wins, null leaves a field unset, 64-bit integers as
 *   numbers or as strings holding JSON numbers, bytes as standard base64
 *   (or an array of byte values), enums by name or number, and Go's
 *   messages for wrong types ("json: cannot unmarshal bool into Go value of
 *   type int64").
 *
 * Fields are visited in .proto order and the first error wins, as in Go.
 * Where Go is random (two members of one oneof given), the last member in
 * .proto order wins here.
 */
import { strict } from '@holdfast/proto';

/** A value of a request refused by the JSON layer; `message` is Go's error text. */
export class GoJsonError extends Error {
  override name = 'GoJsonError';
}

// ---- encoding/json's scanner (scanner.go), byte for byte ----

const scanContinue = 0;
const scanBeginLiteral = 1;
const scanBeginObject = 2;
const scanObjectKey = 3;
const scanObjectValue = 4;
const scanEndObject = 5;
const scanBeginArray = 6;
const scanArrayValue = 7;
const scanEndArray = 8;
const scanSkipSpace = 9;
const scanEnd = 10;
const scanError = 11;

const parseObjectKey = 0;
const parseObjectValue = 1;
const parseArrayValue = 2;

const maxNestingDepth = 10000;

type Step = (scanner: Scanner, c: number) => number;

const isSpace = (c: number): boolean => c <= 0x20 && (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

class Scanner {
  step: Step = stateBeginValue;
  parseState: number[] = [];
  err: string | undefined;
  endTop = false;

  reset(): void {
    this.step = stateBeginValue;
    this.parseState = [];
    this.err = undefined;
    this.endTop = false;
  }

  /** scanner.eof(): whether the input may end here. */
  eof(): number {
    if (this.err !== undefined) return scanError;
    if (this.endTop) return scanEnd;
    this.step(this, 0x20);
    if (this.endTop) return scanEnd;
    this.err ??= 'unexpected end of JSON input';
    return scanError;
  }

  pushParseState(c: number, state: number, success: number): number {
    this.parseState.push(state);
    if (this.parseState.length <= maxNestingDepth) return success;
    return this.error(c, 'exceeded max depth');
  }

  popParseState(): void {
    this.parseState.pop();
    if (this.parseState.length === 0) {
      this.step = stateEndTop;
      this.endTop = true;
    } else {
      this.step = stateEndValue;
    }
  }

  error(c: number, context: string): number {
    this.step = stateError;
    this.err = `invalid character ${quoteChar(c)} ${context}`;
    return scanError;
  }
}

function stateBeginValueOrEmpty(s: Scanner, c: number): number {
  if (isSpace(c)) return scanSkipSpace;
  if (c === 0x5d) return stateEndValue(s, c);
  return stateBeginValue(s, c);
}

function stateBeginValue(s: Scanner, c: number): number {
  if (isSpace(c)) return scanSkipSpace;
  switch (c) {
    case 0x7b: // {
      s.step = stateBeginStringOrEmpty;
      return s.pushParseState(c, parseObjectKey, scanBeginObject);
    case 0x5b: // [
      s.step = stateBeginValueOrEmpty;
      return s.pushParseState(c, parseArrayValue, scanBeginArray);
    case 0x22: // "
      s.step = stateInString;
      return scanBeginLiteral;
    case 0x2d: // -
      s.step = stateNeg;
      return scanBeginLiteral;
    case 0x30: // 0
      s.step = state0;
      return scanBeginLiteral;
    case 0x74: // t
      s.step = literal('true', 1);
      return scanBeginLiteral;
    case 0x66: // f
      s.step = literal('false', 1);
      return scanBeginLiteral;
    case 0x6e: // n
      s.step = literal('null', 1);
      return scanBeginLiteral;
  }
  if (c >= 0x31 && c <= 0x39) {
    s.step = state1;
    return scanBeginLiteral;
  }
  return s.error(c, 'looking for beginning of value');
}

function stateBeginStringOrEmpty(s: Scanner, c: number): number {
  if (isSpace(c)) return scanSkipSpace;
  if (c === 0x7d) {
    s.parseState[s.parseState.length - 1] = parseObjectValue;
    return stateEndValue(s, c);
  }
  return stateBeginString(s, c);
}

function stateBeginString(s: Scanner, c: number): number {
  if (isSpace(c)) return scanSkipSpace;
  if (c === 0x22) {
    s.step = stateInString;
    return scanBeginLiteral;
  }
  return s.error(c, 'looking for beginning of object key string');
}

function stateEndValue(s: Scanner, c: number): number {
  const n = s.parseState.length;
  if (n === 0) {
    s.step = stateEndTop;
    s.endTop = true;
    return stateEndTop(s, c);
  }
  if (isSpace(c)) {
    s.step = stateEndValue;
    return scanSkipSpace;
  }
  switch (s.parseState[n - 1]) {
    case parseObjectKey:
      if (c === 0x3a) {
        s.parseState[n - 1] = parseObjectValue;
        s.step = stateBeginValue;
        return scanObjectKey;
      }
      return s.error(c, 'after object key');
    case parseObjectValue:
      if (c === 0x2c) {
        s.parseState[n - 1] = parseObjectKey;
        s.step = stateBeginString;
        return scanObjectValue;
      }
      if (c === 0x7d) {
        s.popParseState();
        return scanEndObject;
      }
      return s.error(c, 'after object key:value pair');
    default:
      if (c === 0x2c) {
        s.step = stateBeginValue;
        return scanArrayValue;
      }
      if (c === 0x5d) {
        s.popParseState();
        return scanEndArray;
      }
      return s.error(c, 'after array element');
  }
}

function stateEndTop(s: Scanner, c: number): number {
  // Complain about a non-space byte on the next call (the value itself is complete).
  if (!isSpace(c)) s.error(c, 'after top-level value');
  return scanEnd;
}

function stateInString(s: Scanner, c: number): number {
  if (c === 0x22) {
    s.step = stateEndValue;
    return scanContinue;
  }
  if (c === 0x5c) {
    s.step = stateInStringEsc;
    return scanContinue;
  }
  if (c < 0x20) return s.error(c, 'in string literal');
  return scanContinue;
}

function stateInStringEsc(s: Scanner, c: number): number {
  switch (c) {
    case 0x62: case 0x66: case 0x6e: case 0x72: case 0x74: case 0x5c: case 0x2f: case 0x22:
      s.step = stateInString;
      return scanContinue;
    case 0x75:
      s.step = hexEscape(4);
      return scanContinue;
  }
  return s.error(c, 'in string escape code');
}

function hexEscape(remaining: number): Step {
  return (s, c) => {
    if (!isHex(c)) return s.error(c, 'in \\u hexadecimal character escape');
    s.step = remaining === 1 ? stateInString : hexEscape(remaining - 1);
    return scanContinue;
  };
}

function stateNeg(s: Scanner, c: number): number {
  if (c === 0x30) {
    s.step = state0;
    return scanContinue;
  }
  if (c >= 0x31 && c <= 0x39) {
    s.step = state1;
    return scanContinue;
  }
  return s.error(c, 'in numeric literal');
}

function state1(s: Scanner, c: number): number {
  if (isDigit(c)) {
    s.step = state1;
    return scanContinue;
  }
  return state0(s, c);
}

function state0(s: Scanner, c: number): number {
  if (c === 0x2e) {
    s.step = stateDot;
    return scanContinue;
  }
  if (c === 0x65 || c === 0x45) {
    s.step = stateE;
    return scanContinue;
  }
  return stateEndValue(s, c);
}

function stateDot(s: Scanner, c: number): number {
  if (isDigit(c)) {
    s.step = stateDot0;
    return scanContinue;
  }
  return s.error(c, 'after decimal point in numeric literal');
}

function stateDot0(s: Scanner, c: number): number {
  if (isDigit(c)) return scanContinue;
  if (c === 0x65 || c === 0x45) {
    s.step = stateE;
    return scanContinue;
  }
  return stateEndValue(s, c);
}

function stateE(s: Scanner, c: number): number {
  if (c === 0x2b || c === 0x2d) {
    s.step = stateESign;
    return scanContinue;
  }
  return stateESign(s, c);
}

function stateESign(s: Scanner, c: number): number {
  if (isDigit(c)) {
    s.step = stateE0;
    return scanContinue;
  }
  return s.error(c, 'in exponent of numeric literal');
}

function stateE0(s: Scanner, c: number): number {
  if (isDigit(c)) return scanContinue;
  return stateEndValue(s, c);
}

/** true, false, null: `word[at]` is the byte expected next. */
function literal(word: string, at: number): Step {
  return (s, c) => {
    const expected = word.charCodeAt(at);
    if (c !== expected) return s.error(c, `in literal ${word} (expecting ${quoteChar(expected)})`);
    s.step = at === word.length - 1 ? stateEndValue : literal(word, at + 1);
    return scanContinue;
  };
}

function stateError(): number {
  return scanError;
}

/** Go's quoteChar: a byte as a single-quoted Go character literal. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  const quoted = goQuote(String.fromCharCode(c));
  return `'${quoted.slice(1, -1)}'`;
}

/** strconv.Quote for the characters it can meet here (a byte, or a Latin-1 string of raw bytes). */
function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code === 0x07) out += '\\a';
    else if (code === 0x08) out += '\\b';
    else if (code === 0x0c) out += '\\f';
    else if (code === 0x0a) out += '\\n';
    else if (code === 0x0d) out += '\\r';
    else if (code === 0x09) out += '\\t';
    else if (code === 0x0b) out += '\\v';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if ((code >= 0x80 && code < 0xa1) || code === 0xad) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** fmt's %q of a byte slice: its UTF-8 text quoted (bytes of invalid UTF-8 as \x escapes, roughly as Go). */
function goQuoteBytes(bytes: Buffer): string {
  try {
    return goQuote(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    const parts = [...bytes].map((c) => (c >= 0x80 ? `\\x${c.toString(16).padStart(2, '0')}` : goQuote(String.fromCharCode(c)).slice(1, -1)));
    return `"${parts.join('')}"`;
  }
}

/** json.Unmarshal's syntax check of a whole document: the error text, or undefined. */
function checkValid(data: Buffer): string | undefined {
  const scanner = new Scanner();
  for (const c of data) if (scanner.step(scanner, c) === scanError) return scanner.err;
  if (scanner.eof() === scanError) return scanner.err;
  return undefined;
}

// ---- json.Decoder ----

export type DecodedValue = { readonly kind: 'value'; readonly raw: Buffer } | { readonly kind: 'error'; readonly message: string } | { readonly kind: 'eof' };

/** The room a stream decoder keeps between values: larger is given back once a large value is taken. */
const streamDecoderKeptBytes = 64 * 1024;

/**
 * Go's json.Decoder over a byte stream: push() bytes as they arrive and get
 * every complete value; end() at the end of the stream gets the last value
 * (a bare number completes only there) and then io.EOF, or "unexpected
 * EOF" when the stream stops inside a value. After an error nothing more is
 * decoded (Go's Decoder is stuck on its error too).
 */
export class GoJsonStreamDecoder {
  /**
   * The bytes not yet taken, in `buffer[0, filled)`, with spare room after
   * them: chunks are appended into it (doubling when full), so a value that
   * arrives in many small chunks (1-byte ones, from a hostile client) costs
   * each byte O(1) copies, not a copy of everything pending per chunk.
   */
  private buffer = Buffer.alloc(0);
  private filled = 0;
  /** Start of the value being scanned, in `buffer`. */
  private start = 0;
  /** Next byte to scan. */
  private position = 0;
  private readonly scanner = new Scanner();
  private failed = false;

  /** Bytes held for the value being scanned (for a size limit). */
  get pendingBytes(): number {
    return this.filled - this.start;
  }

  private append(chunk: Buffer): void {
    if (this.start > 0) {
      // Drop what was taken (once per value, not per chunk).
      this.buffer.copy(this.buffer, 0, this.start, this.filled);
      this.filled -= this.start;
      this.position -= this.start;
      this.start = 0;
    }
    const needed = this.filled + chunk.length;
    // Grow by doubling; give back room that a large value left once the stream holds little again.
    const tooSmall = needed > this.buffer.length;
    const tooLarge = this.buffer.length > streamDecoderKeptBytes && needed <= this.buffer.length / 4;
    if (tooSmall || tooLarge) {
      const resized = Buffer.allocUnsafe(tooSmall ? Math.max(this.buffer.length * 2, needed, 1024) : Math.max(streamDecoderKeptBytes, needed * 2));
      this.buffer.copy(resized, 0, 0, this.filled);
      this.buffer = resized;
    }
    chunk.copy(this.buffer, this.filled);
    this.filled = needed;
  }

  push(chunk: Buffer): DecodedValue[] {
    if (this.failed) return [];
    this.append(chunk);
    const values: DecodedValue[] = [];
    const scanner = this.scanner;
    while (this.position < this.filled) {
      const c = this.buffer[this.position]!;
      const op = scanner.step(scanner, c);
      if (op === scanEnd) {
        // Delayed by one byte: the value ended before this one, which starts the next.
        values.push(this.take(this.position));
        continue;
      }
      this.position++;
      if ((op === scanEndObject || op === scanEndArray) && stateEndValue(scanner, 0x20) === scanEnd) {
        values.push(this.take(this.position));
      } else if (op === scanError) {
        this.failed = true;
        values.push({ kind: 'error', message: scanner.err! });
        return values;
      }
    }
    return values;
  }

  end(): DecodedValue[] {
    if (this.failed) return [];
    this.failed = true;
    const scanner = this.scanner;
    if (scanner.step(scanner, 0x20) === scanEnd) return [this.take(this.position), { kind: 'eof' }];
    const rest = this.buffer.subarray(this.start, this.filled);
    if (rest.some((c) => !isSpace(c))) return [{ kind: 'error', message: 'unexpected EOF' }];
    return [{ kind: 'eof' }];
  }

  private take(end: number): DecodedValue {
    let from = this.start;
    while (from < end && isSpace(this.buffer[from]!)) from++;
    const raw = Buffer.from(this.buffer.subarray(from, end));
    this.start = end;
    this.position = end;
    this.scanner.reset();
    return { kind: 'value', raw };
  }
}

/** The first value of a whole body as a unary gateway call decodes it (an empty body is an empty message). */
export function decodeFirstValue(body: Buffer): Buffer | undefined {
  const decoder = new GoJsonStreamDecoder();
  const first = [...decoder.push(body), ...decoder.end()][0]!;
  if (first.kind === 'error') throw new GoJsonError(first.message);
  return first.kind === 'value' ? first.raw : undefined;
}

// ---- a parsed (already valid) JSON document ----

type JsonNode =
  | { readonly kind: 'object'; readonly raw: Buffer; readonly fields: Map<string, JsonNode> }
  | { readonly kind: 'array'; readonly raw: Buffer; readonly items: JsonNode[] }
  | { readonly kind: 'string' | 'number' | 'bool' | 'null'; readonly raw: Buffer };

/**
 * Parses a document checkValid accepted. Iterative, with an explicit stack
 * of open containers: Go allows 10,000 levels of nesting, more than this
 * process's call stack holds as recursion.
 */
function parseValid(data: Buffer): JsonNode {
  let at = 0;
  const skip = () => {
    while (at < data.length && isSpace(data[at]!)) at++;
  };
  const stringEnd = (from: number): number => {
    let i = from + 1;
    while (data[i] !== 0x22) i += data[i] === 0x5c ? 2 : 1;
    return i + 1;
  };
  /** An object or array whose members are still being read. */
  interface Open {
    readonly from: number;
    readonly fields?: Map<string, JsonNode>;
    readonly items?: JsonNode[];
    /** The object key the next value belongs to. */
    key?: string;
  }
  const open: Open[] = [];
  /** Reads an object key and its ':' (at the key's opening quote). */
  const readKey = (container: Open) => {
    skip();
    const keyEnd = stringEnd(at);
    container.key = unquote(data.subarray(at, keyEnd));
    at = keyEnd;
    skip();
    at++; // ':'
  };
  for (;;) {
    // Read one value: a scalar, or the start of a container.
    skip();
    const from = at;
    const c = data[at]!;
    let node: JsonNode | undefined;
    if (c === 0x7b || c === 0x5b) {
      at++;
      skip();
      if (data[at] === (c === 0x7b ? 0x7d : 0x5d)) {
        at++;
        node = c === 0x7b ? { kind: 'object', raw: data.subarray(from, at), fields: new Map() } : { kind: 'array', raw: data.subarray(from, at), items: [] };
      } else {
        const container: Open = c === 0x7b ? { from, fields: new Map() } : { from, items: [] };
        open.push(container);
        if (c === 0x7b) readKey(container);
        continue;
      }
    } else if (c === 0x22) {
      at = stringEnd(at);
      node = { kind: 'string', raw: data.subarray(from, at) };
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      at += c === 0x66 ? 5 : 4;
      node = { kind: c === 0x6e ? 'null' : 'bool', raw: data.subarray(from, at) };
    } else {
      while (at < data.length && /[-+.eE0-9]/.test(String.fromCharCode(data[at]!))) at++;
      node = { kind: 'number', raw: data.subarray(from, at) };
    }
    // Hand the value to its container; close every container that ends here.
    for (;;) {
      const container = open[open.length - 1];
      if (container === undefined) return node;
      if (container.fields !== undefined) container.fields.set(container.key!, node);
      else container.items!.push(node);
      skip();
      const next = data[at++];
      if (next === 0x2c) {
        // ',': another member follows.
        if (container.fields !== undefined) readKey(container);
        break;
      }
      open.pop();
      node = container.fields !== undefined ? { kind: 'object', raw: data.subarray(container.from, at), fields: container.fields } : { kind: 'array', raw: data.subarray(container.from, at), items: container.items! };
    }
  }
}

/** A JSON string literal's text (Go turns invalid UTF-8 into U+FFFD, as Buffer#toString does). */
function unquote(literal: Buffer): string {
  return JSON.parse(literal.toString('utf8')) as string;
}

/** The word Go's UnmarshalTypeError uses for a JSON value's kind. */
function goKind(node: JsonNode): string {
  return node.kind === 'bool' ? 'bool' : node.kind;
}

function typeError(what: string, goType: string): GoJsonError {
  return new GoJsonError(`json: cannot unmarshal ${what} into Go value of type ${goType}`);
}

// ---- jsonpb over a schema ----

export type FieldType =
  | { readonly kind: 'int64' }
  | { readonly kind: 'uint64' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'bytes' }
  | { readonly kind: 'enum'; readonly goType: string; readonly values: Readonly<Record<string, number>> }
  | { readonly kind: 'message'; readonly schema: MessageSchema };

export interface FieldSchema {
  /** The .proto field name (jsonpb's OrigName). */
  readonly name: string;
  /** The property of the ts-proto message it fills. */
  readonly property: string;
  readonly type: FieldType;
  readonly repeated?: boolean;
}

export interface MessageSchema {
  readonly fields: readonly FieldSchema[];
  /** Members of the message's oneof (jsonpb visits them after the plain fields). */
  readonly oneof?: readonly FieldSchema[];
}

/** protoc-gen-go's CamelCase, as jsonpb accepts it besides the .proto name. */
function camelName(name: string): string {
  return name.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

/**
 * jsonpb.UnmarshalNext's work on one decoded value: the message as a plain
 * object of ts-proto properties (absent fields left out; pass it to the
 * generated fromPartial for defaults).
 */
export function unmarshalMessage(raw: Buffer, schema: MessageSchema): Record<string, unknown> {
  return messageValue(parseValid(raw), schema, 1);
}

/**
 * `depth` counts nested messages (the top one is 1). Go's decoder allows
 * 10,000 levels of JSON, enough for 2,500 nested txns; past the protobuf
 * decoder's own bound the message is refused the same way (the caller
 * answers as for a txn nested that deep), before this recursion, and the
 * generated code's after it, can overflow the stack.
 */
function messageValue(node: JsonNode, schema: MessageSchema, depth: number): Record<string, unknown> {
  if (depth > strict.maxMessageDepth) throw new strict.ProtoNestingError(`messages nested deeper than ${strict.maxMessageDepth}`);
  const out: Record<string, unknown> = {};
  if (node.kind === 'null') return out;
  if (node.kind !== 'object') throw typeError(goKind(node), 'map[string]json.RawMessage');
  const remaining = new Map(node.fields);
  const consume = (field: FieldSchema): JsonNode | undefined => {
    const camel = camelName(field.name);
    const orig = remaining.get(field.name);
    const camelValue = remaining.get(camel);
    remaining.delete(field.name);
    remaining.delete(camel);
    return camelValue ?? orig;
  };
  for (const field of schema.fields) {
    const value = consume(field);
    if (value !== undefined) setField(out, field, value, depth);
  }
  for (const member of schema.oneof ?? []) {
    const value = consume(member);
    if (value === undefined) continue;
    for (const other of schema.oneof!) delete out[other.property];
    // A null member is set but empty in Go (and the server then ignores it).
    if (value.kind === 'null') out[member.property] = null;
    else setField(out, member, value, depth);
  }
  return out;
}

/** `depth`: the depth of the message `out` belongs to. */
function setField(out: Record<string, unknown>, field: FieldSchema, node: JsonNode, depth: number): void {
  if (!field.repeated) {
    const value = singleValue(field.type, node, depth + 1);
    if (value !== undefined) out[field.property] = value;
    return;
  }
  if (node.kind === 'null') return;
  if (node.kind === 'string' && field.type.kind === 'enum') {
    // jsonpb tries a quoted enum name before it looks at the field being repeated.
    singleValue(field.type, node, depth + 1);
    throw new GoJsonError(`invalid target "slice" for enum ${field.type.goType}`);
  }
  if (node.kind !== 'array') throw typeError(goKind(node), '[]json.RawMessage');
  // Elements null stay the zero value.
  out[field.property] = node.items.map((item) => singleValue(field.type, item, depth + 1) ?? zeroValue(field.type));
}

function zeroValue(type: FieldType): unknown {
  switch (type.kind) {
    case 'int64':
    case 'uint64':
      return 0n;
    case 'bool':
      return false;
    case 'bytes':
      return Buffer.alloc(0);
    case 'enum':
      return 0;
    case 'message':
      return {};
  }
}

/** One (non-repeated) value; undefined when the JSON leaves the field unset. `depth`: a message value's own depth. */
function singleValue(type: FieldType, node: JsonNode, depth: number): unknown {
  switch (type.kind) {
    case 'message':
      return node.kind === 'null' ? undefined : messageValue(node, type.schema, depth);
    case 'enum': {
      if (node.kind === 'string') {
        // jsonpb looks the name up without unquoting it.
        const name = node.raw.subarray(1, -1);
        const value = Object.hasOwn(type.values, name.toString('latin1')) ? type.values[name.toString('latin1')] : undefined;
        if (value === undefined) throw new GoJsonError(`unknown value ${goQuoteBytes(name)} for enum ${type.goType}`);
        return value;
      }
      return integerValue(node, type.goType, 32);
    }
    case 'int64':
    case 'uint64': {
      const read = (number: JsonNode): bigint | undefined => (type.kind === 'int64' ? (integerValue(number, 'int64', 64) as bigint | undefined) : unsignedValue(number));
      // A quoted number: the text between the quotes is read as a document of its own.
      if (node.kind !== 'string') return read(node);
      const inner = node.raw.subarray(1, -1);
      const invalid = checkValid(inner);
      if (invalid !== undefined) throw new GoJsonError(invalid);
      return read(parseValid(inner));
    }
    case 'bool':
      if (node.kind === 'null') return undefined;
      if (node.kind !== 'bool') throw typeError(goKind(node), 'bool');
      return node.raw[0] === 0x74;
    case 'bytes':
      return bytesValue(node);
  }
}

function integerValue(node: JsonNode, goType: string, bits: 32 | 64): bigint | number | undefined {
  if (node.kind === 'null') return undefined;
  if (node.kind !== 'number') throw typeError(goKind(node), goType);
  const text = node.raw.toString('latin1');
  const limit = 1n << BigInt(bits - 1);
  const value = /^-?\d+$/.test(text) ? BigInt(text) : undefined;
  if (value === undefined || value >= limit || value < -limit) throw typeError(`number ${text}`, goType);
  return bits === 64 ? value : Number(value);
}

function unsignedValue(node: JsonNode): bigint | undefined {
  if (node.kind === 'null') return undefined;
  if (node.kind !== 'number') throw typeError(goKind(node), 'uint64');
  const text = node.raw.toString('latin1');
  const value = /^\d+$/.test(text) ? BigInt(text) : undefined;
  if (value === undefined || value >= 1n << 64n) throw typeError(`number ${text}`, 'uint64');
  return value;
}

function bytesValue(node: JsonNode): Buffer | undefined {
  switch (node.kind) {
    case 'null':
      return undefined;
    case 'string':
      return goBase64Decode(Buffer.from(unquote(node.raw), 'utf8'));
    case 'array': {
      // encoding/json fills a []byte from an array of numbers too.
      const bytes = Buffer.alloc(node.items.length);
      node.items.forEach((item, i) => {
        if (item.kind === 'null') return;
        if (item.kind !== 'number') throw typeError(goKind(item), 'uint8');
        const text = item.raw.toString('latin1');
        if (!/^\d+$/.test(text) || Number(text) > 255) throw typeError(`number ${text}`, 'uint8');
        bytes[i] = Number(text);
      });
      return bytes;
    }
    default:
      throw typeError(goKind(node), '[]uint8');
  }
}

const base64Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64Values = new Int16Array(256).fill(-1);
for (let i = 0; i < base64Alphabet.length; i++) base64Values[base64Alphabet.charCodeAt(i)] = i;

/**
 * base64.StdEncoding.DecodeString: padding required, CR and LF skipped,
 * anything else refused with "illegal base64 data at input byte N".
 */
export function goBase64Decode(src: Buffer): Buffer {
  const out: number[] = [];
  const corrupt = (at: number) => new GoJsonError(`illegal base64 data at input byte ${at}`);
  const isNewline = (c: number | undefined) => c === 0x0a || c === 0x0d;
  let si = 0;
  while (si < src.length) {
    const quantum = [0, 0, 0, 0];
    let length = 4;
    let trailingGarbageAt: number | undefined;
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Buffer.from(out);
        throw corrupt(si - j);
      }
      const c = src[si++]!;
      const value = base64Values[c]!;
      if (value !== -1) {
        quantum[j] = value;
        continue;
      }
      if (isNewline(c)) {
        j--;
        continue;
      }
      if (c !== 0x3d) throw corrupt(si - 1);
      // Padding.
      if (j === 0 || j === 1) throw corrupt(si - 1);
      if (j === 2) {
        while (si < src.length && isNewline(src[si])) si++;
        if (si === src.length) throw corrupt(src.length);
        if (src[si] !== 0x3d) throw corrupt(si - 1);
        si++;
      }
      while (si < src.length && isNewline(src[si])) si++;
      if (si < src.length) trailingGarbageAt = si;
      length = j;
      break;
    }
    const bits = (quantum[0]! << 18) | (quantum[1]! << 12) | (quantum[2]! << 6) | quantum[3]!;
    const decoded = [(bits >> 16) & 0xff, (bits >> 8) & 0xff, bits & 0xff];
    out.push(...decoded.slice(0, length - 1));
    if (trailingGarbageAt !== undefined) throw corrupt(trailingGarbageAt);
  }
  return Buffer.from(out);
}
