/**
 * A session: a lease kept alive for as long as the session is open, under
 * which the recipes create their keys (Go clientv3/concurrency.Session).
 * When the lease can no longer be proven alive the session is lost: it emits
 * 'lost', `signal` aborts with the LeaseLostError, and every wait in
 * progress under it fails with SessionExpiredError. close() stops the
 * keepalives and revokes the lease, which deletes every key the session
 * holds (locks are released, leadership resigned).
 */
import { EventEmitter } from 'node:events';
import { LeaseLostError, LeaseNotFoundError, type LeaseKeepAlive, type Namespace, type RequestOptions } from '@holdfast/client';
import { SessionClosedError, SessionExpiredError } from './errors.js';

/** Go's default session TTL. */
export const defaultSessionTtlSeconds = 60;

export interface SessionOptions extends RequestOptions {
  /** TTL of the lease the session grants (default 60 s; etcd raises it to its minimum). */
  readonly ttlSeconds?: number;
  /** Use this existing lease instead of granting one; close() revokes it. */
  readonly leaseId?: bigint;
}

interface SessionEvents {
  /** The lease can no longer be proven alive; the session is over. */
  lost: [error: LeaseLostError];
}

export class Session extends EventEmitter<SessionEvents> {
  /** Aborted when the session ends: reason LeaseLostError when lost, SessionClosedError when closed. */
  readonly signal: AbortSignal;
  /** Resolves when the session is closed or orphaned, rejects with LeaseLostError when it is lost. */
  readonly done: Promise<void>;
  private readonly controller = new AbortController();
  private resolveDone!: () => void;
  private rejectDone!: (error: LeaseLostError) => void;
  private lostError: LeaseLostError | undefined;
  private ended = false;
  /** Keys this session's recipe objects have created or joined, with how many objects use each. */
  private readonly keyUsers = new Map<string, number>();

  private constructor(
    /** The client (or namespace) the session's recipes use; keys are relative to it. */
    readonly client: Namespace,
    readonly leaseId: bigint,
    /** The TTL the lease was granted with. */
    readonly ttlSeconds: number,
    private readonly keepAlive: LeaseKeepAlive,
  ) {
    super();
    this.signal = this.controller.signal;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {}); // 'lost' and `signal` are the other ways to learn it
    keepAlive.on('lost', (error) => this.markLost(error));
    if (keepAlive.lost !== undefined) queueMicrotask(() => this.markLost(keepAlive.lost!));
  }

  /** Grants a lease (or adopts options.leaseId) and keeps it alive. */
  static async create(client: Namespace, options: SessionOptions = {}): Promise<Session> {
    const requestOptions: RequestOptions = { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.signal === undefined ? {} : { signal: options.signal }) };
    const ttlSeconds = options.ttlSeconds ?? defaultSessionTtlSeconds;
    if (options.leaseId !== undefined && options.leaseId !== 0n) {
      const existing = await client.lease.timeToLive(options.leaseId, requestOptions);
      if (existing.ttlSeconds <= 0) throw new LeaseNotFoundError();
      return new Session(client, options.leaseId, existing.grantedTtlSeconds, client.lease.keepAlive(options.leaseId));
    }
    const lease = await client.lease.grant(ttlSeconds, requestOptions);
    return new Session(client, lease.id, lease.grantedTtlSeconds, lease.keepAlive());
  }

  /** Why the session was lost, once it was. */
  get lost(): LeaseLostError | undefined {
    return this.lostError;
  }

  /** Open: neither closed, orphaned nor lost. */
  get active(): boolean {
    return !this.ended;
  }

  /** Throws SessionExpiredError (lost) or SessionClosedError (closed) unless the session is active. */
  throwIfInactive(): void {
    if (!this.ended) return;
    throw this.inactiveError();
  }

  /** The error a call on this ended session fails with. */
  inactiveError(): Error {
    if (this.lostError !== undefined) return new SessionExpiredError(this.leaseId, this.lostError.message, { cause: this.lostError });
    return new SessionClosedError(this.leaseId);
  }

  /**
   * Stops the keepalives without revoking: the lease, and the keys under it,
   * live until its TTL runs out (Go Session.Orphan).
   */
  orphan(): void {
    if (this.ended) return;
    this.ended = true;
    this.keepAlive.close();
    this.controller.abort(new SessionClosedError(this.leaseId));
    this.resolveDone();
  }

  /** Stops the keepalives and revokes the lease (a lease already gone is fine). */
  async close(options: RequestOptions = {}): Promise<void> {
    const wasLost = this.lostError !== undefined;
    this.orphan();
    if (wasLost && this.lostError?.reason === 'not-found') return;
    try {
      // If revoking takes longer than the TTL the lease has expired anyway (as Go does).
      await this.client.lease.revoke(this.leaseId, { timeoutMs: this.ttlSeconds * 1_000, ...options });
    } catch (error) {
      if (!(error instanceof LeaseNotFoundError)) throw error;
    }
  }

  /**
   * Internal to the recipes: records that one more object uses `key` (a
   * Mutex or Election key is the same for every object of a session). Returns
   * whether another object already did.
   */
  retainKey(key: Buffer): boolean {
    const id = key.toString('hex');
    const users = this.keyUsers.get(id) ?? 0;
    this.keyUsers.set(id, users + 1);
    return users > 0;
  }

  /** Internal to the recipes: the object no longer uses `key`. */
  releaseKey(key: Buffer): void {
    const id = key.toString('hex');
    const users = (this.keyUsers.get(id) ?? 0) - 1;
    if (users > 0) this.keyUsers.set(id, users);
    else this.keyUsers.delete(id);
  }

  /** Internal to the recipes: whether an object of this session uses `key`. */
  usesKey(key: Buffer): boolean {
    return this.keyUsers.has(key.toString('hex'));
  }

  private markLost(error: LeaseLostError): void {
    if (this.ended) return;
    this.ended = true;
    this.lostError = error;
    this.controller.abort(error);
    this.rejectDone(error);
    this.emit('lost', error);
  }
}
