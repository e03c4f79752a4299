/**
 * The table etcdctl's `-w table` draws (olekukonko/tablewriter as etcd 3.4
 * vendors it, with right-aligned cells): headers upper-cased and centred,
 * cells wrapped at 30 columns on spaces, +---+ borders.
 */

const maxColumnWidth = 30;

/** Display width: East Asian wide and fullwidth characters count 2 (go-runewidth). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text.replace(/\x1b\[(?:[0-9]{1,3}(?:;[0-9]{1,3})*)?[m|K]/g, '')) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0) continue;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(ch)) continue;
    width += isWide(cp) ? 2 : 1;
  }
  return width;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Splits words into lines of at most `limit` runes with minimal raggedness (tablewriter's WrapWords). */
function wrapWords(words: string[], limit: number): string[][] {
  const n = words.length;
  const runeCount = (s: string): number => [...s].length;
  const length: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: number[] = new Array<number>(n).fill(0);
    row[i] = runeCount(words[i]!);
    for (let j = i + 1; j < n; j++) row[j] = row[j - 1]! + 1 + runeCount(words[j]!);
    length.push(row);
  }
  const breakAt = new Array<number>(n).fill(0);
  const cost = new Array<number>(n).fill(2 ** 31 - 1);
  for (let i = n - 1; i >= 0; i--) {
    if (length[i]![n - 1]! <= limit) {
      cost[i] = 0;
      breakAt[i] = n;
    } else {
      for (let j = i + 1; j < n; j++) {
        const d = limit - length[i]![j - 1]!;
        let c = d * d + cost[j]!;
        if (length[i]![j - 1]! > limit) c += 1e5;
        if (c < cost[i]!) {
          cost[i] = c;
          breakAt[i] = j;
        }
      }
    }
  }
  const lines: string[][] = [];
  for (let i = 0; i < n; i = breakAt[i]!) lines.push(words.slice(i, breakAt[i]));
  return lines;
}

function wrapString(text: string, limit: number): string[] {
  const words = text.replaceAll('\n', ' ').split(' ');
  for (const word of words) if (word.length > limit) limit = word.length;
  return wrapWords(words, limit).map((line) => line.join(' '));
}

function padLeft(text: string, width: number): string {
  const gap = width - displayWidth(text);
  return gap > 0 ? ' '.repeat(gap) + text : text;
}

function padCenter(text: string, width: number): string {
  const gap = width - displayWidth(text);
  if (gap <= 0) return text;
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + text + ' '.repeat(gap - left);
}

function title(name: string): string {
  return name.replaceAll('_', ' ').replaceAll('.', ' ').trim().toUpperCase();
}

/** Renders a table with a header row; every cell right-aligned, as etcdctl sets it. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = new Map<number, number>();
  const setWidth = (column: number, text: string): void => {
    const width = Math.min(displayWidth(text), maxColumnWidth);
    const current = widths.get(column);
    if (current === undefined || current < width || current === 0) widths.set(column, width);
  };
  header.forEach((cell, column) => setWidth(column, cell));
  const wrapped = rows.map((row) =>
    row.map((cell, column) => {
      setWidth(column, cell);
      const lines = wrapString(cell, widths.get(column)!);
      const widest = Math.max(0, ...lines.map(displayWidth));
      if (widest > widths.get(column)!) widths.set(column, widest);
      return lines;
    }),
  );
  const columnCount = widths.size;
  const line = `+${Array.from({ length: columnCount }, (_, i) => '-'.repeat(widths.get(i)! + 2)).join('+')}+\n`;
  let out = line;
  out += `|${header.map((cell, i) => ` ${padCenter(title(cell), widths.get(i)!)} |`).join('')}\n`;
  out += line;
  for (const row of wrapped) {
    const height = Math.max(...row.map((lines) => lines.length));
    for (let x = 0; x < height; x++) {
      out += '|';
      row.forEach((lines, y) => {
        out += ` ${padLeft(lines[x] ?? '  ', widths.get(y)!)} |`;
      });
      out += '\n';
    }
  }
  out += line;
  return out;
}
