/**
 * One registered instance: its key under a Session's lease (kept alive every
 * TTL/3), and the loop that keeps it registered.
 *
 * The loop. Grant a session, put the key with the session's lease, then
 * watch the key from the put's revision + 1:
 *
 * - the session is lost (revoked elsewhere, expired, or unprovable for a TTL
 *   because the server was unreachable): emit 'lost', revoke the old lease
 *   if it still exists (best effort: its key has moved to the new lease by
 *   then, so it cannot take the key with it), grant a new session, put
 *   again;
 * - the key is deleted while the session lives (someone ran `etcdctl del`,
 *   or a Go `DeleteEndpoint`): put it again on the same lease (option
 *   `restoreDeleted`, on by default);
 * - someone else put the same key under another lease (a second registrant
 *   of the same address): leave it; if it is deleted later, put ours again.
 *
 * Reconnects need nothing more: the watch resumes where it stopped and the
 * keepalive stream is re-opened by the client; a lease that did not survive
 * the outage shows up as lost. Every retry is spaced by exponential backoff
 * with jitter, for as long as the registration is open.
 *
 * close() (or deregister()) stops the loop and revokes the lease, which
 * deletes the key at once: discoverers see it go without waiting for a TTL.
 */
import { EventEmitter } from 'node:events';
import { ClientClosedError, CompactedError, LeaseNotFoundError, type Namespace } from '@holdfast/client';
import { Session } from '@holdfast/recipes';
import { encodeEndpoint, instanceKey } from './codec.js';
import { Backoff, anySignal, sleep } from './util.js';

export interface InstanceSpec<M = unknown> {
  /** Where clients connect: `host:port` (or anything your clients understand). */
  readonly address: string;
  /** The key suffix: `<service>/<id>`. Default: the address, as Go's naming does. */
  readonly id?: string;
  /** Anything JSON-serialisable; stored as Go's Endpoint.Metadata (null when absent). */
  readonly metadata?: M;
}

export interface RegistrationOptions {
  /** TTL of the registration's lease, in seconds (default 10; the server may raise it to its minimum). */
  readonly ttlSeconds?: number;
  /** Put the key again when it is deleted while our lease lives (default true). */
  readonly restoreDeleted?: boolean;
  /** Pauses between retries: initial and maximum (default 100 ms, 2 s). */
  readonly retryBackoffInitialMs?: number;
  readonly retryBackoffMaxMs?: number;
}

export const defaultRegistrationTtlSeconds = 10;

export interface RegisteredInfo {
  readonly leaseId: bigint;
  /** Revision of the put that (re-)registered the instance. */
  readonly revision: bigint;
  /** Why this registration happened. */
  readonly reason: 'initial' | 'lease-lost' | 'key-deleted' | 'retry';
}

interface RegistrationEvents {
  /** The key is in place under `leaseId` (first time, and after every re-registration). */
  registered: [info: RegisteredInfo];
  /** The lease was lost; a new one is being granted. */
  lost: [error: Error];
  /** The key was deleted by someone else while our lease lived. */
  deleted: [revision: bigint];
  /** A step failed and will be retried after `delayMs`. */
  retry: [error: unknown, delayMs: number];
  /** close() removed the instance. */
  deregistered: [];
}

type WatchOutcome = 'deleted' | 'ended';

export class Registration<M = unknown> extends EventEmitter<RegistrationEvents> {
  readonly service: string;
  readonly id: string;
  /** The key, relative to the client's namespace. */
  readonly key: string;
  readonly address: string;
  /** Resolves after the first successful registration; rejects if close() comes first. */
  readonly ready: Promise<RegisteredInfo>;
  private resolveReady!: (info: RegisteredInfo) => void;
  private rejectReady!: (error: Error) => void;
  private currentMetadata: M | undefined;
  private session: Session | undefined;
  private registeredInfo: RegisteredInfo | undefined;
  private readonly stop = new AbortController();
  private readonly loop: Promise<void>;
  private closePromise: Promise<void> | undefined;
  private registrations = 0;
  private clientClosed = false;

  constructor(
    private readonly client: Namespace,
    service: string,
    spec: InstanceSpec<M>,
    private readonly options: RegistrationOptions = {},
  ) {
    super();
    this.service = service;
    this.address = spec.address;
    this.id = spec.id ?? spec.address;
    this.key = instanceKey(service, this.id);
    this.currentMetadata = spec.metadata;
    encodeEndpoint(this.address, this.currentMetadata); // validate up front
    this.ready = new Promise<RegisteredInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.loop = this.run();
  }

  get metadata(): M | undefined {
    return this.currentMetadata;
  }

  /** The lease the key is under now (undefined between a loss and the next registration). */
  get leaseId(): bigint | undefined {
    return this.registered ? this.registeredInfo?.leaseId : undefined;
  }

  /** Whether the key is believed to be in place under a live lease. */
  get registered(): boolean {
    return this.registeredInfo !== undefined && this.session?.active === true && this.registeredInfo.leaseId === this.session.leaseId;
  }

  /** How many times the key was put by the loop (1 + re-registrations). */
  get registrationCount(): number {
    return this.registrations;
  }

  get closed(): boolean {
    return this.stop.signal.aborted;
  }

  /** Replaces the metadata; discoverers see an 'updated' event. Re-registrations use the new value. */
  async update(metadata: M): Promise<void> {
    if (this.closed) throw new Error('the registration is closed');
    encodeEndpoint(this.address, metadata);
    this.currentMetadata = metadata;
    const session = this.session;
    if (this.registeredInfo === undefined || session === undefined || !session.active) return; // the loop puts the new value
    await this.client.put(this.key, this.value(), { lease: session.leaseId });
  }

