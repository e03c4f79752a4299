/**
 * Flag value parsers with Go's semantics and error texts (strconv.ParseBool,
 * strconv.ParseInt with base 0, time.ParseDuration, encoding/csv for string
 * slices), so that bad values are reported exactly as etcdctl reports them.
 */

export class ValueError extends Error {}

const boolValues: Record<string, boolean> = {
  '1': true, t: true, T: true, TRUE: true, true: true, True: true,
  '0': false, f: false, F: false, FALSE: false, false: false, False: false,
};

export function parseGoBool(text: string): boolean {
  const value = boolValues[text];
  if (value === undefined) throw new ValueError(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
  return value;
}

/** strconv.ParseInt(text, base, 64) with Go's error texts; base 0 reads 0x, 0o, 0b prefixes, a leading 0 as octal, and underscores. */
export function parseGoInt(text: string, base: 0 | 10 | 16, bits: 64 | 32 = 64, unsigned = false): bigint {
  const fn = unsigned ? 'strconv.ParseUint' : 'strconv.ParseInt';
  const syntax = (): ValueError => new ValueError(`${fn}: parsing ${goQuoteAscii(text)}: invalid syntax`);
  const range = (): ValueError => new ValueError(`${fn}: parsing ${goQuoteAscii(text)}: value out of range`);
  if (text.length === 0) throw syntax();
  let s = text;
  let negative = false;
  if (!unsigned && (s[0] === '+' || s[0] === '-')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  let radix: number = base;
  let hadPrefix = false;
  if (base === 0) {
    radix = 10;
    if (s[0] === '0') {
      const prefix = s.length >= 3 ? ({ x: 16, o: 8, b: 2 } as Record<string, number>)[s[1]!.toLowerCase()] : undefined;
      if (prefix !== undefined) {
        radix = prefix;
        s = s.slice(2);
        hadPrefix = true;
      } else {
        radix = 8;
        s = s.slice(1);
        if (s.length === 0) return 0n;
      }
    }
    // Go accepts underscores between digits (and right after a base prefix) when the base is implied.
    if (s.includes('_')) {
      if ((!hadPrefix && s.startsWith('_')) || s.endsWith('_') || s.includes('__')) throw syntax();
      s = s.replaceAll('_', '');
    }
  }
  if (s.length === 0) throw syntax();
  const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, radix);
  let value = 0n;
  for (const ch of s.toLowerCase()) {
    const digit = digits.indexOf(ch);
    if (digit < 0) throw syntax();
    value = value * BigInt(radix) + BigInt(digit);
  }
  const max = unsigned ? (1n << BigInt(bits)) - 1n : (1n << BigInt(bits - 1)) - 1n;
  if (negative) {
    if (value > max + 1n) throw range();
    return -value;
  }
  if (value > max) throw range();
  return value;
}

/** Go's %q of an ASCII-ish string (enough for error messages about flag values). */
function goQuoteAscii(text: string): string {
  return JSON.stringify(text);
}

const durationUnits: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** time.ParseDuration; returns nanoseconds. */
export function parseGoDuration(text: string): bigint {
  const invalid = (): ValueError => new ValueError(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let negative = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let totalBig = 0n;
  while (s !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const whole = number[1] ?? '';
    const frac = number[2];
    if (whole === '' && (frac === undefined || frac === '')) throw invalid();
    s = s.slice(number[0].length);
    const unitMatch = /^[^\d.]*/.exec(s)!;
    const unitText = unitMatch[0];
    if (unitText === '') throw new ValueError(`time: missing unit in duration ${JSON.stringify(text)}`);
    const unit = durationUnits[unitText];
    if (unit === undefined) throw new ValueError(`time: unknown unit ${JSON.stringify(unitText)} in duration ${JSON.stringify(text)}`);
    s = s.slice(unitText.length);
    let part = BigInt(whole === '' ? '0' : whole) * unit;
    if (frac !== undefined && frac !== '') {
      const scale = 10n ** BigInt(frac.length);
      part += (BigInt(frac) * unit) / scale;
    }
    totalBig += part;
    if (totalBig > (1n << 63n) - 1n) throw invalid();
  }
  return negative ? -totalBig : totalBig;
}

/** One record of encoding/csv (what pflag's string slices read): comma-separated, double quotes for fields with commas. */
export function parseCsvRecord(text: string): string[] {
  if (text === '') return [];
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new ValueError(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
      if (i < text.length && text[i] !== ',') throw new ValueError(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      const end = text.indexOf(',', i);
      field = end < 0 ? text.slice(i) : text.slice(i, end);
      if (field.includes('"')) throw new ValueError(`parse error on line 1, column ${i + field.indexOf('"') + 1}: bare " in non-quoted-field`);
      i = end < 0 ? text.length : end;
    }
    fields.push(field.replace(/\r?\n$/, ''));
    if (i >= text.length) break;
    i++; // the comma
    if (i >= text.length) {
      fields.push('');
      break;
    }
  }
  return fields;
}
