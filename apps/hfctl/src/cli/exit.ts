/**
 * Exit codes and the one way a command fails, as etcdctl 3.4 does
 * (etcdctl/ctlv3/command/error.go): "Error: <message>" on stderr, then exit
 * with the code. Note that etcdctl's codes are not the usual shell ones:
 * bad arguments exit 128.
 */
export const ExitCode = {
  success: 0,
  error: 1,
  badConnection: 2,
  invalidInput: 3,
  badFeature: 4,
  interrupted: 5,
  io: 6,
  badArgs: 128,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown to end the program: prints "Error: message" (unless silent) and exits with `code`. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** Exit without printing (the command already said what went wrong). */
    readonly silent = false,
  ) {
    super(message);
  }
}

/** etcdctl's ExitWithError. */
export function exitWithError(code: number, message: string): never {
  throw new CliExit(code, message);
}

/** os.Exit(code) after the command printed its own message. */
export function exitSilently(code: number): never {
  throw new CliExit(code, '', true);
}
