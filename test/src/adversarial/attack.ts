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

export interface Attack {
  /** Short kebab-case name, unique in the suite. */
  readonly name: string;
  /** What it does, in one line, for the report and RELIABILITY.md. */
  readonly description: string;
  /**
   * Servers this attack needs beyond a plain start (e.g. a tmpfs data dir
   * for disk full); undefined means the runner's default server serves.
   */
  readonly serverArgs?: readonly string[];
  /**
   * Runs the attack. Resolves with its figures once the attack is over and
   * its sockets are closed. It may throw only when the harness itself fails
   * (the server misbehaving is what the runner's checks are for), except
   * where the attack checks an answer (an error code, a message) that it
   * exists to check.
   */
  run(target: AttackTarget, scale: AttackScale): Promise<AttackFigures>;
}
