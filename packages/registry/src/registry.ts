/**
 * The registry: registrations and discoveries over one client, closed
 * together, with opt-in graceful deregistration on SIGINT / SIGTERM.
 *
 *   const registry = new Registry(client, { ttlSeconds: 10 });
 *   const registration = await registry.register('echo', { address: '10.0.0.5:50051', metadata: { zone: 'a' } });
 *   registry.handleSignals();              // SIGINT/SIGTERM: deregister, then die of the signal
 *   const echo = await registry.discover('echo');
 *   echo.pick()?.address;
 *   await registry.close();                // deregisters everything, stops every discovery
 */
import { onAbort, type Namespace } from '@holdfast/client';
import { checkService } from './codec.js';
import { Discovery, type DiscoveryOptions } from './discovery.js';
import { Registration, type InstanceSpec, type RegistrationOptions } from './registration.js';

export interface RegistryOptions extends RegistrationOptions {}

export interface RegisterOptions extends RegistrationOptions {
  /** Resolve as soon as the loop started, not after the first registration (default false: wait). */
  readonly background?: boolean;
  /** Aborts waiting for the first registration (the registration is then closed). */
  readonly signal?: AbortSignal;
}

export interface HandleSignalsOptions {
  /** Signals to handle (default SIGINT and SIGTERM). */
  readonly signals?: readonly NodeJS.Signals[];
  /** Longest wait for deregistration before giving up on it (default 5 s). */
  readonly timeoutMs?: number;
  /**
   * After deregistering, re-raise the signal so the process ends as it would
   * have without the handler (default true). It is re-raised only when no
   * other listener for it is installed; otherwise ending is theirs to decide.
   */
  readonly exit?: boolean;
}

export class Registry {
  private readonly registrations = new Set<Registration<unknown>>();
  private readonly discoveries = new Set<Discovery<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(
    /** The client (or a namespace of it) every key is relative to. */
    readonly client: Namespace,
    private readonly options: RegistryOptions = {},
  ) {}

  /**
   * Registers an instance of `service` under its own lease and keeps it
   * registered until close(); resolves once the key is in place.
   */
  async register<M = unknown>(service: string, instance: InstanceSpec<M>, options: RegisterOptions = {}): Promise<Registration<M>> {
    this.throwIfClosed();
    checkService(service);
    const registration = new Registration<M>(this.client, service, instance, { ...this.options, ...options });
    this.registrations.add(registration as Registration<unknown>);
    registration.once('deregistered', () => this.registrations.delete(registration as Registration<unknown>));
    if (options.background === true) return registration;
    const signal = options.signal;
    try {
      if (signal === undefined) {
        await registration.ready;
      } else {
        signal.throwIfAborted();
        let stopWaiting = (): void => {};
        try {
          await Promise.race([registration.ready, new Promise<never>((_, reject) => (stopWaiting = onAbort(signal, () => reject(signal.reason))))]);
        } finally {
          stopWaiting();
        }
      }
    } catch (error) {
      await registration.close();
      throw error;
    }
    return registration;
  }

  /** The instances of `service`, kept fresh by a watch, once the first read is done. */
  async discover<M = unknown>(service: string, options: DiscoveryOptions = {}): Promise<Discovery<M>> {
    this.throwIfClosed();
    const discovery = await Discovery.open<M>(this.client, service, options);
    this.discoveries.add(discovery as Discovery<unknown>);
    discovery.done.then(
      () => this.discoveries.delete(discovery as Discovery<unknown>),
      () => this.discoveries.delete(discovery as Discovery<unknown>),
    );
    return discovery;
  }

  /** Deregisters every registration (their keys go at once) and closes every discovery. The client stays open. */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      for (const discovery of this.discoveries) discovery.close();
      await Promise.all([...this.registrations].map((registration) => registration.close(options)));
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * On SIGINT or SIGTERM (or options.signals), deregister everything before
   * the process goes: discoverers see the instances leave at once instead of
   * a TTL later. Returns a function that removes the handlers.
   */
  handleSignals(options: HandleSignalsOptions = {}): () => void {
    const signals = options.signals ?? (['SIGINT', 'SIGTERM'] as const);
    const handlers = new Map<NodeJS.Signals, () => void>();
    const remove = (): void => {
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
      handlers.clear();
    };
    for (const signal of signals) {
      const handler = (): void => {
        remove();
        const timeoutMs = options.timeoutMs ?? 5_000;
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
        void Promise.race([this.close({ timeoutMs }).catch(() => {}), deadline]).then(() => {
          clearTimeout(timer);
          if (options.exit !== false && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        });
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    return remove;
  }

  private throwIfClosed(): void {
    if (this.closing !== undefined) throw new Error('the registry is closed');
  }
}
