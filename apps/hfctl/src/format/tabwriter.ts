/**
 * Go's text/tabwriter, as etcdctl's help output uses it (minwidth 0,
 * tabwidth 8, padding 1, padded with tabs, no flags): tab-terminated cells
 * are aligned in columns; a column block ends at the first line without a
 * cell in that column; a line with a single cell flushes what came before.
 */

interface Cell {
  /** Length of the cell's text in the buffer (UTF-16 units here). */
  size: number;
  /** Width in runes. */
  width: number;
  /** Terminated by a horizontal tab. */
  htab: boolean;
}

export class TabWriter {
  private buffer = '';
  private position = 0;
  private cell: Cell = { size: 0, width: 0, htab: false };
  private lines: Cell[][] = [[]];
  private widths: number[] = [];
  private output = '';

  constructor(
    private readonly minWidth = 0,
    private readonly tabWidth = 8,
    private readonly padding = 1,
  ) {}

  write(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === '\t' || ch === '\v' || ch === '\n' || ch === '\f') {
        this.append(text.slice(start, i));
        this.updateWidth();
        start = i + 1;
        const cells = this.terminateCell(ch === '\t');
        if (ch === '\n' || ch === '\f') {
          this.lines.push([]);
          if (ch === '\f' || cells === 1) this.flushNoDefers();
        }
      }
    }
    this.append(text.slice(start));
  }

  /** Formats what is buffered and returns everything written so far. */
  flush(): string {
    this.flushNoDefers();
    const out = this.output;
    this.output = '';
    return out;
  }

  private append(text: string): void {
    this.buffer += text;
    this.cell.size += text.length;
  }

  private updateWidth(): void {
    this.cell.width += [...this.buffer.slice(this.position)].length;
    this.position = this.buffer.length;
  }

  private terminateCell(htab: boolean): number {
    this.cell.htab = htab;
    const line = this.lines[this.lines.length - 1]!;
    line.push(this.cell);
    this.cell = { size: 0, width: 0, htab: false };
    return line.length;
  }

  private flushNoDefers(): void {
    if (this.cell.size > 0) this.terminateCell(false);
    this.format(0, 0, this.lines.length);
    this.buffer = '';
    this.position = 0;
    this.cell = { size: 0, width: 0, htab: false };
    this.lines = [[]];
    this.widths = [];
  }

  private format(pos0: number, line0: number, line1: number): number {
    let pos = pos0;
    const column = this.widths.length;
    for (let current = line0; current < line1; current++) {
      let line = this.lines[current]!;
      if (column >= line.length - 1) continue;
      pos = this.writeLines(pos, line0, current);
      line0 = current;
      let width = this.minWidth;
      for (; current < line1; current++) {
        line = this.lines[current]!;
        if (column >= line.length - 1) break;
        const c = line[column]!;
        const w = c.width + this.padding;
        if (w > width) width = w;
      }
      this.widths.push(width);
      pos = this.format(pos, line0, current);
      this.widths.pop();
      line0 = current;
    }
    return this.writeLines(pos, line0, line1);
  }

  private writeLines(pos0: number, line0: number, line1: number): number {
    let pos = pos0;
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i]!;
      line.forEach((c, j) => {
        if (c.size > 0) {
          this.output += this.buffer.slice(pos, pos + c.size);
          pos += c.size;
        }
        if (j < this.widths.length) this.writePadding(c.width, this.widths[j]!);
      });
      if (i + 1 === this.lines.length) {
        this.output += this.buffer.slice(pos, pos + this.cell.size);
        pos += this.cell.size;
      } else {
        this.output += '\n';
      }
    }
    return pos;
  }

  private writePadding(textWidth: number, cellWidth: number): void {
    const rounded = Math.ceil(cellWidth / this.tabWidth) * this.tabWidth;
    const n = rounded - textWidth;
    this.output += '\t'.repeat(Math.ceil(n / this.tabWidth));
  }
}
