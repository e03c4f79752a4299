/**
 * The client port's plain HTTP endpoints outside the APIs, as etcd's
 * etcdhttp package serves them:
 *
 * - /version: {"etcdserver","etcdcluster"} (GET only);
 * - /health: {"health":"true"} as etcd 3.4 writes it (text/plain, Go's
 *   sniffed type), or 503 {"health":"false"}. Unhealthy when an alarm is
 *   active (?exclude=NOSPACE leaves one out), there is no leader, or a read
 *   fails within a second. The read is linearizable unless
 *   ?serializable=true, which also skips the leader check (etcd 3.5's
 *   meaning; 3.4 ignores the parameter);
 * - /livez and /readyz: etcd 3.6's probes (3.4 has neither): "ok", or 503
 *   with one "[-]check failed: reason" line per failed check; ?verbose lists
 *   every check, ?exclude=name leaves one out, /livez/<check> runs one;
 * - /metrics: Prometheus text (metrics.ts), any method, as promhttp serves it.
 */
import type { Express, Request, Response } from 'express';
import { etcdserverpb } from '@holdfast/proto';
import type { MemberApi } from '../member-api.js';
import { etcdCompatibleVersion } from '../../version.js';
import { applyRange } from '../../apply/kv-apply.js';
import { sendJson } from './gateway-response.js';
import { StoppedError, TimeoutError } from '../../errors.js';

/** How long /health's read may take (etcd 3.4's QGET timeout). */
export const healthReadTimeoutMs = 1_000;

/** Go's http.Error: text/plain, nosniff, the text and a newline. */
export function sendGoError(response: Response, status: number, text: string, headers: Readonly<Record<string, string>> = {}): void {
  response.status(status).set({ ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end(`${text}\n`);
}

/** etcd's allowMethod for GET-only handlers. */
function getOnly(request: Request, response: Response): boolean {
  if (request.method === 'GET') return true;
  sendGoError(response, 405, 'Method Not Allowed', { Allow: 'GET' });
  return false;
}

/** The values of one query parameter, empty ones left out (etcd's getQuerySet). */
function queryValues(request: Request, name: string): Set<string> {
  const query = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '');
  return new Set(query.getAll(name).filter((value) => value.length > 0));
}

function hasQuery(request: Request, name: string): boolean {
  return new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '').has(name);
}

/**
 * A one-key read, serializable or linearizable, as etcd's health read;
 * rejects after `timeoutMs`. Like etcd's (3.4: a v2 QGET of the root; 3.5:
 * a Range with no key) it looks up one key and never scans: a range over
 * every key, even with limit 1, counts them all, which over 766,000 keys
 * cost 100 ms of CPU per probe.
 */
async function healthRead(member: MemberApi, serializable: boolean, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const read = async (): Promise<void> => {
    if (!member.healthy) throw new StoppedError();
    if (!serializable) await member.linearizableRead();
    applyRange(member.store, etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from([0]), limit: 1n, keysOnly: true }));
  };
  try {
    await Promise.race([read(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError()), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

type Check = (member: MemberApi) => Promise<void>;

/** etcd's ReqTimeout(): 5 s plus two election timeouts, for the probes' reads. */
function probeReadTimeoutMs(member: MemberApi): number {
  return 5_000 + 2 * member.config.electionTimeoutMs;
}

const checks = {
  dataCorruption: async (member: MemberApi) => {
    if (member.alarms.list(etcdserverpb.AlarmType.CORRUPT).length > 0) throw new Error('alarm activated: CORRUPT');
  },
  serializableRead: (member: MemberApi) => healthRead(member, true, probeReadTimeoutMs(member)),
  linearizableRead: (member: MemberApi) => healthRead(member, false, probeReadTimeoutMs(member)),
  // A group of one is never a learner.
  nonLearner: async () => {},
} satisfies Record<string, Check>;

const probes: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, Check]>]> = [
  ['/livez', [['serializable_read', checks.serializableRead]]],
  [
    '/readyz',
    [
      ['data_corruption', checks.dataCorruption],
      ['serializable_read', checks.serializableRead],
      ['linearizable_read', checks.linearizableRead],
      ['non_learner', checks.nonLearner],
    ],
  ],
];

/** Runs checks; "ok" with the verbose lines, or 503 with them. */
async function answerProbe(member: MemberApi, request: Request, response: Response, run: ReadonlyArray<readonly [string, Check]>): Promise<void> {
  let failed = false;
  let reason = '';
  for (const [name, check] of run) {
    try {
      await check(member);
      reason += `[+]${name} ok\n`;
    } catch (error) {
      failed = true;
      reason += `[-]${name} failed: ${error instanceof Error ? error.message : String(error)}\n`;
    }
  }
  if (failed) {
    sendGoError(response, 503, reason);
    return;
  }
  response.status(200).set({ 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  response.end(`${hasQuery(request, 'verbose') ? reason : ''}ok\n`);
}

export function registerBasicRoutes(app: Express, member: MemberApi): void {
  app.all('/version', (request, response) => {
    if (getOnly(request, response)) sendJson(response, 200, { etcdserver: etcdCompatibleVersion, etcdcluster: '3.4.0' });
  });

  app.all('/health', async (request, response) => {
    if (!getOnly(request, response)) return;
    const excluded = queryValues(request, 'exclude');
    const serializable = queryValues(request, 'serializable').has('true');
    let healthy = member.healthy;
    if (healthy) healthy = !member.alarms.list().some((alarm) => !excluded.has(etcdserverpb.alarmTypeToJSON(alarm.alarm)));
    if (healthy && !serializable) healthy = member.leaderId !== 0n;
    if (healthy) healthy = await healthRead(member, serializable, healthReadTimeoutMs).then(() => true, () => false);
    member.metrics.healthChecked(healthy);
    const body = JSON.stringify({ health: String(healthy) });
    if (healthy) response.status(200).type('text/plain; charset=utf-8').end(body);
    else sendGoError(response, 503, body);
  });

  for (const [path, run] of probes) {
    app.all(path, (request, response) => {
      if (!getOnly(request, response)) return;
      const excluded = queryValues(request, 'exclude');
      void answerProbe(member, request, response, run.filter(([name]) => !excluded.has(name)));
    });
    for (const entry of run) {
      app.all(`${path}/${entry[0]}`, (request, response) => {
        if (getOnly(request, response)) void answerProbe(member, request, response, [entry]);
      });
    }
  }

  app.all('/metrics', async (_request, response) => {
    const text = await member.metrics.text();
    response.status(200).set('Content-Type', member.metrics.contentType).end(text);
  });
}
