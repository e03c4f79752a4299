import type { Command } from 'commander';
export function addCompareCommand(program: Command, output: { stdout(t: string): void; stderr(t: string): void }, setExitCode: (code: number) => void): void {
  void program; void output; void setExitCode;
}
