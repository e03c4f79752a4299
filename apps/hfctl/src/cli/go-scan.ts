/**
 * The bits of Go's input scanning etcdctl's txn and watch -i grammars rely
 * on: strconv.Unquote, fmt.Sscanf's %q / %s / literal matching (for
 * `value("key") = "v"`), and argify's splitting of a line into words.
 */

export class UnquoteError extends Error {
  constructor() {
    super('invalid syntax');
  }
}

const simpleEscapes: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c, '"': 0x22 };

/** strconv.Unquote of a "double-quoted" or `back-quoted` Go string literal; the result may be any bytes. */
export function goUnquote(literal: string): Buffer {
  if (literal.length >= 2 && literal.startsWith('`') && literal.endsWith('`')) {
    const body = literal.slice(1, -1);
    if (body.includes('`')) throw new UnquoteError();
    return Buffer.from(body.replaceAll('\r', ''), 'utf8');
  }
  if (literal.length < 2 || !literal.startsWith('"') || !literal.endsWith('"')) throw new UnquoteError();
  const body = literal.slice(1, -1);
  const bytes: number[] = [];
  const pushText = (text: string): void => {
    for (const byte of Buffer.from(text, 'utf8')) bytes.push(byte);
  };
  for (let i = 0; i < body.length; ) {
    const ch = body[i]!;
    if (ch === '"' || ch === '\n') throw new UnquoteError();
    if (ch !== '\\') {
      const codePoint = body.codePointAt(i)!;
      const char = String.fromCodePoint(codePoint);
      pushText(char);
      i += char.length;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) throw new UnquoteError();
    const simple = simpleEscapes[next];
    if (simple !== undefined) {
      bytes.push(simple);
      i += 2;
      continue;
    }
    const hexRun = (count: number): number => {
      const digits = body.slice(i + 2, i + 2 + count);
      if (digits.length !== count || !/^[0-9a-fA-F]+$/.test(digits)) throw new UnquoteError();
      return parseInt(digits, 16);
    };
    if (next === 'x') {
      bytes.push(hexRun(2));
      i += 4;
    } else if (next === 'u' || next === 'U') {
      const count = next === 'u' ? 4 : 8;
      const codePoint = hexRun(count);
      if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) throw new UnquoteError();
      pushText(String.fromCodePoint(codePoint));
      i += 2 + count;
    } else if (/[0-7]/.test(next)) {
      const digits = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits)) throw new UnquoteError();
      const value = parseInt(digits, 8);
      if (value > 255) throw new UnquoteError();
      bytes.push(value);
      i += 4;
    } else {
      throw new UnquoteError();
    }
  }
  return Buffer.from(bytes);
}

const isSpace = (ch: string | undefined): boolean => ch !== undefined && /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(ch);

/** Reads a %q operand at `pos` (leading spaces skipped): the literal's end and its value, or undefined. */
function scanQuoted(text: string, pos: number): { end: number; value: Buffer } | undefined {
  while (isSpace(text[pos])) pos++;
  const quote = text[pos];
  if (quote === '`') {
    const close = text.indexOf('`', pos + 1);
    if (close < 0) return undefined;
    return { end: close + 1, value: Buffer.from(text.slice(pos + 1, close), 'utf8') };
  }
  if (quote !== '"') return undefined;
  let i = pos + 1;
  for (;;) {
    const ch = text[i];
    if (ch === undefined) return undefined;
    if (ch === '\\') {
      if (text[i + 1] === undefined) return undefined;
      i += 2;
      continue;
    }
    i++;
    if (ch === '"') break;
  }
  try {
    return { end: i, value: goUnquote(text.slice(pos, i)) };
  } catch {
    return undefined;
  }
}

/**
 * fmt.Sscanf(text, "%q) %s %q", &key, &op, &value): how many operands were
 * read before the input stopped matching, and their values so far.
 */
export function scanCompareOperands(text: string): { count: number; key: Buffer; op: string; value: Buffer } {
  const result: { count: number; key: Buffer; op: string; value: Buffer } = { count: 0, key: Buffer.alloc(0), op: '', value: Buffer.alloc(0) };
  const key = scanQuoted(text, 0);
  if (key === undefined) return result;
  result.key = key.value;
  result.count = 1;
  let pos = key.end;
  if (text[pos] !== ')') return result;
  pos++;
  // A space in the format matches one or more spaces, or the end of the input.
  if (pos < text.length && !isSpace(text[pos])) return result;
  while (isSpace(text[pos])) pos++;
  if (pos >= text.length) return result;
  const start = pos;
  while (pos < text.length && !isSpace(text[pos])) pos++;
  result.op = text.slice(start, pos);
  result.count = 2;
  if (pos < text.length && !isSpace(text[pos])) return result;
  const value = scanQuoted(text, pos);
  if (value === undefined) return result;
  result.value = value.value;
  result.count = 3;
  return result;
}

/** etcdctl's argify: words, "double-quoted" (Go-unquoted) and 'single-quoted' strings. */
export function argify(line: string): string[] {
  const words = line.match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\t\n\f\r ][^\t\n\f\r ]*[^'"\t\n\f\r ]?/g) ?? [];
  return words.map((word) => {
    if (word.startsWith("'")) return word.slice(1, -1);
    if (word.startsWith('"')) return goUnquote(word).toString('utf8');
    return word;
  });
}
