/**
 * A strict reader for the subset of YAML that etcd's configuration files use
 * (etcd.conf.yml.sample): comments, `key: value` scalars (plain, single- and
 * double-quoted, empty/null), flow lists `[a, b]`, block lists `- a`, and one
 * level of nested maps (client-transport-security). Plain scalars are typed
 * as go-yaml v2 types them, because etcd decodes the file with go-yaml v2 and
 * then checks each value against its Go field's type.
 *
 * Anything outside the subset (anchors, tags, block scalars, flow maps,
 * multi-line values, deeper nesting, numbers go-yaml would read as octal or
 * hex) is refused with the line number, never guessed at.
 */

export type YamlScalar =
  | { readonly kind: 'null' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string };

export type YamlNode = (
  | YamlScalar
  | { readonly kind: 'list'; readonly items: readonly YamlNode[] }
  | { readonly kind: 'map'; readonly entries: readonly YamlEntry[] }
) & { readonly line: number };

export interface YamlEntry {
  readonly key: string;
  readonly line: number;
  readonly value: YamlNode;
}

/** A document the reader refuses: `line` is 1-based, as go-yaml counts. */
export class YamlSubsetError extends Error {
  override name = 'YamlSubsetError';
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`yaml: line ${line}: ${detail}`);
  }
}

