/**
 * The adversarial suite's runner. For each target (Holdfast, and etcd 3.4
 * as the control), and each attack:
 *
 *   1. write seedKeysPerAttack new keys and keep what was acknowledged;
 *   2. reset the server's peak RSS and start the background prober;
 *   3. run the attack (bounded by attackTimeLimitMs);
 *   4. if the server stopped and the attack allows that, let the attack
 *      recover (make room on the disk) and restart the server on its data;
 *   5. probe: a new connection, Put + Range under a 1 s deadline, and GET
 *      /health (up to postAttackProbeAttempts tries, postAttackProbeGapMs apart);
 *   6. read back every key acknowledged so far, in every earlier step;
 *   7. compare the peak RSS with the attack's bound.
 *
 * A failed check is recorded, not thrown, so one report shows every attack;
 * the caller decides which failures fail (the test asserts them for
 * Holdfast; etcd's are printed as the control).
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { removeDirectory, startEtcd, startHoldfast, temporaryDirectory, type RunningServer } from '../support.js';
import { ownConnection } from '../kv-client.js';
import type { Attack, AttackContext, AttackFigures, AttackScale, AttackTarget } from './attack.js';
import { PeakRssMeter, type PeakMethod } from './rss.js';
import { probe, startBackgroundProbes, type BackgroundProbeSummary, type ProbeResult } from './probe.js';

/**
 * The peak RSS any attack may cost Holdfast unless it names its own bound.
 * Idle, the server holds about 80-100 MB; etcd 3.4 under the same attacks
 * stays below this too. The findings this suite guards against grew the
 * server to 371 MB (one HTTP/2 connection) and 4.8 GB (chunked bodies).
 */
export const defaultPeakRssBoundBytes = 384 * 1024 * 1024;

/** Keys written (and later read back) before each attack. */
export const seedKeysPerAttack = 50;
/** Longest any attack may run, by scale, before the runner gives up on it. */
export const attackTimeLimitMs: Record<AttackScale, number> = { short: 60_000, long: 30 * 60_000 };
export const postAttackProbeAttempts = 3;
export const postAttackProbeGapMs = 1_000;
/** The deadline for reading back the acknowledged keys. */
export const keyCheckDeadlineMs = 10_000;
const defaultMaxRequestBytes = 1.5 * 1024 * 1024;

export interface AttackResult {
  readonly target: AttackTarget['kind'];
  readonly attack: string;
  readonly skipped?: string;
  readonly figures: AttackFigures;
  readonly elapsedMs: number;
  readonly during: BackgroundProbeSummary;
  readonly after?: ProbeResult;
  readonly peakRssBytes?: number;
  readonly peakRssBoundBytes: number;
  readonly peakMethod?: PeakMethod;
  readonly serverStopped: boolean;
  readonly keysChecked: number;
  /** Every check that failed, in words; empty when the attack was survived. */
  readonly problems: readonly string[];
}

export interface SuiteOptions {
  readonly kinds: ReadonlyArray<AttackTarget['kind']>;
  readonly attacks: readonly Attack[];
  readonly scale: AttackScale;
  /** Progress lines (one per attack start and end). */
  readonly log?: (line: string) => void;
}

function startServer(kind: AttackTarget['kind'], dataDir: string, clientPort?: number, extraArgs: readonly string[] = []): Promise<RunningServer> {
  const options = { dataDir, extraArgs, ...(clientPort !== undefined ? { clientPort } : {}) };
  return kind === 'holdfast' ? startHoldfast(options) : startEtcd(options);
}

/** The attack target a started server is. */
export function targetOf(server: RunningServer): AttackTarget {
  const [host, port] = server.endpoint.split(':') as [string, string];
  return { kind: server.kind, host, port: Number(port), endpoint: server.endpoint, pid: server.process.pid!, dataDir: server.dataDir, maxRequestBytes: defaultMaxRequestBytes };
}

function alive(server: RunningServer): boolean {
  return server.process.exitCode === null && server.process.signalCode === null;
}

/**
 * After an attack that may stop the server (a full disk), how long a stop
 * already under way may take to finish before the server counts as up:
 * the attack ends at its first refused write, while the server is still
 * closing its connections (up to a second) and its storage.
 */
export const stopSettleMs = 10_000;

/** Resolves once `server` has exited, answers a probe, or stopSettleMs passed. */
async function settleAfterAttack(server: RunningServer, target: AttackTarget): Promise<void> {
  const deadline = performance.now() + stopSettleMs;
  while (alive(server) && performance.now() < deadline) {
    if ((await probe(target)).ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Writes `count` keys; returns the ones acknowledged. */
async function seedKeys(target: AttackTarget, prefix: string, count: number): Promise<Map<string, string>> {
  const client = new etcdserverpb.KVClient(target.endpoint, credentials.createInsecure(), ownConnection);
  const acknowledged = new Map<string, string>();
  try {
    for (let i = 0; i < count; i++) {
      const key = `${prefix}${String(i).padStart(4, '0')}`;
      const value = `${key}=${Math.random().toString(36).slice(2)}`;
      await new Promise<void>((resolve, reject) =>
        client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) }), new Metadata(), { deadline: new Date(Date.now() + keyCheckDeadlineMs) }, (error: ServiceError | null) =>
          error ? reject(error) : resolve(),
        ),
      );
      acknowledged.set(key, value);
    }
  } finally {
    client.close();
  }
  return acknowledged;
}

