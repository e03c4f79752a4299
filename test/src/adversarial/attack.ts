/**
 * The adversarial suite's contract. An attack is one hostile or heavy
 * workload aimed at a running server (Holdfast or etcd 3.4, the control).
 * The runner (run.ts) wraps every attack the same way:
 *
 *   seed acknowledged keys -> reset the server's peak RSS -> attack
 *   -> probe (a new connection: Put + Range with a 1 s deadline, GET /health)
 *   -> every acknowledged key still there -> peak RSS under the named bound.
 *
 * An attack module only does the attack and reports what it measured; it
 * must be bounded in time and bytes at both scales and must stop everything
 * it started (sockets, child processes, timers) before it resolves.
 */

/** 'short' runs in CI (seconds per attack); 'long' is the full reproduction (`npm run adversarial -- --long`). */
export type AttackScale = 'short' | 'long';

export interface AttackTarget {
  readonly kind: 'holdfast' | 'etcd';
  /** Loopback host and client port, e.g. 127.0.0.1:23791. */
  readonly host: string;
  readonly port: number;
  /** `host:port`, as etcdctl takes it. */
  readonly endpoint: string;
  /** The server's process id, for RSS sampling and signals. */
  readonly pid: number;
  readonly dataDir: string;
  /** The --max-request-bytes the server was started with. */
  readonly maxRequestBytes: number;
}

/** What an attack measured, printed in the suite's table. Numbers carry their unit in the name (`elapsedMs`, `bytesSent`). */
export type AttackFigures = Record<string, number | string | boolean>;

/** What the runner offers an attack that writes data it wants checked. */
export interface AttackContext {
  /** Keys the runner reads back after the attack must start with this. */
  readonly acknowledgedKeyPrefix: string;
  /** Records a write the server acknowledged: it must survive the attack. */
  acknowledge(key: string, value: string): void;
}

export interface Attack {
  /** Short kebab-case name, unique in the suite. */
  readonly name: string;
  /** What it does, in one line, for the report and RELIABILITY.md. */
  readonly description: string;
  /**
   * The peak RSS this attack may cost the server, when it needs more than
   * the suite's default bound (run.ts: defaultPeakRssBoundBytes); the
   * module says why next to the number.
   */
  peakRssBoundBytes?(scale: AttackScale): number;
  /**
   * Why the attack cannot run here (not root, say), or undefined. The
   * runner reports it as skipped with that reason.
   */
  unavailable?(): string | undefined;
  /**
   * A data directory of the attack's own making (a small tmpfs for disk
   * full); the runner starts a dedicated server on it. `release` undoes it
   * after the server stopped.
   */
  placement?(kind: AttackTarget['kind']): Promise<{ dataDir: string; release(): void }>;
  /**
   * Flags for a server of the attack's own (e.g. a larger quota for a big
   * fill). With either this or placement, the runner starts a dedicated
   * server for the attack instead of the shared one.
   */
  readonly serverArgs?: readonly string[];
  /**
   * True when the server stopping is the correct outcome (a full disk under
   * the WAL). The runner then calls recover() and restarts the server on the
   * same data directory before probing and checking keys.
   */
  readonly mayStopServer?: boolean;
  recover?(target: AttackTarget): Promise<void>;
  /**
   * Runs the attack. Resolves with its figures once the attack is over and
   * its sockets are closed. It may throw only when the harness itself fails
   * (the server misbehaving is what the runner's checks are for), except
   * where the attack checks an answer (an error code, a message) that it
   * exists to check.
   */
  run(target: AttackTarget, scale: AttackScale, context?: AttackContext): Promise<AttackFigures>;
}
