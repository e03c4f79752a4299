/**
 * Go's formatting, as etcdctl's output uses it: strconv.Quote (%q), %v of a
 * string slice, %x of ids, %.Nf with Go's rounding, time.Duration.String,
 * go-humanize's Bytes, and capnslog's timestamp. etcdctl prints with these,
 * so hfctl must too for its output to be byte-identical.
 */

/** Whether Go's unicode.IsPrint holds for a code point (letters, marks, numbers, punctuation, symbols, ASCII space). */
function isPrint(codePoint: number): boolean {
  if (codePoint === 0x20) return true;
  return /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(String.fromCodePoint(codePoint));
}

const shortEscapes: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 0x5c: '\\\\', 0x22: '\\"' };

/** strconv.Quote of bytes taken as a Go string (invalid UTF-8 bytes become \xNN). */
export function goQuote(input: string | Uint8Array): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const decoded = decodeRune(bytes, i);
    if (decoded === undefined) {
      out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
      i += 1;
      continue;
    }
    const { codePoint, size } = decoded;
    i += size;
    const short = shortEscapes[codePoint];
    if (short !== undefined) out += short;
    else if (isPrint(codePoint)) out += String.fromCodePoint(codePoint);
    else if (codePoint < 0x20 || codePoint === 0x7f) out += `\\x${codePoint.toString(16).padStart(2, '0')}`;
    else if (codePoint < 0x10000) out += `\\u${codePoint.toString(16).padStart(4, '0')}`;
    else out += `\\U${codePoint.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** One UTF-8 sequence at `offset`, or undefined when the byte there starts no valid sequence (as Go's utf8.DecodeRune). */
export function decodeRune(bytes: Uint8Array, offset: number): { codePoint: number; size: number } | undefined {
  const b0 = bytes[offset]!;
  if (b0 < 0x80) return { codePoint: b0, size: 1 };
  const continuation = (k: number): number | undefined => {
    const b = bytes[offset + k];
    return b !== undefined && (b & 0xc0) === 0x80 ? b & 0x3f : undefined;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = continuation(1);
    return c1 === undefined ? undefined : { codePoint: ((b0 & 0x1f) << 6) | c1, size: 2 };
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = continuation(1);
    const c2 = continuation(2);
    if (c1 === undefined || c2 === undefined) return undefined;
    const codePoint = ((b0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (codePoint < 0x800 || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return undefined;
    return { codePoint, size: 3 };
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = continuation(1);
    const c2 = continuation(2);
    const c3 = continuation(3);
    if (c1 === undefined || c2 === undefined || c3 === undefined) return undefined;
    const codePoint = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (codePoint < 0x10000 || codePoint > 0x10ffff) return undefined;
    return { codePoint, size: 4 };
  }
  return undefined;
}

/** Bytes as Go's string(bytes) prints them: raw, so write them as bytes, not re-encoded. */
export function goString(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** fmt's %v of a []string: "[a b c]". */
export function goStringSlice(values: readonly string[]): string {
  return `[${values.join(' ')}]`;
}

/** %016x of a 64-bit id; a negative int64 prints as Go does: a sign, then the magnitude zero-padded to 15 digits. */
export function hex16(id: bigint): string {
  if (id < 0n) return `-${(-id).toString(16).padStart(15, '0')}`;
  return id.toString(16).padStart(16, '0');
}

/** %16x: space-padded hex. */
export function hexSpace16(id: bigint): string {
  return id.toString(16).padStart(16, ' ');
}

/** %x of an unsigned id. */
export function hexPlain(id: bigint): string {
  return id < 0n ? `-${(-id).toString(16)}` : id.toString(16);
}

/**
 * The decimal expansion of a finite double, exactly, as digits and the
 * position of the decimal point (value = 0.digits x 10^point, digits without
 * leading zeros). Used to round like Go's strconv (half to even on the exact value).
 */
function exactDecimal(value: number): { negative: boolean; digits: string; point: number } {
  const negative = value < 0 || Object.is(value, -0);
  const magnitude = Math.abs(value);
  if (magnitude === 0) return { negative, digits: '', point: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, magnitude);
  const bits = view.getBigUint64(0);
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & 0xfffffffffffffn;
  let exponent: number;
  if (exponentBits === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = exponentBits - 1075;
  }
  // value = mantissa * 2^exponent
  let integer: bigint;
  let scale = 0; // value = integer / 10^scale
  if (exponent >= 0) integer = mantissa << BigInt(exponent);
  else {
    // mantissa / 2^-e = mantissa * 5^-e / 10^-e
    integer = mantissa * 5n ** BigInt(-exponent);
    scale = -exponent;
  }
  const digits = integer.toString();
  return { negative, digits, point: digits.length - scale };
}

/** fmt's %.{precision}f of a float64, rounding as Go does (exact value, ties to even). */
export function goFixed(value: number, precision: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  const { negative, digits, point } = exactDecimal(value);
  // Digits to keep: everything before the point plus `precision` after it.
  const keep = point + precision;
  let kept: bigint;
  if (digits.length === 0 || keep < 0) kept = 0n;
  else if (keep >= digits.length) kept = BigInt(digits) * 10n ** BigInt(keep - digits.length);
  else {
    kept = keep === 0 ? 0n : BigInt(digits.slice(0, keep));
    const rest = digits.slice(keep);
    const first = rest.charCodeAt(0) - 48;
    const beyond = /[1-9]/.test(rest.slice(1));
    if (first > 5 || (first === 5 && (beyond || kept % 2n === 1n))) kept += 1n;
  }
  let text = kept.toString().padStart(precision + 1, '0');
  if (precision > 0) text = `${text.slice(0, text.length - precision)}.${text.slice(text.length - precision)}`;
  return negative ? `-${text}` : text;
}

/** time.Duration.String() of a duration in nanoseconds. */
export function goDuration(nanoseconds: bigint): string {
  if (nanoseconds === 0n) return '0s';
  const sign = nanoseconds < 0n ? '-' : '';
  const u = nanoseconds < 0n ? -nanoseconds : nanoseconds;
  if (u < 1_000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fraction(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fraction(u, 6)}ms`;
  const whole = u / 1_000_000_000n;
  const seconds = fraction(u % 60_000_000_000n, 9);
  let out = `${seconds}s`;
  if (whole >= 60n) {
    out = `${(whole / 60n) % 60n}m${out}`;
    if (whole >= 3600n) out = `${whole / 3600n}h${out}`;
  }
  return sign + out;
}

