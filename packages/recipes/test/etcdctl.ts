/** etcdctl 3.4 as a child process against a test server, and the critical-section log checker. */
import { spawn, type ChildProcess } from 'node:child_process';

export class Etcdctl {
  private outputText = '';
  private errorText = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(endpoint: string, args: readonly string[], env: Record<string, string> = {}) {
    this.child = spawn('etcdctl', [`--endpoints=${endpoint}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3', ...env } });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.outputText += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.errorText += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get stdout(): string {
    return this.outputText;
  }

  get stderr(): string {
    return this.errorText;
  }

  /** Non-empty stdout lines so far. */
  lines(): string[] {
    return this.outputText.split('\n').filter((line) => line !== '');
  }

  /** Waits until stdout has at least `count` lines (etcdctl prints key and value on separate lines). */
  async waitForLines(count: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines().length < count) {
      if (this.child.exitCode !== null) throw new Error(`etcdctl exited (${this.child.exitCode}) before printing ${count} lines: ${this.outputText} ${this.errorText}`);
      if (Date.now() > deadline) throw new Error(`etcdctl printed ${this.lines().length} of ${count} lines within ${timeoutMs} ms: ${this.outputText} ${this.errorText}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.lines();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (etcdctl then unlocks or resigns) and the exit code. */
  async terminate(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL if still running (cleanup). */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

export interface SectionReport {
  /** Completed critical sections per participant. */
  readonly sections: Map<string, number>;
  /** Every place where a section started inside another (or a line broke the enter/exit pattern). */
  readonly overlaps: string[];
  /** How many times consecutive sections belonged to different kinds (the prefix before '-'). */
  readonly kindSwitches: number;
}

/**
 * Checks a log of "enter <who> ..." / "exit <who> ..." lines appended by
 * critical sections: each enter must be followed by the exit of the same
 * participant before any other enter. Appends of a few bytes with O_APPEND
 * are atomic, so the file order is the real order of the writes.
 */
export function checkSections(log: string): SectionReport {
  const sections = new Map<string, number>();
  const overlaps: string[] = [];
  let inside: string | undefined;
  let lastKind: string | undefined;
  let kindSwitches = 0;
  log
    .split('\n')
    .filter((line) => line.trim() !== '')
    .forEach((line, index) => {
      const [verb, who] = line.split(' ');
      if (who === undefined || (verb !== 'enter' && verb !== 'exit')) {
        overlaps.push(`line ${index + 1}: malformed: ${line}`);
        return;
      }
      if (verb === 'enter') {
        if (inside !== undefined) overlaps.push(`line ${index + 1}: ${who} entered while ${inside} was inside`);
        inside = who;
        const kind = who.split('-')[0];
        if (lastKind !== undefined && kind !== lastKind) kindSwitches += 1;
        lastKind = kind;
      } else {
        if (inside !== who) overlaps.push(`line ${index + 1}: ${who} exited while ${inside ?? 'nobody'} was inside`);
        else sections.set(who, (sections.get(who) ?? 0) + 1);
        inside = undefined;
      }
    });
  if (inside !== undefined) overlaps.push(`${inside} never exited`);
  return { sections, overlaps, kindSwitches };
}
