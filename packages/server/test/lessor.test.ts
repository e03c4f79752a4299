/**
 * The lessor with an injected monotonic clock on a real backend and store:
 * grant rules, renew, expiry order and retry, promote, revoke, key
 * attachments through writes, and restore from a reopened backend. Also the
 * expiry heap against sorting, and the liveness stamp.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Backend } from '@holdfast/storage';
import { MvccStore, type Change } from '@holdfast/mvcc';
import { Lessor, LeaseExistsError, LeaseTtlTooLargeError, maxLeaseTtlSeconds, revokeRetryIntervalMs, type MonotonicClock } from '../src/lease/lessor.js';
import { ExpiryQueue, sparseRebuildFactor, sparseRebuildMinimumEntries } from '../src/lease/expiry-queue.js';
import { LivenessStamp, livenessStampIntervalMs, readCertainDowntimeMs, type WallClock } from '../src/lease/liveness-stamp.js';
import { LeaseNotFoundError } from '../src/errors.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (data: Uint8Array): string => Buffer.from(data).toString('latin1');

class ManualClock implements MonotonicClock, WallClock {
  constructor(public nowValueMs = 1_000) {}
  nowMs(): number {
    return this.nowValueMs;
  }
  advance(byMs: number): void {
    this.nowValueMs += byMs;
  }
}

interface Fixture {
  directory: string;
  backend: Backend;
  store: MvccStore;
  lessor: Lessor;
  clock: ManualClock;
  /** One write transaction, attachments tracked, as the applier does. */
  write(fn: (txn: ReturnType<MvccStore['beginWrite']>) => void): Change[];
  grant(id: bigint, ttlSeconds: number): void;
  revoke(id: bigint): Change[];
  /** Closes the backend and opens it again with a fresh store and lessor (restored). */
  reopen(warnings?: string[]): Promise<void>;
}