  /** Same as close(). */
  deregister(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.close(options);
  }

  /** Stops the loop and revokes the lease (the key goes at once). Idempotent. */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closePromise ??= this.shutdown(options.timeoutMs ?? 5_000);
    return this.closePromise;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stop.abort();
    await this.loop;
    this.rejectReady(new Error('the registration was closed before it was registered'));
    const session = this.session;
    if (session !== undefined) {
      try {
        await session.close({ timeoutMs });
      } catch {
        // Unreachable server: the lease expires after its TTL without keepalives.
      }
    }
    this.emit('deregistered');
  }

  private value(): string {
    return encodeEndpoint(this.address, this.currentMetadata);
  }

  private backoff(): Backoff {
    return new Backoff(this.options.retryBackoffInitialMs ?? 100, this.options.retryBackoffMaxMs ?? 2_000);
  }

  private async run(): Promise<void> {
    const stop = this.stop.signal;
    const backoff = this.backoff();
    let reason: RegisteredInfo['reason'] = 'initial';
    while (!stop.aborted && !this.clientClosed) {
      let session: Session;
      try {
        session = await Session.create(this.client, { ttlSeconds: this.options.ttlSeconds ?? defaultRegistrationTtlSeconds, signal: stop });
      } catch (error) {
        if (stop.aborted) return;
        if (error instanceof ClientClosedError) return;
        const delayMs = backoff.nextDelayMs();
        this.emit('retry', error, delayMs);
        await sleep(delayMs, stop);
        if (reason !== 'initial') reason = 'retry';
        continue;
      }
      const previous = this.session;
      this.session = session;
      if (stop.aborted) return; // shutdown() revokes it
      await this.keepRegistered(session, previous, reason, backoff);
      if (stop.aborted || this.clientClosed) return;
      const lost = session.lost;
      this.emit('lost', lost ?? new Error('the registration lease ended'));
      session.orphan();
      reason = 'lease-lost';
    }
  }

  /**
   * Puts the key and keeps it there while `session` lives; returns when the
   * session ends or on close. `previous`, a lost session, is revoked once
   * the key is under the new lease (revoking it first would delete the key).
   */
  private async keepRegistered(session: Session, previous: Session | undefined, firstReason: RegisteredInfo['reason'], backoff: Backoff): Promise<void> {
    const ended = anySignal(this.stop.signal, session.signal);
    let reason = firstReason;
    let pendingRevoke = previous;
    while (!ended.aborted) {
      let revision: bigint;
      try {
        const put = await this.client.put(this.key, this.value(), { lease: session.leaseId, signal: ended });
        revision = put.header.revision;
      } catch (error) {
        if (ended.aborted) return;
        if (error instanceof ClientClosedError) {
          this.clientClosed = true;
          return;
        }
        if (error instanceof LeaseNotFoundError) {
          // Our lease is gone: wait for the keepalive to say so (at most a TTL), then start over.
          await new Promise<void>((resolve) => ended.addEventListener('abort', () => resolve(), { once: true }));
          return;
        }
        const delayMs = backoff.nextDelayMs();
        this.emit('retry', error, delayMs);
        await sleep(delayMs, ended);
        continue;
      }
      backoff.reset();
      if (pendingRevoke !== undefined) {
        void this.revokeQuietly(pendingRevoke);
        pendingRevoke = undefined;
      }
      this.registrations++;
      const info: RegisteredInfo = { leaseId: session.leaseId, revision, reason };
      this.registeredInfo = info;
      this.resolveReady(info);
      this.emit('registered', info);
      const outcome = await this.watchOwnKey(revision, ended);
      if (outcome !== 'deleted') return;
      if (this.options.restoreDeleted === false) {
        await new Promise<void>((resolve) => ended.addEventListener('abort', () => resolve(), { once: true }));
        return;
      }
      reason = 'key-deleted';
    }
  }

  /** Waits until our key is deleted, the session ends, close(), or the client closes. */
  private async watchOwnKey(putRevision: bigint, ended: AbortSignal): Promise<WatchOutcome> {
    let startRevision = putRevision + 1n;
    while (!ended.aborted) {
      const watch = this.client.watch(this.key, { startRevision, signal: ended });
      try {
        for await (const batch of watch) {
          for (const event of batch.events) {
            if (event.type === 'delete') {
              this.emit('deleted', event.kv.modRevision);
              return 'deleted';
            }
            // A put: ours (update()) or another registrant's under its lease. Either way the key exists.
          }
        }
        // Ended quietly without being aborted: the client was closed.
        if (!ended.aborted) this.clientClosed = true;
        return 'ended';
      } catch (error) {
        if (ended.aborted) return 'ended';
        // Compacted history or another failure: look at the key now and watch on from there.
        if (!(error instanceof CompactedError)) await sleep(500, ended);
        try {
          const now = await this.client.get(this.key, { signal: ended });
          if (now.kvs.length === 0) return 'deleted';
          startRevision = now.header.revision + 1n;
        } catch (readError) {
          if (readError instanceof ClientClosedError) {
            this.clientClosed = true;
            return 'ended';
          }
        }
      } finally {
        watch.close();
      }
    }
    return 'ended';
  }

  private async revokeQuietly(session: Session): Promise<void> {
    try {
      await session.close({ timeoutMs: 5_000 });
    } catch {
      // Gone already, or unreachable: it expires by itself.
    }
  }
}