/** go-yaml v2's plain scalars that mean true and false (YAML 1.1). */
const yamlTrue = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const yamlFalse = new Set(['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
const yamlNull = new Set(['', '~', 'null', 'Null', 'NULL']);
const decimalInteger = /^[-+]?(0|[1-9][0-9]*)$/;
const decimalFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** Numbers go-yaml v2 reads in another base or with separators: refused rather than misread. */
const otherNumber = /^[-+]?(0[0-9_]+|0[xXoObB][0-9a-fA-F_]*|[0-9][0-9_]*_[0-9_]*)$/;
const infinity = /^[-+]?\.(inf|Inf|INF)$/;
const notANumber = /^\.(nan|NaN|NAN)$/;
/** A mapping key: etcd's keys are words joined by '-', '_' or '.'. */
const keyPattern = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)[ \t]*:(?=[ \t]|$)/;
/** Characters that cannot start a plain scalar in the subset, with what they would have meant. */
const unsupportedStarts: Record<string, string> = {
  '{': 'flow mappings ({...}) are not supported',
  '&': 'anchors (&) are not supported',
  '*': 'aliases (*) are not supported',
  '!': 'tags (!) are not supported',
  '|': 'block scalars (|) are not supported',
  '>': 'block scalars (>) are not supported',
  '%': 'found character that cannot start any token',
  '@': 'found character that cannot start any token',
  '`': 'found character that cannot start any token',
  '?': 'complex keys (?) are not supported',
};

/** Types a plain scalar as go-yaml v2 does. */
export function resolvePlain(text: string, line: number): YamlScalar {
  if (yamlNull.has(text)) return { kind: 'null' };
  if (yamlTrue.has(text)) return { kind: 'bool', value: true };
  if (yamlFalse.has(text)) return { kind: 'bool', value: false };
  if (decimalInteger.test(text)) return { kind: 'int', value: BigInt(text) };
  if (otherNumber.test(text)) {
    throw new YamlSubsetError(line, `number ${JSON.stringify(text)} is not a plain decimal (octal, hex, binary and '_' are not supported; quote it if it is a string)`);
  }
  if (decimalFloat.test(text)) return { kind: 'float', value: Number(text) };
  if (infinity.test(text)) return { kind: 'float', value: text.startsWith('-') ? -Infinity : Infinity };
  if (notANumber.test(text)) return { kind: 'float', value: Number.NaN };
  return { kind: 'string', value: text };
}

interface SourceLine {
  readonly number: number;
  readonly indent: number;
  /** The line without its indentation. */
  readonly text: string;
}

/** Reads a configuration document: a mapping at the top level. */
export function parseConfigYaml(source: string): YamlEntry[] {
  const lines = contentLines(source);
  const entries: YamlEntry[] = [];
  const seen = new Map<string, number>();
  let index = 0;
  while (index < lines.length) {
    const line = lines[index]!;
    if (line.indent > 0) throw new YamlSubsetError(line.number, 'mapping values are not allowed in this context (unexpected indentation)');
    if (line.text === '-' || line.text.startsWith('- ')) throw new YamlSubsetError(line.number, 'the document must be a mapping of keys to values, not a list');
    const { key, rest } = splitKey(line);
    if (seen.has(key)) throw new YamlSubsetError(line.number, `key "${key}" is already set on line ${seen.get(key)!}`);
    seen.set(key, line.number);
    index += 1;
    let value: YamlNode;
    if (rest === '') {
      // `key:` alone: a block below it (more indented, or a list at the same indentation), else null.
      const next = lines[index];
      if (next !== undefined && next.indent === 0 && isListItem(next)) {
        const end = blockEnd(lines, index, (candidate) => candidate.indent === 0 && isListItem(candidate));
        value = blockList(lines.slice(index, end), line.number);
        index = end;
      } else if (next !== undefined && next.indent > 0) {
        const end = blockEnd(lines, index, (candidate) => candidate.indent > 0);
        value = isListItem(next) ? blockList(lines.slice(index, end), line.number) : nestedMap(lines.slice(index, end), line.number);
        index = end;
      } else {
        value = { kind: 'null', line: line.number };
      }
    } else {
      value = inlineValue(rest, line.number);
      const next = lines[index];
      if (next !== undefined && next.indent > 0) {
        throw new YamlSubsetError(
          next.number,
          keyPattern.test(next.text) ? 'mapping values are not allowed in this context' : 'a value continued on the next line is not supported (put it on one line)',
        );
      }
    }
    entries.push({ key, line: line.number, value });
  }
  return entries;
}

function blockEnd(lines: readonly SourceLine[], start: number, belongs: (line: SourceLine) => boolean): number {
  let end = start;
  while (end < lines.length && belongs(lines[end]!)) end += 1;
  return end;
}

function isListItem(line: SourceLine): boolean {
  return line.text === '-' || line.text.startsWith('- ');
}

/** `- a` lines, all at one indentation, each a scalar or flow list. */
function blockList(lines: readonly SourceLine[], line: number): YamlNode {
  const indent = lines[0]!.indent;
  const items: YamlNode[] = [];
  for (const item of lines) {
    if (item.indent !== indent || !isListItem(item)) {
      throw new YamlSubsetError(item.number, item.indent > indent ? 'nested blocks inside a list are not supported' : 'did not find expected \'-\' indicator');
    }
    const rest = stripComment(item.text.slice(1)).trim();
    if (keyPattern.test(rest)) throw new YamlSubsetError(item.number, 'maps inside a list are not supported');
    items.push(inlineValue(rest, item.number));
  }
  return { kind: 'list', items, line };
}

/** One level of `key: value` lines, all at one indentation. */
function nestedMap(lines: readonly SourceLine[], line: number): YamlNode {
  const indent = lines[0]!.indent;
  const entries: YamlEntry[] = [];
  const seen = new Map<string, number>();
  for (const entry of lines) {
    if (entry.indent !== indent) {
      throw new YamlSubsetError(entry.number, entry.indent > indent ? 'maps nested more than one level deep are not supported' : 'did not find expected key (inconsistent indentation)');
    }
    if (isListItem(entry)) throw new YamlSubsetError(entry.number, 'did not find expected key');
    const { key, rest } = splitKey(entry);
    if (seen.has(key)) throw new YamlSubsetError(entry.number, `key "${key}" is already set on line ${seen.get(key)!}`);
    seen.set(key, entry.number);
    if (rest === '') {
      entries.push({ key, line: entry.number, value: { kind: 'null', line: entry.number } });
    } else {
      entries.push({ key, line: entry.number, value: inlineValue(rest, entry.number) });
    }
  }
  return { kind: 'map', entries, line };
}

function splitKey(line: SourceLine): { key: string; rest: string } {
  const match = keyPattern.exec(line.text);
  if (match === null) {
    const first = line.text[0]!;
    if (first === '"' || first === '\'') throw new YamlSubsetError(line.number, 'quoted keys are not supported');
    if (unsupportedStarts[first] !== undefined) throw new YamlSubsetError(line.number, unsupportedStarts[first]);
    throw new YamlSubsetError(line.number, `could not find expected ':' (want "key: value")`);
  }
  return { key: match[1]!, rest: stripComment(line.text.slice(match[0].length)).trim() };
}

/**
 * A value on the same line as its key or list indicator, comment already
 * removed for plain values (quoted values and flow lists handle '#' themselves).
 */
function inlineValue(rawRest: string, line: number): YamlNode {
  const rest = rawRest.trim();
  const first = rest[0];
  if (first === undefined) return { kind: 'null', line };
  if (first === '"' || first === '\'') {
    const { value, end } = quoted(rest, 0, line);
    expectNothingAfter(rest.slice(end), line);
    return { kind: 'string', value, line };
  }
  if (first === '[') return flowList(rest, line);
  return { ...plain(rest, line, false), line };
}

function plain(text: string, line: number, inFlow: boolean): YamlScalar {
  const first = text[0]!;
  if (unsupportedStarts[first] !== undefined) throw new YamlSubsetError(line, unsupportedStarts[first]);
  if (first === '-' && (text.length === 1 || text[1] === ' ')) throw new YamlSubsetError(line, 'block sequence entries are not allowed in this context');
  if (/:([ \t]|$)/.test(text)) throw new YamlSubsetError(line, 'mapping values are not allowed in this context');
  if (inFlow && /[\]{}]/.test(text)) throw new YamlSubsetError(line, 'nested flow collections are not supported');
  return resolvePlain(text, line);
}