/** The acknowledged keys that are missing or changed. */
async function missingKeys(target: AttackTarget, prefix: string, acknowledged: ReadonlyMap<string, string>): Promise<string[]> {
  // An attack may have written large values under the prefix (disk full does).
  const client = new etcdserverpb.KVClient(target.endpoint, credentials.createInsecure(), { ...ownConnection, 'grpc.max_receive_message_length': -1 });
  try {
    const end = Buffer.from(prefix);
    end[end.length - 1]!++;
    const response = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
      client.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: end }), new Metadata(), { deadline: new Date(Date.now() + keyCheckDeadlineMs) }, (error: ServiceError | null, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
    const stored = new Map(response.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    return [...acknowledged].filter(([key, value]) => stored.get(key) !== value).map(([key]) => key);
  } finally {
    client.close();
  }
}

async function withTimeLimit<T>(work: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${limitMs} ms`)), limitMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A server the runner plays attacks against, and what it must still hold. */
interface Slot {
  server: RunningServer;
  readonly dataDir: string;
  readonly acknowledged: Map<string, string>;
  /** The flags it was started with, for a restart. */
  readonly extraArgs: readonly string[];
}

/** Every key the runner checks lives under this prefix. */
const seedPrefix = 'adversarial/ack/';

/** Runs every attack against every target kind; never throws for a server's failure. */
export async function runSuite(options: SuiteOptions): Promise<AttackResult[]> {
  const log = options.log ?? (() => {});
  const results: AttackResult[] = [];
  for (const kind of options.kinds) {
    let shared: Slot | undefined;
    try {
      for (const attack of options.attacks) {
        const bound = attack.peakRssBoundBytes?.(options.scale) ?? defaultPeakRssBoundBytes;
        const skipped = attack.unavailable?.();
        if (skipped !== undefined) {
          results.push({ target: kind, attack: attack.name, skipped, figures: {}, elapsedMs: 0, during: { probes: 0, failures: 0, worstMs: 0 }, peakRssBoundBytes: bound, serverStopped: false, keysChecked: 0, problems: [] });
          log(`${kind} ${attack.name}: skipped (${skipped})`);
          continue;
        }
        let slot: Slot;
        let placement: { dataDir: string; release(): void } | undefined;
        if (attack.placement !== undefined || attack.serverArgs !== undefined) {
          if (attack.placement !== undefined) placement = await attack.placement(kind);
          else {
            const dataDir = temporaryDirectory(`adversarial-${attack.name}-${kind}`);
            placement = { dataDir, release: () => removeDirectory(dataDir) };
          }
          try {
            slot = { server: await startServer(kind, placement.dataDir, undefined, attack.serverArgs), dataDir: placement.dataDir, acknowledged: new Map(), extraArgs: attack.serverArgs ?? [] };
          } catch (error) {
            placement.release();
            const problem = `the server did not start on the attack's data directory: ${error instanceof Error ? error.message.slice(0, 600) : String(error)}`;
            results.push({ target: kind, attack: attack.name, figures: {}, elapsedMs: 0, during: { probes: 0, failures: 0, worstMs: 0 }, peakRssBoundBytes: bound, serverStopped: false, keysChecked: 0, problems: [problem] });
            log(`${kind} ${attack.name}: FAILED: ${problem}`);
            continue;
          }
        } else {
          if (shared === undefined || !alive(shared.server)) {
            const dataDir = shared?.dataDir ?? temporaryDirectory(`adversarial-${kind}`);
            shared = { server: await startServer(kind, dataDir), dataDir, acknowledged: shared?.acknowledged ?? new Map(), extraArgs: [] };
          }
          slot = shared;
        }
        try {
          results.push(await runOne(kind, attack, slot, options.scale, bound, log));
        } finally {
          if (placement !== undefined) {
            await slot.server.stop();
            placement.release();
          }
        }
      }
    } finally {
      if (shared !== undefined) {
        await shared.server.stop();
        removeDirectory(shared.dataDir);
      }
    }
  }
  return results;
}

