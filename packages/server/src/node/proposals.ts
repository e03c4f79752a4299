/**
 * Proposals waiting for their entry to be applied, each with a deadline,
 * found by their request id (the InternalRaftRequest header's ID), as
 * etcd's wait registry finds them: an entry applied from bytes (this
 * member's own, forwarded through a leader, or replayed) settles the
 * proposal that made it, without the log carrying anything but bytes.
 *
 * Invariant: every proposal handed to the log is settled exactly once: by
 * its apply result, by "request timed out" at its deadline, or by the
 * error that stopped the member. A client is never left waiting forever
 * and never answered twice.
 */
import type { etcdserverpb } from '@holdfast/proto';
import type { ApplyResult } from '../apply/applier.js';
import { TimeoutError, type EtcdError } from '../errors.js';
import type { Clock } from './clock.js';

/** How long a proposal may wait for its apply before the client gets "request timed out". */
export const requestTimeoutMs = 7_000;

/**
 * How often proposals are checked against their deadline. One sweep instead
 * of a timer per proposal: at thousands of proposals a second the timers
 * cost more than the check. A timeout fires at most this late.
 */
export const proposalTimeoutSweepIntervalMs = 100;

/** A proposal waiting for its entry to be applied; the log carries it as the entry's context. */
export interface PendingProposal {
  readonly request: etcdserverpb.InternalRaftRequest;
  /** Clock time past which the client is told "request timed out". */
  readonly deadlineMs: number;
  readonly settle: (result: ApplyResult) => void;
}

export class Proposals {
  private readonly clock: Clock;
  private readonly onFailed: () => void;
  /**
   * In proposal order, which is deadline order (every proposal gets the
   * same timeout), so the sweep only looks at the front.
   */
  private readonly inFlight = new Map<bigint, PendingProposal>();
  private stopSweep: (() => void) | undefined;

  /** `onFailed` counts proposals that end in an error before they apply (metrics). */
  constructor(clock: Clock, onFailed: () => void) {
    this.clock = clock;
    this.onFailed = onFailed;
  }

  get size(): number {
    return this.inFlight.size;
  }

  /**
   * Tracks `request` and hands it to `submit` (which gives it to the log).
   * Resolves with its apply result; rejects with the etcd error it produced,
   * a timeout, or whatever `submit` threw.
   */
  begin(request: etcdserverpb.InternalRaftRequest, submit: (pending: PendingProposal) => void): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      const id = request.header!.ID;
      // Invariant: ids are unique (RequestIdGenerator: member id, start time, counter).
      if (this.inFlight.has(id)) throw new Error(`proposals: request id ${id} is already waiting`);
      const pending: PendingProposal = {
        request,
        deadlineMs: this.clock.nowMs() + requestTimeoutMs,
        settle: (result) => {
          if (this.inFlight.get(id) !== pending) return;
          this.inFlight.delete(id);
          if (result.error !== undefined) reject(result.error);
          else resolve(result);
        },
      };
      this.inFlight.set(id, pending);
      try {
        submit(pending);
      } catch (error) {
        this.inFlight.delete(id);
        this.onFailed();
        reject(error);
        return;
      }
      this.stopSweep ??= this.clock.every(proposalTimeoutSweepIntervalMs, () => this.expire());
    });
  }

  /** Settles the proposal of request `id` with its apply result, if it is still waiting here. */
  settle(id: bigint, result: ApplyResult): void {
    this.inFlight.get(id)?.settle(result);
  }

  /** Settles every proposal still waiting with `error` (the member stopped). */
  failAll(error: EtcdError): void {
    for (const pending of [...this.inFlight.values()]) {
      this.onFailed();
      pending.settle({ error });
    }
  }

  stop(): void {
    this.stopSweep?.();
    this.stopSweep = undefined;
  }

  /** Answers "request timed out" to proposals past their deadline. */
  private expire(): void {
    const now = this.clock.nowMs();
    for (const pending of this.inFlight.values()) {
      if (pending.deadlineMs > now) break;
      this.onFailed();
      pending.settle({ error: new TimeoutError() });
    }
    if (this.inFlight.size === 0) this.stop();
  }
}
