/**
 * Issue 12, finding 6: hostile gRPC framing and protobuf bytes at every
 * method. Each request is a raw HTTP/2 call with a hand-made body: bad flag
 * bytes, the compressed flag without an encoding, length prefixes longer
 * than the body, no message, zero-filled bodies (2 MB of them at
 * LeaseGrant), field 0, wrong wire types for every field, truncated
 * varints, and seeded random mutations and bytes
 * (test/src/grpc-framing-cases.ts).
 *
 * Only requests the framing or the strict decoder refuses are sent, plus
 * accepted ones to read-only methods: an accepted Put, DeleteRange, Txn,
 * Alarm or MemberAdd would change the data the runner checks afterwards.
 * Every refused request must be answered within 3 s with a refusal of its
 * reading (etcd's codes and texts); the attack throws on the first ones
 * that are not, as that is what it exists to check. Requests that crash
 * etcd 3.4.23 (an int64-overflowing length, a Range sorting by an unknown
 * target) are not sent to etcd; they are counted.
 *
 * short: every fixed case of every method once (about 1,000 calls).
 * long: plus 2,000 seeded random cases per method (about 50,000 calls).
 */
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';
import { rawGrpcCall } from '../../grpc-raw.js';
import { caseVerdict, crashesEtcd34, etcd34DecidesOtherwise, fixedCases, isReadRefusal, randomCases, seededRandom, servedMethods, twoMegabytesOfZeros, type FramingCase, type MethodUnderTest } from '../../grpc-framing-cases.js';

/** Random cases per method at 'long' scale. */
export const longRandomCasesPerMethod = 2_000;
/** Calls in flight at once: enough to keep both cores busy, few enough that no call waits long for its turn. */
export const concurrentCalls = 8;
/** How long a refused request may go unanswered. */
export const answerTimeoutMs = 3_000;
/** The seed of the 'long' random cases, fixed so runs compare (GRPC_FRAMING_SEED overrides). */
export const defaultSeed = 20261207;

/** Methods whose accepted requests only read. */
const readOnlyMethods = new Set([
  '/etcdserverpb.KV/Range',
  '/etcdserverpb.Lease/LeaseTimeToLive',
  '/etcdserverpb.Lease/LeaseLeases',
  '/etcdserverpb.Lease/LeaseKeepAlive',
  '/etcdserverpb.Cluster/MemberList',
  '/etcdserverpb.Maintenance/Status',
  '/etcdserverpb.Maintenance/Hash',
  '/etcdserverpb.Maintenance/HashKV',
  '/grpc.health.v1.Health/Check',
]);
const notInEtcd34 = new Set(['/etcdserverpb.Maintenance/Downgrade']);

interface Planned {
  readonly method: MethodUnderTest;
  readonly testCase: FramingCase;
  /** Whether the answer must be a refusal of the request's reading. */
  readonly mustRefuse: boolean;
}

export const attack: Attack = {
  name: 'grpc-framing',
  description: 'hand-made gRPC frames and protobuf bytes at every method: bad flags, truncated prefixes, zero bodies, wrong wire types, seeded random bytes',
  async run(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
    const seed = Number(process.env.GRPC_FRAMING_SEED ?? defaultSeed);
    const random = seededRandom(seed);
    const plan: Planned[] = [];
    let skippedEtcdCrashers = 0;
    let skippedWrites = 0;
    for (const method of servedMethods) {
      if (target.kind === 'etcd' && notInEtcd34.has(method.path)) continue;
      const cases = [...fixedCases(method), ...(scale === 'long' ? randomCases(method, random, longRandomCasesPerMethod) : [])];
      if (method.path === '/etcdserverpb.Lease/LeaseGrant') cases.push(twoMegabytesOfZeros);
      for (const testCase of cases) {
        const { verdict } = caseVerdict(method.schema, testCase);
        // etcd 3.4 has no MemberList field 1 (3.5's): its verdict on those bytes is its own.
        if (target.kind === 'etcd' && etcd34DecidesOtherwise(method, testCase)) continue;
        // A bidi stream half-closed with no message is a clean end, not a refusal.
        if (verdict === 'framing' && testCase.payload.length === 0 && method.kind === 'bidi') continue;
        if (verdict === 'accepted') {
          if (!readOnlyMethods.has(method.path)) {
            skippedWrites++;
            continue;
          }
          if (target.kind === 'etcd' && crashesEtcd34(method.path, testCase.message!)) {
            skippedEtcdCrashers++;
            continue;
          }
        }
        if (verdict === 'overflow' && target.kind === 'etcd') {
          skippedEtcdCrashers++;
          continue;
        }
        plan.push({ method, testCase, mustRefuse: verdict !== 'accepted' });
      }
    }

    const failures: string[] = [];
    const answersByCode = new Map<string, number>();
    let bytesSent = 0;
    let slowestCallMs = 0;
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < plan.length) {
        const { method, testCase, mustRefuse } = plan[next++]!;
        const callStarted = performance.now();
        const answer = await rawGrpcCall(target.endpoint, method.path, testCase.payload, { headers: testCase.headers, timeoutMs: answerTimeoutMs, ...(testCase.end !== undefined ? { end: testCase.end } : {}) });
        slowestCallMs = Math.max(slowestCallMs, performance.now() - callStarted);
        bytesSent += testCase.payload.length;
        const key = answer.outcome === 'status' ? `code${answer.code}` : answer.outcome;
        answersByCode.set(key, (answersByCode.get(key) ?? 0) + 1);
        if (mustRefuse ? !isReadRefusal(answer.code, answer.message) : isReadRefusal(answer.code, answer.message)) {
          failures.push(`${method.path} ${testCase.label}: ${answer.outcome} ${answer.code} ${JSON.stringify(answer.message)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrentCalls }, worker));
    if (failures.length > 0) throw new Error(`${failures.length} of ${plan.length} calls answered wrongly (seed ${seed}):\n${failures.slice(0, 10).join('\n')}`);
    return {
      seed,
      calls: plan.length,
      bytesSent,
      elapsedMs: Math.round(performance.now() - started),
      slowestCallMs: Math.round(slowestCallMs),
      skippedWrites,
      skippedEtcdCrashers,
      ...Object.fromEntries([...answersByCode].sort().map(([key, count]) => [`answers_${key}`, count])),
    };
  },
};