/** `[a, "b", 'c']` on one line. */
function flowList(text: string, line: number): YamlNode {
  const items: YamlNode[] = [];
  let position = 1;
  for (;;) {
    position = skipSpaces(text, position);
    const character = text[position];
    if (character === undefined) throw new YamlSubsetError(line, 'did not find expected \',\' or \']\' (flow lists must close on the same line)');
    if (character === ']') break;
    if (character === '[' || character === '{') throw new YamlSubsetError(line, 'nested flow collections are not supported');
    if (character === ',') throw new YamlSubsetError(line, 'did not find expected node content');
    if (character === '"' || character === '\'') {
      const { value, end } = quoted(text, position, line);
      items.push({ kind: 'string', value, line });
      position = end;
    } else {
      let end = position;
      while (end < text.length && text[end] !== ',' && text[end] !== ']' && !(text[end] === '#' && /[ \t]/.test(text[end - 1]!))) end += 1;
      items.push({ ...plain(text.slice(position, end).trim(), line, true), line });
      position = end;
    }
    position = skipSpaces(text, position);
    if (text[position] === ',') {
      position += 1;
      continue;
    }
    if (text[position] === ']') break;
    throw new YamlSubsetError(line, 'did not find expected \',\' or \']\'');
  }
  expectNothingAfter(text.slice(position + 1), line);
  return { kind: 'list', items, line };
}

function skipSpaces(text: string, position: number): number {
  while (text[position] === ' ' || text[position] === '\t') position += 1;
  return position;
}

/** After a quoted scalar or a flow list only spaces and a comment may follow. */
function expectNothingAfter(rest: string, line: number): void {
  const trimmed = rest.trim();
  if (trimmed !== '' && !(trimmed.startsWith('#') && (rest.length === 0 || /^[ \t]/.test(rest)))) {
    throw new YamlSubsetError(line, `did not find expected key (unexpected ${JSON.stringify(trimmed)} after the value)`);
  }
}

const doubleQuotedEscapes: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
};
const hexEscapeLengths: Record<string, number> = { x: 2, u: 4, U: 8 };

/** A single- or double-quoted scalar starting at `start`, closed on the same line. */
function quoted(text: string, start: number, line: number): { value: string; end: number } {
  const quote = text[start]!;
  let value = '';
  let position = start + 1;
  while (position < text.length) {
    const character = text[position]!;
    if (quote === '\'' && character === '\'') {
      if (text[position + 1] === '\'') {
        value += '\'';
        position += 2;
        continue;
      }
      return { value, end: position + 1 };
    }
    if (quote === '"' && character === '"') return { value, end: position + 1 };
    if (quote === '"' && character === '\\') {
      const escape = text[position + 1];
      if (escape === undefined) break;
      const hexLength = hexEscapeLengths[escape];
      if (hexLength !== undefined) {
        const digits = text.slice(position + 2, position + 2 + hexLength);
        const codePoint = /^[0-9a-fA-F]+$/.test(digits) && digits.length === hexLength ? Number.parseInt(digits, 16) : Number.NaN;
        if (!(codePoint <= 0x10ffff) || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
          throw new YamlSubsetError(line, `did not find expected hexdecimal number in escape \\${escape}`);
        }
        value += String.fromCodePoint(codePoint);
        position += 2 + hexLength;
        continue;
      }
      const replacement = doubleQuotedEscapes[escape];
      if (replacement === undefined) throw new YamlSubsetError(line, `found unknown escape character \\${escape}`);
      value += replacement;
      position += 2;
      continue;
    }
    value += character;
    position += 1;
  }
  throw new YamlSubsetError(line, 'found unexpected end of line in a quoted scalar (quoted values must close on the same line)');
}

/** Removes a `#` comment from a plain value: '#' starts one only after a space or at the start. */
function stripComment(text: string): string {
  const trimmedStart = text.replace(/^[ \t]+/, '');
  if (trimmedStart.startsWith('"') || trimmedStart.startsWith('\'') || trimmedStart.startsWith('[')) return text;
  const match = /(^|[ \t])#/.exec(text);
  return match === null ? text : text.slice(0, match.index);
}

/** The lines that carry content, with their indentation; blank and comment-only lines dropped. */
function contentLines(source: string): SourceLine[] {
  const text = source.startsWith('\ufeff') ? source.slice(1) : source;
  const result: SourceLine[] = [];
  let sawContent = false;
  text.split(/\r\n|\n|\r/).forEach((raw, offset) => {
    const number = offset + 1;
    const indentation = /^[ \t]*/.exec(raw)![0];
    const body = raw.slice(indentation.length);
    if (body === '' || body.startsWith('#')) return;
    if (indentation.includes('\t')) throw new YamlSubsetError(number, 'found a tab character that violates indentation');
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(raw)) throw new YamlSubsetError(number, 'control characters are not allowed');
    const trimmed = body.trimEnd();
    if (trimmed === '---' || trimmed.startsWith('--- ')) {
      if (sawContent) throw new YamlSubsetError(number, 'more than one document is not supported');
      if (trimmed !== '---' && !trimmed.slice(4).trimStart().startsWith('#')) throw new YamlSubsetError(number, 'content after the document marker is not supported');
      return;
    }
    if (trimmed === '...' || trimmed.startsWith('%')) throw new YamlSubsetError(number, 'directives and document end markers are not supported');
    sawContent = true;
    result.push({ number, indent: indentation.length, text: trimmed });
  });
  return result;
}