/** v / 10^precision with trailing zeros of the fraction removed (Go's fmtFrac plus fmtInt). */
function fraction(value: bigint, precision: number): string {
  const divisor = 10n ** BigInt(precision);
  const whole = value / divisor;
  let frac = (value % divisor).toString().padStart(precision, '0').replace(/0+$/, '');
  if (frac.length > 0) frac = `.${frac}`;
  return `${whole}${frac}`;
}

/** The same for a number of milliseconds measured with performance.now(). */
export function goDurationFromMs(milliseconds: number): string {
  return goDuration(BigInt(Math.round(milliseconds * 1e6)));
}

/** go-humanize's Bytes (SI units), as etcdctl prints db sizes. */
export function humanizeBytes(size: bigint): string {
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  if (size < 10n) return `${size} B`;
  const value = Number(size);
  const exponent = Math.floor(Math.log(value) / Math.log(1000));
  const suffix = sizes[exponent]!;
  const scaled = Math.floor((value / 1000 ** exponent) * 10 + 0.5) / 10;
  return `${goFixed(scaled, scaled < 10 ? 1 : 0)} ${suffix}`;
}

/** capnslog's timestamp ("2006-01-02 15:04:05.000000", local time). */
export function capnslogTimestamp(date: Date = new Date()): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const micros = pad(date.getMilliseconds() * 1000, 6);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${micros}`;
}
