/**
 * A one-line progress bar redrawn with "\r": a bar on a terminal, the
 * counters alone elsewhere (what etcdctl's pb.v1 bar prints to a pipe).
 */
import { goFixed, humanizeBytes } from './go.js';

export interface ProgressOptions {
  /** 'bytes' shows sizes (kB, MB), 'count' plain numbers. */
  readonly unit: 'bytes' | 'count';
  readonly label?: string;
  /** Redraw at most this often. */
  readonly intervalMs?: number;
}

export class ProgressBar {
  private lastDrawMs = 0;
  private current = 0;
  private total = 0;
  private readonly startedMs = Date.now();
  private finished = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly options: ProgressOptions,
  ) {}

  update(current: number, total: number): void {
    this.current = current;
    this.total = total;
    const now = Date.now();
    if (now - this.lastDrawMs >= (this.options.intervalMs ?? 100) || current >= total) {
      this.lastDrawMs = now;
      this.draw();
    }
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.draw();
    this.stream.write('\n');
  }

  private format(value: number): string {
    return this.options.unit === 'bytes' ? humanizeBytes(BigInt(Math.max(0, Math.round(value)))) : String(value);
  }

  private draw(): void {
    const fraction = this.total > 0 ? Math.min(1, this.current / this.total) : 0;
    const counters = `${this.format(this.current)} / ${this.format(this.total)} ${goFixed(fraction * 100, 2).padStart(6)}%`;
    const elapsedS = (Date.now() - this.startedMs) / 1000;
    const remainingS = fraction > 0 && fraction < 1 ? Math.round((elapsedS / fraction) * (1 - fraction)) : undefined;
    const eta = remainingS === undefined ? '' : ` ${String(Math.floor(remainingS / 60)).padStart(2, '0')}m${String(remainingS % 60).padStart(2, '0')}s`;
    let line = `${this.options.label === undefined ? '' : `${this.options.label} `}${counters}${eta}`;
    if (this.stream.isTTY === true) {
      const width = Math.max(10, Math.min(50, (this.stream.columns ?? 80) - line.length - 4));
      const filled = Math.round(fraction * width);
      const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (fraction >= 1 ? '=' : '>') : '') + ' '.repeat(width - filled);
      line = `${line} [${bar}]`;
    }
    this.stream.write(`\r${line}`);
  }
}