async function runOne(
  kind: AttackTarget['kind'],
  attack: Attack,
  slot: Slot,
  scale: AttackScale,
  bound: number,
  log: (line: string) => void,
): Promise<AttackResult> {
  const problems: string[] = [];
  let target = targetOf(slot.server);
  for (const [key, value] of await seedKeys(target, `${seedPrefix}${attack.name}/`, seedKeysPerAttack)) slot.acknowledged.set(key, value);
  log(`${kind} ${attack.name}: ${attack.description}`);
  const meter = new PeakRssMeter(target.pid);
  meter.start();
  const background = startBackgroundProbes(target);
  const started = performance.now();
  let figures: AttackFigures = {};
  try {
    const context: AttackContext = { acknowledgedKeyPrefix: `${seedPrefix}${attack.name}/written/`, acknowledge: (key, value) => slot.acknowledged.set(key, value) };
    figures = await withTimeLimit(attack.run(target, scale, context), attackTimeLimitMs[scale], `attack ${attack.name}`);
  } catch (error) {
    problems.push(`the attack failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const elapsedMs = Math.round(performance.now() - started);
  const during = await background.stop();
  const peakRssBytes = meter.peakBytes();
  meter.stop();
  if (attack.mayStopServer) await settleAfterAttack(slot.server, target);
  const serverStopped = !alive(slot.server);
  if (serverStopped) {
    if (!attack.mayStopServer) problems.push(`the server stopped (exit ${slot.server.process.exitCode ?? slot.server.process.signalCode}): ${slot.server.output().slice(-600)}`);
    try {
      await attack.recover?.(target);
      slot.server = await startServer(kind, slot.dataDir, target.port, slot.extraArgs);
      target = targetOf(slot.server);
    } catch (error) {
      problems.push(`the server did not come back after the attack: ${error instanceof Error ? error.message.slice(0, 600) : String(error)}`);
      return { target: kind, attack: attack.name, figures, elapsedMs, during, ...(peakRssBytes !== undefined ? { peakRssBytes } : {}), peakRssBoundBytes: bound, peakMethod: meter.method, serverStopped, keysChecked: 0, problems };
    }
  }
  let after: ProbeResult | undefined;
  for (let attempt = 0; attempt < postAttackProbeAttempts; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, postAttackProbeGapMs));
    after = await probe(target);
    if (after.ok) break;
  }
  if (!after!.ok) {
    const exited = alive(slot.server) ? '' : ` (the server exited ${slot.server.process.exitCode ?? slot.server.process.signalCode}: ${slot.server.output().slice(-800)})`;
    problems.push(`the probe after the attack failed ${postAttackProbeAttempts} times: ${after!.problem}${exited}`);
  }
  let keysChecked = 0;
  try {
    const missing = await missingKeys(target, seedPrefix, slot.acknowledged);
    keysChecked = slot.acknowledged.size;
    if (missing.length > 0) problems.push(`${missing.length} of ${slot.acknowledged.size} acknowledged keys are missing or changed (first: ${missing[0]})`);
  } catch (error) {
    problems.push(`could not read the acknowledged keys back: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (peakRssBytes !== undefined && peakRssBytes > bound) problems.push(`peak RSS ${mebibytes(peakRssBytes)} MiB is over the bound of ${mebibytes(bound)} MiB`);
  const result: AttackResult = { target: kind, attack: attack.name, figures, elapsedMs, during, ...(after !== undefined ? { after } : {}), ...(peakRssBytes !== undefined ? { peakRssBytes } : {}), peakRssBoundBytes: bound, peakMethod: meter.method, serverStopped, keysChecked, problems };
  log(`${kind} ${attack.name}: ${problems.length === 0 ? 'survived' : `FAILED: ${problems.join('; ')}`} (${elapsedMs} ms, peak RSS ${peakRssBytes === undefined ? '?' : mebibytes(peakRssBytes)} MiB, probes during ${during.probes - during.failures}/${during.probes} ok, worst ${during.worstMs} ms) ${JSON.stringify(figures)}`);
  return result;
}

export function mebibytes(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

/** A Markdown table of the results, Holdfast and etcd side by side per attack. */
export function formatReport(results: readonly AttackResult[]): string {
  const lines = ['| attack | server | outcome | time ms | peak RSS MiB (bound) | probes during ok/all, worst ms | probe after ms (gRPC / health) | figures |', '|---|---|---|---|---|---|---|---|'];
  for (const result of results) {
    const outcome = result.skipped !== undefined ? `skipped: ${result.skipped}` : result.problems.length === 0 ? 'survived' : `FAILED: ${result.problems.join('; ')}`;
    const peak = result.peakRssBytes === undefined ? '?' : `${mebibytes(result.peakRssBytes)} (${mebibytes(result.peakRssBoundBytes)})`;
    const during = `${result.during.probes - result.during.failures}/${result.during.probes}, ${result.during.worstMs}`;
    const after = result.after === undefined ? '' : `${Math.round(result.after.grpcMs)} / ${Math.round(result.after.healthMs)}`;
    lines.push(`| ${result.attack} | ${result.target} | ${outcome.replaceAll('|', '/')} | ${result.elapsedMs} | ${peak} | ${during} | ${after} | ${JSON.stringify(result.figures).replaceAll('|', '/')} |`);
  }
  return lines.join('\n');
}