async function withLessor(minTtlSeconds: number, body: (fixture: Fixture) => Promise<void> | void): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-lessor-'));
  const clock = new ManualClock();
  const open = (): Pick<Fixture, 'backend' | 'store' | 'lessor'> => {
    const backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
    const store = MvccStore.open(backend);
    const lessor = new Lessor({ backend, clock, minTtlSeconds });
    return { backend, store, lessor };
  };
  const fixture: Fixture = {
    directory,
    clock,
    ...open(),
    write(fn) {
      return fixture.backend.write(() => {
        const txn = fixture.store.beginWrite();
        fn(txn);
        txn.end();
        fixture.lessor.trackChanges(txn.changes);
        return txn.changes;
      });
    },
    grant(id, ttlSeconds) {
      fixture.backend.write(() => fixture.lessor.grant(id, ttlSeconds));
    },
    revoke(id) {
      return fixture.write((txn) => fixture.lessor.revoke(id, txn));
    },
    async reopen(warnings = []) {
      await fixture.backend.close();
      Object.assign(fixture, open());
      fixture.lessor.restore(fixture.store.takeRestoredLeaseAttachments(), (message) => warnings.push(message));
    },
  };
  fixture.lessor.restore(fixture.store.takeRestoredLeaseAttachments(), () => assert.fail('warning on a fresh backend'));
  try {
    await body(fixture);
  } finally {
    await fixture.backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

const keySet = (lessor: Lessor, id: bigint): string[] => [...(lessor.get(id)?.keys ?? [])].sort();

// ---- grant ----

test('grant: the minimum TTL is raised to, too large and id 0 and duplicate ids are refused with etcd errors', async () => {
  await withLessor(5, ({ lessor, grant, clock }) => {
    grant(1n, 2);
    grant(2n, 10);
    grant(3n, maxLeaseTtlSeconds);
    assert.equal(lessor.get(1n)!.ttlSeconds, 5, 'raised to the minimum');
    assert.equal(lessor.get(2n)!.ttlSeconds, 10);
    assert.equal(lessor.get(3n)!.ttlSeconds, maxLeaseTtlSeconds);
    assert.equal(lessor.remainingMs(lessor.get(1n)!), 5_000);
    assert.equal(lessor.get(2n)!.deadlineMs, clock.nowMs() + 10_000);
    assert.throws(() => grant(4n, maxLeaseTtlSeconds + 1), (error: unknown) => error instanceof LeaseTtlTooLargeError && (error as Error).message === 'etcdserver: too large lease TTL');
    assert.throws(() => grant(0n, 10), (error: unknown) => error instanceof LeaseNotFoundError && (error as Error).message === 'etcdserver: requested lease not found');
    assert.throws(() => grant(2n, 30), (error: unknown) => error instanceof LeaseExistsError && (error as Error).message === 'etcdserver: lease already exists');
    assert.equal(lessor.get(2n)!.ttlSeconds, 10, 'a refused duplicate changes nothing');
    assert.deepEqual(lessor.ids(), [1n, 2n, 3n]);
    assert.equal(lessor.size, 3);
    assert.equal(lessor.exists(4n), false);
  });
});

// ---- renew and expiry ----

test('renew moves the deadline to now + TTL; an expired lease cannot be renewed', async () => {
  await withLessor(1, ({ lessor, grant, clock }) => {
    grant(7n, 10);
    clock.advance(6_000);
    assert.equal(lessor.renew(7n), 10);
    assert.equal(lessor.remainingMs(lessor.get(7n)!), 10_000);
    clock.advance(9_999);
    assert.deepEqual(lessor.takeExpired(10), [], 'not expired 1 ms before the new deadline');
    clock.advance(1);
    assert.deepEqual(
      lessor.takeExpired(10).map((lease) => lease.id),
      [7n],
      'expired at the new deadline (not the old one)',
    );
    assert.throws(() => lessor.renew(7n), LeaseNotFoundError, 'expired: its revoke is on the way');
    assert.throws(() => lessor.renew(8n), LeaseNotFoundError, 'unknown');
    // Exactly at the deadline counts as expired for renew too.
    grant(9n, 3);
    clock.advance(3_000);
    assert.throws(() => lessor.renew(9n), LeaseNotFoundError);
  });
});

test('takeExpired: oldest deadline first, at most the limit, each lease again only after the retry interval', async () => {
  await withLessor(1, ({ lessor, grant, clock }) => {
    const ttls: Array<[bigint, number]> = [
      [10n, 4],
      [11n, 2],
      [12n, 9],
      [13n, 3],
      [14n, 1],
      [15n, 60],
    ];
    for (const [id, ttl] of ttls) grant(id, ttl);
    clock.advance(10_000);
    assert.deepEqual(
      lessor.takeExpired(3).map((lease) => lease.id),
      [14n, 11n, 13n],
    );
    assert.deepEqual(
      lessor.takeExpired(3).map((lease) => lease.id),
      [10n, 12n],
    );
    assert.deepEqual(lessor.takeExpired(3), [], 'all taken; 15 is alive');
    clock.advance(revokeRetryIntervalMs - 1);
    assert.deepEqual(lessor.takeExpired(10), [], 'not before the retry interval');
    clock.advance(1);
    // All five were taken at the same moment: retried together, in no particular order.
    assert.deepEqual(
      lessor
        .takeExpired(10)
        .map((lease) => lease.id)
        .sort(),
      [10n, 11n, 12n, 13n, 14n],
      'retried (the revokes were lost)',
    );
    assert.deepEqual(lessor.takeExpired(0), []);
  });
});

test('takeExpired and renew against a model, through grants, revokes, promotes and heap rebuilds', async () => {
  interface ModelLease {
    ttlSeconds: number;
    deadlineMs: number;
    /** When the lease may next be returned by takeExpired. */
    checkMs: number;
  }
  type Command =
    | { kind: 'grant'; id: number; ttl: number }
    | { kind: 'renew'; id: number; times: number }
    | { kind: 'revoke'; id: number }
    | { kind: 'advance'; ms: number }
    | { kind: 'take'; limit: number }
    | { kind: 'promote'; extendMs: number; expireId: number };
  const idArbitrary = fc.integer({ min: 1, max: 12 });
  const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('grant' as const), id: idArbitrary, ttl: fc.integer({ min: 1, max: 20 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('renew' as const), id: idArbitrary, times: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 800 })) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), id: idArbitrary }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 25_000 })) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('take' as const), limit: fc.integer({ min: 0, max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), extendMs: fc.integer({ min: 0, max: 2_000 }), expireId: idArbitrary }) },
  );
  await withLessor(2, async ({ lessor, grant, revoke, clock }) => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }), async (commands) => {
        // Start each run from no leases.
        for (const id of lessor.ids()) revoke(id);
        const model = new Map<bigint, ModelLease>();
        for (const command of commands) {
          const now = clock.nowMs();
          switch (command.kind) {
            case 'grant': {
              const id = BigInt(command.id);
              if (model.has(id)) {
                assert.throws(() => grant(id, command.ttl), LeaseExistsError);
                break;
              }
              grant(id, command.ttl);
              const ttlSeconds = Math.max(2, command.ttl);
              model.set(id, { ttlSeconds, deadlineMs: now + ttlSeconds * 1000, checkMs: now + ttlSeconds * 1000 });
              break;
            }
            case 'renew': {
              const id = BigInt(command.id);
              const lease = model.get(id);
              for (let i = 0; i < command.times; i++) {
                if (lease === undefined || lease.deadlineMs <= now) {
                  assert.throws(() => lessor.renew(id), LeaseNotFoundError);
                  break;
                }
                assert.equal(lessor.renew(id), lease.ttlSeconds);
                lease.deadlineMs = lease.checkMs = now + lease.ttlSeconds * 1000;
              }
              break;
            }
            case 'revoke': {
              const id = BigInt(command.id);
              if (!model.has(id)) {
                assert.throws(() => revoke(id), LeaseNotFoundError);
                break;
              }
              revoke(id);
              model.delete(id);
              break;
            }
            case 'advance':
              clock.advance(command.ms);
              break;
            case 'take': {
              const taken = lessor.takeExpired(command.limit);
              const due = [...model].filter(([, lease]) => lease.checkMs <= now);
              assert.equal(taken.length, Math.min(command.limit, due.length), 'takes every due lease up to the limit');
              const takenIds = new Set(taken.map((lease) => lease.id));
              assert.equal(takenIds.size, taken.length, 'no lease twice');
              const checks = taken.map((lease) => model.get(lease.id)?.checkMs);
              for (const [i, check] of checks.entries()) {
                assert.ok(check !== undefined && check <= now, `lease ${taken[i]!.id} is not due`);
                assert.ok(model.get(taken[i]!.id)!.deadlineMs <= now, 'only expired leases');
                if (i > 0) assert.ok(check >= checks[i - 1]!, 'oldest first');
              }
              const left = due.filter(([id]) => !takenIds.has(id)).map(([, lease]) => lease.checkMs);
              if (left.length > 0 && checks.length > 0) assert.ok(Math.max(...(checks as number[])) <= Math.min(...left), 'the oldest are taken first');
              for (const lease of taken) model.get(lease.id)!.checkMs = now + revokeRetryIntervalMs;
              break;
            }
            case 'promote': {
              const expireId = BigInt(command.expireId);
              lessor.promote(command.extendMs, (lease) => lease.id === expireId);
              for (const [id, lease] of model) {
                lease.deadlineMs = lease.checkMs = id === expireId ? now : now + lease.ttlSeconds * 1000 + command.extendMs;
              }
              break;
            }
          }
          assert.deepEqual(lessor.ids(), [...model.keys()].sort((a, b) => (a < b ? -1 : 1)));
          for (const [id, lease] of model) assert.equal(lessor.get(id)!.deadlineMs, lease.deadlineMs, `deadline of ${id}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});

test('promote() gives every lease its TTL plus the extension, or expires it at once if it expired while down', async () => {
  await withLessor(1, ({ lessor, grant, clock }) => {
    grant(1n, 10);
    grant(2n, 20);
    grant(3n, 30);
    clock.advance(50_000);
    lessor.promote(1_500, (lease) => lease.ttlSeconds < 15);
    assert.equal(lessor.remainingMs(lessor.get(1n)!), 0);
    assert.equal(lessor.remainingMs(lessor.get(2n)!), 21_500);
    assert.equal(lessor.remainingMs(lessor.get(3n)!), 31_500);
    assert.deepEqual(
      lessor.takeExpired(10).map((lease) => lease.id),
      [1n],
    );
    assert.throws(() => lessor.renew(1n), LeaseNotFoundError);
    clock.advance(21_499);
    assert.deepEqual(
      lessor.takeExpired(10).map((lease) => lease.id),
      [1n],
      'lease 2 is 1 ms from expiry; lease 1 is retried',
    );
    clock.advance(1);
    assert.deepEqual(
      lessor.takeExpired(10).map((lease) => lease.id),
      [2n],
    );
  });
});

// ---- revoke and attachments ----

test('revoke deletes every attached key in one revision, in sorted order, and the lease record', async () => {
  await withLessor(1, async ({ lessor, grant, write, revoke, store, reopen }) => {
    grant(1n, 10);
    grant(2n, 10);
    write((txn) => {
      for (const key of ['c', 'a\xff', 'b', 'a', '\x00z']) txn.put(bytes(key), bytes('v'), 1n);
      txn.put(bytes('other'), bytes('v'), 2n);
      txn.put(bytes('free'), bytes('v'), 0n);
    });
    assert.deepEqual(keySet(lessor, 1n), ['\x00z', 'a', 'a\xff', 'b', 'c']);
    const before = store.currentRevision;
    const changes = revoke(1n);
    assert.deepEqual(
      changes.map((change) => [change.kind, text(change.kv.key), change.kv.modRevision]),
      ['\x00z', 'a', 'a\xff', 'b', 'c'].map((key) => ['delete', key, before + 1]),
    );
    assert.equal(store.currentRevision, before + 1, 'one revision');
    assert.equal(lessor.exists(1n), false);
    assert.deepEqual(
      store.range(bytes('\x00'), bytes('\x00')).kvs.map((kv) => text(kv.key)),
      ['free', 'other'],
    );
    assert.deepEqual(keySet(lessor, 2n), ['other']);
    // A revoke of a lease with no keys changes nothing in the store.
    grant(3n, 10);
    assert.deepEqual(revoke(3n), []);
    assert.equal(store.currentRevision, before + 1);
    assert.throws(() => revoke(3n), LeaseNotFoundError);
    // The record is gone from the backend too.
    await reopen();
    assert.deepEqual(lessor.ids(), [2n]);
    assert.deepEqual(keySet(lessor, 2n), ['other']);
  });
});

test('trackChanges keeps key sets right through puts with another lease, without a lease, and deletes', async () => {
  await withLessor(1, ({ lessor, grant, write }) => {
    grant(1n, 10);
    grant(2n, 10);
    write((txn) => txn.put(bytes('k'), bytes('1'), 1n));
    assert.deepEqual([keySet(lessor, 1n), keySet(lessor, 2n)], [['k'], []]);
    write((txn) => txn.put(bytes('k'), bytes('2'), 2n));
    assert.deepEqual([keySet(lessor, 1n), keySet(lessor, 2n)], [[], ['k']], 'moved to the other lease');
    write((txn) => txn.put(bytes('k'), bytes('3'), 0n));
    assert.deepEqual([keySet(lessor, 1n), keySet(lessor, 2n)], [[], []], 'a put without lease detaches');
    write((txn) => txn.put(bytes('k'), bytes('4'), 1n));
    write((txn) => txn.deleteRange(bytes('k'), undefined));
    assert.deepEqual(keySet(lessor, 1n), [], 'a delete detaches');
    write((txn) => {
      txn.put(bytes('x'), bytes('1'), 1n);
      txn.put(bytes('y'), bytes('1'), 1n);
    });
    write((txn) => txn.deleteRange(bytes('x'), bytes('z')));
    assert.deepEqual(keySet(lessor, 1n), [], 'a range delete detaches every key');
    assert.throws(() => write((txn) => txn.put(bytes('z'), bytes('1'), 99n)), /does not exist/, 'a put with an unknown lease is a bug');
  });
});

test('key sets match the store through random writes and revokes, and restore() rebuilds them from a reopened backend', async () => {
  const keys = ['a', 'b', 'c', 'd\xff', 'e/1', 'e/2'];
  const leaseIds = [1n, 2n, -5n, 0x7fff_ffff_ffff_ffffn];
  type Op = { kind: 'put'; key: string; lease: number } | { kind: 'delete'; key: string } | { kind: 'deletePrefix' };
  type Command = { kind: 'txn'; ops: Op[] } | { kind: 'revoke'; lease: number } | { kind: 'grant'; lease: number; ttl: number };
  const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...keys), lease: fc.integer({ min: -1, max: leaseIds.length - 1 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys) }) },
  );
  const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.oneof(
        fc.uniqueArray(opArbitrary, { minLength: 1, maxLength: 4, selector: (op) => (op.kind === 'deletePrefix' ? '' : op.key) }).map((ops) => ({ kind: 'txn' as const, ops })),
        fc.constant<Command>({ kind: 'txn', ops: [{ kind: 'deletePrefix' }] }),
      ),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), lease: fc.nat(leaseIds.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('grant' as const), lease: fc.nat(leaseIds.length - 1), ttl: fc.integer({ min: 1, max: 100 }) }) },
  );

  /** What the invariant says the key sets are: from each live key's newest version. */
  function expectedSets(store: MvccStore): Map<bigint, string[]> {
    const sets = new Map<bigint, string[]>();
    for (const kv of store.range(bytes('\x00'), bytes('\x00')).kvs) {
      if (kv.lease === 0n) continue;
      sets.set(kv.lease, [...(sets.get(kv.lease) ?? []), text(kv.key)]);
    }
    return sets;
  }
  function check(lessor: Lessor, store: MvccStore, where: string): void {
    const expected = expectedSets(store);
    for (const id of lessor.ids()) assert.deepEqual(keySet(lessor, id), (expected.get(id) ?? []).sort(), `${where}: keys of lease ${id}`);
    for (const id of expected.keys()) assert.ok(lessor.exists(id), `${where}: a key carries lease ${id}, which is gone`);
  }

  await fc.assert(
    fc.asyncProperty(fc.array(commandArbitrary, { minLength: 1, maxLength: 30 }), async (commands) => {
      await withLessor(1, async (fixture) => {
        for (const id of leaseIds.slice(0, 2)) fixture.grant(id, 30);
        for (const command of commands) {
          const { lessor } = fixture;
          if (command.kind === 'grant') {
            const id = leaseIds[command.lease]!;
            if (!lessor.exists(id)) fixture.grant(id, command.ttl);
          } else if (command.kind === 'revoke') {
            const id = leaseIds[command.lease]!;
            if (lessor.exists(id)) fixture.revoke(id);
          } else {
            // As the applier: a put naming a lease that does not exist is refused before anything changes.
            const ops = command.ops.filter((op) => op.kind !== 'put' || op.lease < 0 || lessor.exists(leaseIds[op.lease]!));
            fixture.write((txn) => {
              for (const op of ops) {
                if (op.kind === 'put') txn.put(bytes(op.key), bytes('v'), op.lease < 0 ? 0n : leaseIds[op.lease]!);
                else if (op.kind === 'delete') txn.deleteRange(bytes(op.key), undefined);
                else txn.deleteRange(bytes('e/'), bytes('e0'));
              }
            });
          }
          check(fixture.lessor, fixture.store, `after ${command.kind}`);
        }
        const before = new Map(fixture.lessor.ids().map((id) => [id, { ttl: fixture.lessor.get(id)!.ttlSeconds, keys: keySet(fixture.lessor, id) }]));
        const warnings: string[] = [];
        await fixture.reopen(warnings);
        assert.deepEqual(warnings, []);
        const after = new Map(fixture.lessor.ids().map((id) => [id, { ttl: fixture.lessor.get(id)!.ttlSeconds, keys: keySet(fixture.lessor, id) }]));
        assert.deepEqual(after, before, 'restore() rebuilds the same leases, TTLs and key sets');
        check(fixture.lessor, fixture.store, 'after restore');
        // The restored lessor goes on tracking: revoke everything, nothing is left attached.
        for (const id of fixture.lessor.ids()) fixture.revoke(id);
        assert.deepEqual(expectedSets(fixture.store), new Map());
      });
    }),
    { numRuns: 60 },
  );
});

test('restore() warns about a key whose lease record is missing and leaves it unattached', async () => {
  await withLessor(1, async (fixture) => {
    fixture.grant(1n, 10);
    fixture.write((txn) => txn.put(bytes('k'), bytes('v'), 1n));
    // Damage: the lease record goes, the key stays.
    fixture.backend.write(() => fixture.backend.table('lease').delete(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])));
    const warnings: string[] = [];
    await fixture.reopen(warnings);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /carries lease 1, which does not exist/);
    assert.equal(fixture.lessor.size, 0);
  });
});

// ---- the expiry heap ----

test('ExpiryQueue pops in time order (against sorting), through interleaved pushes and pops', () => {
  type Command = { kind: 'push'; atMs: number } | { kind: 'pop' };
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 50 }).map((atMs) => ({ kind: 'push' as const, atMs })) }, { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) }), { maxLength: 200 }),
      (commands: Command[]) => {
        const queue = new ExpiryQueue();
        let model: number[] = [];
        let id = 0n;
        for (const command of commands) {
          if (command.kind === 'push') {
            queue.push(id++, command.atMs);
            model.push(command.atMs);
            model.sort((a, b) => a - b);
          } else {
            const popped = queue.pop();
            assert.equal(popped?.atMs, model[0]);
            model = model.slice(1);
          }
          assert.equal(queue.size, model.length);
          assert.equal(queue.peek()?.atMs, model[0]);
        }
        const drained: number[] = [];
        for (let item = queue.pop(); item !== undefined; item = queue.pop()) drained.push(item.atMs);
        assert.deepEqual(drained, model);
      },
    ),
    { numRuns: 500 },
  );
});

test('ExpiryQueue.compactIfSparse drops only stale entries, and only once they dominate', () => {
  const queue = new ExpiryQueue();
  const live = new Map<bigint, number>();
  // 100 leases, each "renewed" many times: only the newest entry of each is live.
  for (let round = 0; round < 41; round++) {
    for (let id = 0n; id < 100n; id++) {
      const atMs = round * 100_000 + Number((id * 7919n) % 1000n);
      queue.push(id, atMs);
      live.set(id, atMs);
    }
  }
  assert.equal(queue.size, 4100);
  const current = (id: bigint): number | undefined => live.get(id);
  // Below the minimum size nothing happens, however sparse.
  const small = new ExpiryQueue();
  for (let i = 0; i < sparseRebuildMinimumEntries - 1; i++) small.push(0n, i);
  small.compactIfSparse(1, () => 0);
  assert.equal(small.size, sparseRebuildMinimumEntries - 1);
  // Not sparse enough: kept.
  queue.compactIfSparse(Math.ceil(4100 / sparseRebuildFactor), current);
  assert.equal(queue.size, 4100);
  // Sparse: rebuilt with the live entries only, in order.
  queue.compactIfSparse(100, current);
  assert.equal(queue.size, 100);
  const drained: Array<[bigint, number]> = [];
  for (let item = queue.pop(); item !== undefined; item = queue.pop()) drained.push([item.id, item.atMs]);
  assert.deepEqual(
    drained.map(([, at]) => at),
    [...live.values()].sort((a, b) => a - b),
  );
  assert.deepEqual(new Map(drained), live);
});

test('ExpiryQueue.compactIfSparse keeps one entry per lease: keepalives within one millisecond do not make every push a rebuild', () => {
  // Renewing a lease twice at the same clock reading pushes two entries with
  // the same time; both match the lease. If the rebuild kept both, a burst of
  // such keepalives would leave the heap as large as before, and every later
  // push would rebuild it again (quadratic).
  const queue = new ExpiryQueue();
  for (let i = 0; i < 3 * sparseRebuildMinimumEntries; i++) {
    queue.push(1n, 42);
    queue.push(2n, 43);
    queue.compactIfSparse(2, (id) => (id === 1n ? 42 : 43));
    assert.ok(queue.size <= sparseRebuildMinimumEntries + 1, `heap of ${queue.size} entries for 2 leases after ${i + 1} keepalives each`);
  }
  queue.compactIfSparse(0, () => undefined);
  assert.ok(queue.size < sparseRebuildMinimumEntries);
});

test('many keepalives rebuild the heap without losing a lease', async () => {
  await withLessor(1, ({ lessor, grant, clock }) => {
    for (let id = 1n; id <= 10n; id++) grant(id, Number(id));
    for (let i = 0; i < 5_000; i++) {
      for (let id = 1n; id <= 10n; id++) lessor.renew(id);
      if (i % 500 === 0) clock.advance(1);
    }
    clock.advance(10_000);
    assert.deepEqual(
      lessor.takeExpired(100).map((lease) => lease.id),
      [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n],
    );
  });
});

// ---- the liveness stamp ----

test('liveness stamp: downtime is the wall-clock gap minus one interval; missing or damaged stamps are unknown', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-liveness-'));
  const path = join(directory, 'lease-liveness');
  const clock = new ManualClock(1_700_000_000_000);
  try {
    assert.equal(readCertainDowntimeMs(path, clock), undefined, 'no stamp');
    const stamp = await LivenessStamp.start(path, () => assert.fail('stamp write failed'), clock);
    await stamp.stop();
    assert.equal(readFileSync(path).length, 16);
    assert.equal(readCertainDowntimeMs(path, clock), 0, 'just stamped');
    clock.advance(livenessStampIntervalMs);
    assert.equal(readCertainDowntimeMs(path, clock), 0, 'within one interval: maybe not down at all');
    clock.advance(60_000);
    assert.equal(readCertainDowntimeMs(path, clock), 60_000);
    assert.equal(readCertainDowntimeMs(path, new ManualClock(1_600_000_000_000)), 0, 'a clock behind the stamp: never negative');

    const good = readFileSync(path);
    for (let i = 0; i < 12; i++) {
      const damaged = Buffer.from(good);
      damaged[i]! ^= 0x01;
      writeFileSync(path, damaged);
      assert.equal(readCertainDowntimeMs(path, clock), undefined, `flipped bit in byte ${i}`);
    }
    writeFileSync(path, good.subarray(0, 15));
    assert.equal(readCertainDowntimeMs(path, clock), undefined, 'truncated');
    writeFileSync(path, Buffer.concat([good, Buffer.alloc(1)]));
    assert.equal(readCertainDowntimeMs(path, clock), undefined, 'too long');
    writeFileSync(path, '');
    assert.equal(readCertainDowntimeMs(path, clock), undefined, 'empty');
    writeFileSync(path, good);
    assert.equal(readCertainDowntimeMs(path, clock), 60_000);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('liveness stamp is rewritten every interval until stopped', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-liveness-'));
  const path = join(directory, 'lease-liveness');
  const clock = new ManualClock(1_700_000_000_000);
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const stamp = await LivenessStamp.start(path, () => assert.fail('stamp write failed'), clock);
    const reader = new ManualClock(1_700_000_100_000);
    assert.equal(readCertainDowntimeMs(path, reader), 100_000 - livenessStampIntervalMs);
    clock.advance(5 * livenessStampIntervalMs);
    mock.timers.tick(livenessStampIntervalMs);
    // The rewrite (a write and an fsync) runs on the thread pool: wait for it
    // to land, by time rather than a count of loop turns, which a busy disk outlasts.
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline && readCertainDowntimeMs(path, reader) !== 100_000 - 6 * livenessStampIntervalMs) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(readCertainDowntimeMs(path, reader), 100_000 - 6 * livenessStampIntervalMs, 'rewritten by the interval');
    clock.advance(livenessStampIntervalMs);
    await stamp.stop();
    assert.equal(readCertainDowntimeMs(path, reader), 100_000 - 7 * livenessStampIntervalMs, 'stop() stamps once more');
    clock.advance(livenessStampIntervalMs);
    mock.timers.tick(10 * livenessStampIntervalMs);
    assert.equal(readCertainDowntimeMs(path, reader), 100_000 - 7 * livenessStampIntervalMs, 'nothing after stop()');
  } finally {
    mock.timers.reset();
    rmSync(directory, { recursive: true, force: true });
  }
});
