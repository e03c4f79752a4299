/**
 * A one-line progress bar on stderr, redrawn in place. Silent when stderr is
 * not a terminal (logs, CI, pipes) or when asked to be quiet.
 */
export interface ProgressState {
  /** Fraction done in [0, 1]. */
  readonly fraction: number;
  readonly operations: number;
  readonly errors: number;
  readonly elapsedSeconds: number;
  /** Extra words after the counters, e.g. "draining events". */
  readonly note?: string;
}

const barWidthChars = 30;
/** Redraw at most this often: a terminal does not need more, and the main thread stays idle. */
export const progressRedrawIntervalMs = 100;

export class ProgressBar {
  private readonly enabled: boolean;
  private drawn = false;

  constructor(
    private readonly label: string,
    quiet: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = !quiet && stream.isTTY === true;
  }

  update(state: ProgressState): void {
    if (!this.enabled) return;
    const fraction = Math.min(1, Math.max(0, state.fraction));
    const filled = Math.round(fraction * barWidthChars);
    const bar = '='.repeat(filled) + (filled < barWidthChars ? '>' : '') + ' '.repeat(Math.max(0, barWidthChars - filled - 1));
    const rate = state.elapsedSeconds > 0 ? Math.round(state.operations / state.elapsedSeconds) : 0;
    const errors = state.errors > 0 ? `, ${state.errors} errors` : '';
    const note = state.note ? ` ${state.note}` : '';
    const line = `${this.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${state.operations} ops, ${rate} ops/s${errors}${note}`;
    const width = this.stream.columns ?? 120;
    this.stream.write(`\r${line.slice(0, width - 1)}\x1b[K`);
    this.drawn = true;
  }

  finish(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
