/**
 * HTTP requests read the way Go's net/http reads them for etcd's v2 keys
 * handler, so that Holdfast accepts, refuses and words errors as etcd does:
 *
 * - the request path is percent-decoded (url.PathUnescape: a bad escape is
 *   a plain "400 Bad Request" before any handler runs) and a path that
 *   path.Clean would change is redirected (ServeMux: 301 to the clean path);
 * - Request.ParseForm: the query, plus for POST, PUT and PATCH a body of
 *   type application/x-www-form-urlencoded (body values first), at most
 *   10 MiB ("http: POST too large"), with url.ParseQuery's errors ("invalid
 *   URL escape \"%zz\"", "invalid semicolon separator in query") and
 *   mime.ParseMediaType's ("mime: no media type");
 * - strconv.ParseBool and ParseUint for the flags and numbers.
 *
 * Strings here are byte strings: one latin1 character per byte, as Go's
 * strings hold bytes (a key or value need not be UTF-8).
 */

/** Go's maxFormSize for a urlencoded body ParseForm reads itself. */
export const maxFormBodyBytes = 10 << 20;

/** A form or URL that Go refuses; `message` is Go's error text. */
export class GoFormError extends Error {
  override name = 'GoFormError';
}

/** url.Values: every value of each key, in order. */
export type FormValues = Map<string, string[]>;

const hexDigit = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
};

/** strconv.Quote of a short byte string (what url.EscapeError prints). */
function goQuote(bytes: string): string {
  let out = '"';
  for (const char of bytes) {
    const code = char.charCodeAt(0);
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code >= 0x20 && code < 0x7f) out += char;
    else out += `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

/**
 * url.QueryUnescape ('+' is a space) or url.PathUnescape ('+' stays): the
 * decoded bytes, or Go's EscapeError.
 */
export function goUnescape(text: string, mode: 'query' | 'path'): string {
  if (!text.includes('%') && (mode === 'path' || !text.includes('+'))) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '%') {
      const high = hexDigit(text.charCodeAt(i + 1));
      const low = hexDigit(text.charCodeAt(i + 2));
      if (i + 2 >= text.length || high < 0 || low < 0) throw new GoFormError(`invalid URL escape ${goQuote(text.slice(i, i + 3))}`);
      out += String.fromCharCode(high * 16 + low);
      i += 2;
    } else if (char === '+' && mode === 'query') {
      out += ' ';
    } else {
      out += char;
    }
  }
  return out;
}

/**
 * url.ParseQuery into `into`: the values it could read, and the error Go
 * returns with them (the first bad escape, or the last semicolon).
 */
export function goParseQuery(query: string, into: FormValues): GoFormError | undefined {
  let error: GoFormError | undefined;
  for (const pair of query.split('&')) {
    if (pair.includes(';')) {
      error = new GoFormError('invalid semicolon separator in query');
      continue;
    }
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = goUnescape(equals === -1 ? pair : pair.slice(0, equals), 'query');
      value = goUnescape(equals === -1 ? '' : pair.slice(equals + 1), 'query');
    } catch (caught) {
      error ??= caught as GoFormError;
      continue;
    }
    const values = into.get(key);
    if (values === undefined) into.set(key, [value]);
    else values.push(value);
  }
  return error;
}

/** Go's mime token characters (RFC 1521 tspecials excluded). */
const isTokenChar = (char: string): boolean => char > ' ' && char < '\x7f' && !'()<>@,;:\\"/[]?='.includes(char);

function consumeToken(text: string): [string, string] {
  let end = 0;
  while (end < text.length && isTokenChar(text[end]!)) end++;
  return [text.slice(0, end), text.slice(end)];
}

/** mime.ParseMediaType's verdict: the lower-cased media type, or its error. */
export function goParseMediaType(header: string): { mediaType: string; error?: GoFormError } {
  const semicolon = header.indexOf(';');
  const base = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  const [type, rest] = consumeToken(base);
  if (type === '') return { mediaType: '', error: new GoFormError('mime: no media type') };
  if (rest !== '') {
    if (!rest.startsWith('/')) return { mediaType: '', error: new GoFormError('mime: expected slash after first token') };
    const [subtype, after] = consumeToken(rest.slice(1));
    if (subtype === '') return { mediaType: '', error: new GoFormError('mime: expected token after slash') };
    if (after !== '') return { mediaType: '', error: new GoFormError('mime: unexpected content after media subtype') };
  }
  // Parameters: `; name=token` or `; name="quoted"`; a trailing ";" is fine.
  let params = semicolon === -1 ? '' : header.slice(semicolon);
  for (;;) {
    params = params.trimStart();
    if (!params.startsWith(';')) break;
    const [name, afterName] = consumeToken(params.slice(1).trimStart());
    if (name === '' || !afterName.trimStart().startsWith('=')) {
      if (params.trim() === ';') break;
      return { mediaType: base, error: new GoFormError('mime: invalid media parameter') };
    }
    let value = afterName.trimStart().slice(1).trimStart();
    if (value.startsWith('"')) {
      const close = /^"((?:[^"\\]|\\.)*)"/.exec(value);
      if (close === null) return { mediaType: base, error: new GoFormError('mime: invalid media parameter') };
      value = value.slice(close[0].length);
    } else {
      const [token, afterValue] = consumeToken(value);
      if (token === '') return { mediaType: base, error: new GoFormError('mime: invalid media parameter') };
      value = afterValue;
    }
    params = value;
  }
  return { mediaType: base };
}

/** Whether ParseForm reads this request's body (POST, PUT, PATCH with a urlencoded type), or the error its type gives. */
export function formBodyKind(method: string, contentType: string | undefined): 'form' | 'ignored' | GoFormError {
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return 'ignored';
  // RFC 7231: a missing type may be taken as application/octet-stream.
  const { mediaType, error } = goParseMediaType(contentType === undefined || contentType === '' ? 'application/octet-stream' : contentType);
  if (error !== undefined) return error;
  return mediaType === 'application/x-www-form-urlencoded' ? 'form' : 'ignored';
}

/** Request.ParseForm: body values first, then the query's; the first error Go reports, if any. */
export function goParseForm(rawQuery: string, body: string | undefined): { form: FormValues; error?: GoFormError } {
  const form: FormValues = new Map();
  const bodyError = body === undefined ? undefined : goParseQuery(body, form);
  const queryError = goParseQuery(rawQuery, form);
  const error = bodyError ?? queryError;
  return error === undefined ? { form } : { form, error };
}

/** strconv.ParseBool. */
export function goParseBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** strconv.ParseUint(text, 10, 64): digits only, below 2^64. */
export function goParseUint64(text: string): bigint | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value < 1n << 64n ? value : undefined;
}

/** path.Clean, on byte strings. */
export function goCleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** net/http's cleanPath (ServeMux): path.Clean, rooted, keeping a trailing slash. */
export function goServeMuxCleanPath(path: string): string {
  if (path === '') return '/';
  const rooted = path.startsWith('/') ? path : `/${path}`;
  const cleaned = goCleanPath(rooted);
  return rooted.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}

/** url.URL.EscapedPath for a decoded path: bytes Go escapes in a path as %XX. */
export function goEscapePath(path: string): string {
  let out = '';
  for (const char of path) {
    if (/[A-Za-z0-9\-_.~$&+,/:;=@]/.test(char)) out += char;
    else out += `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
