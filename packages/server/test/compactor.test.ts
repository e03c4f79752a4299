import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Compactor, type CompactorClock, revisionCheckIntervalMs } from '../src/compactor.js';
import { parseAutoCompactionRetention } from '../src/config.js';

/** A clock the test advances by hand; interval callbacks fire as time passes. */
class ManualClock implements CompactorClock {
  private nowMs = 0;
  private timers: Array<{ callback: () => void; intervalMs: number; nextMs: number }> = [];
  now(): number {
    return this.nowMs;
  }
  setInterval(callback: () => void, intervalMs: number): unknown {
    const timer = { callback, intervalMs, nextMs: this.nowMs + intervalMs };
    this.timers.push(timer);
    return timer;
  }
  clearInterval(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer !== handle);
  }
  async advance(byMs: number, onTick: () => void = () => {}): Promise<void> {
    const until = this.nowMs + byMs;
    for (;;) {
      const due = this.timers.filter((timer) => timer.nextMs <= until).sort((a, b) => a.nextMs - b.nextMs)[0];
      if (due === undefined) break;
      this.nowMs = due.nextMs;
      due.nextMs += due.intervalMs;
      onTick();
      due.callback();
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.nowMs = until;
  }
}

test('periodic mode compacts at the revision seen one retention ago', async () => {
  const clock = new ManualClock();
  let revision = 2; // a store with one write
  const compacted: number[] = [];
  const hourMs = 3_600_000;
  const compactor = new Compactor({ mode: 'periodic', retention: hourMs, currentRevision: () => revision, compact: async (r) => void compacted.push(r), clock });
  compactor.start();
  // 10 writes per sampling interval (6 minutes).
  await clock.advance(hourMs - 1, () => (revision += 10));
  assert.deepEqual(compacted, [], 'nothing is compacted before one retention has passed');
  await clock.advance(hourMs, () => (revision += 10));
  assert.ok(compacted.length >= 10, `compacts every retention/10 (${compacted.length} times)`);
  // Each compaction is at the revision from (at least) an hour before it.
  assert.ok(compacted.every((r, i) => i === 0 || r > compacted[i - 1]!), 'compaction revisions increase');
  assert.ok(compacted[compacted.length - 1]! <= revision - 100, 'about an hour (100 revisions) of history is kept');
  compactor.stop();
});

test('revision mode keeps the last N revisions', async () => {
  const clock = new ManualClock();
  let revision = 1;
  const compacted: number[] = [];
  const compactor = new Compactor({ mode: 'revision', retention: 1000, currentRevision: () => revision, compact: async (r) => void compacted.push(r), clock });
  compactor.start();
  revision = 500;
  await clock.advance(revisionCheckIntervalMs);
  assert.deepEqual(compacted, [], 'fewer revisions than the retention: nothing to compact');
  revision = 5000;
  await clock.advance(revisionCheckIntervalMs);
  assert.deepEqual(compacted, [4000]);
  await clock.advance(revisionCheckIntervalMs);
  assert.deepEqual(compacted, [4000], 'no new writes: no new compaction');
  compactor.stop();
});

test('retention parsing follows etcd', () => {
  assert.equal(parseAutoCompactionRetention('periodic', '1'), 3_600_000);
  assert.equal(parseAutoCompactionRetention('periodic', '30m'), 1_800_000);
  assert.equal(parseAutoCompactionRetention('periodic', '1h30m'), 5_400_000);
  assert.equal(parseAutoCompactionRetention('periodic', '0'), 0);
  assert.equal(parseAutoCompactionRetention('revision', '1000'), 1000);
  assert.throws(() => parseAutoCompactionRetention('revision', '1h'), /invalid auto-compaction-retention/);
  assert.throws(() => parseAutoCompactionRetention('periodic', 'soon'), /invalid auto-compaction-retention/);
});
