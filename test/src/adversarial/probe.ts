/**
 * The probe that every attack is judged by: what a new, well-behaved client
 * gets while and after the server is under attack. Each probe opens its own
 * connections (a hostile client may have exhausted or stalled shared ones),
 * then does Put + Range on gRPC under one deadline and GET /health over
 * HTTP/1.1 under the same deadline.
 */
import { request } from 'node:http';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { ownConnection } from '../kv-client.js';
import type { AttackTarget } from './attack.js';

/** A probe's whole budget: the "Put + Range with a 1 s deadline". */
export const probeDeadlineMs = 1_000;

export interface ProbeResult {
  readonly ok: boolean;
  /** Put then Range, on a new gRPC connection (connect included). */
  readonly grpcMs: number;
  readonly healthMs: number;
  /** What went wrong, when not ok. */
  readonly problem?: string;
}

let probeSequence = 0;

async function probeGrpc(target: AttackTarget): Promise<void> {
  const client = new etcdserverpb.KVClient(target.endpoint, credentials.createInsecure(), { ...ownConnection, 'grpc.enable_retries': 0 });
  const deadline = new Date(Date.now() + probeDeadlineMs);
  const key = Buffer.from(`adversarial/probe/${process.pid}/${probeSequence++}`);
  const value = Buffer.from('probe');
  try {
    await new Promise<void>((resolve, reject) =>
      client.put(etcdserverpb.PutRequest.fromPartial({ key, value }), new Metadata(), { deadline }, (error: ServiceError | null) => (error ? reject(error) : resolve())),
    );
    const range = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
      client.range(etcdserverpb.RangeRequest.fromPartial({ key }), new Metadata(), { deadline }, (error: ServiceError | null, response) => (error ? reject(error) : resolve(response))),
    );
    if (range.kvs[0]?.value.toString() !== 'probe') throw new Error(`the probe's own put was not read back (${range.kvs.length} kvs)`);
  } finally {
    client.close();
  }
}

function probeHealth(target: AttackTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: target.host, port: target.port, path: '/health', agent: false, timeout: probeDeadlineMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 && body.includes('"health":"true"') ? resolve() : reject(new Error(`/health answered ${response.statusCode}: ${body.slice(0, 200)}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`/health not answered within ${probeDeadlineMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function timed(work: () => Promise<void>): Promise<{ ms: number; problem?: string }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started };
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    return { ms: performance.now() - started, problem };
  }
}

/** One probe: gRPC and /health at once, each on its own new connection. */
export async function probe(target: AttackTarget): Promise<ProbeResult> {
  const [grpc, health] = await Promise.all([timed(() => probeGrpc(target)), timed(() => probeHealth(target))]);
  const problems = [grpc.problem && `gRPC: ${grpc.problem}`, health.problem && `health: ${health.problem}`].filter(Boolean);
  return { ok: problems.length === 0, grpcMs: grpc.ms, healthMs: health.ms, ...(problems.length > 0 ? { problem: problems.join('; ') } : {}) };
}

/** How often the background prober starts a probe while an attack runs. */
export const backgroundProbeIntervalMs = 250;

export interface BackgroundProbeSummary {
  readonly probes: number;
  readonly failures: number;
  readonly worstMs: number;
  readonly firstProblem?: string;
}

/**
 * Probes every backgroundProbeIntervalMs until stopped (at most one probe
 * in flight): how the server treats everyone else during the attack.
 */
export function startBackgroundProbes(target: AttackTarget): { stop(): Promise<BackgroundProbeSummary> } {
  let stopped = false;
  let probes = 0;
  let failures = 0;
  let worstMs = 0;
  let firstProblem: string | undefined;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const result = await probe(target);
      probes++;
      worstMs = Math.max(worstMs, result.grpcMs, result.healthMs);
      if (!result.ok) {
        failures++;
        firstProblem ??= result.problem;
      }
      const rest = backgroundProbeIntervalMs - (performance.now() - started);
      if (rest > 0 && !stopped) await new Promise((resolve) => setTimeout(resolve, rest));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { probes, failures, worstMs: Math.round(worstMs), ...(firstProblem !== undefined ? { firstProblem } : {}) };
    },
  };
}
