import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdserverpb } from '@holdfast/proto';
import { Proposals, requestTimeoutMs, proposalTimeoutSweepIntervalMs, type PendingProposal } from '../src/node/proposals.js';
import type { Clock } from '../src/node/clock.js';
import { StoppedError, TimeoutError } from '../src/errors.js';

/** A clock the test moves by hand; ticks run when it passes their time. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  const ticks = new Set<{ intervalMs: number; nextMs: number; tick: () => void }>();
  return {
    nowMs: () => now,
    wallMs: () => 1_700_000_000_000 + now,
    every(intervalMs, tick) {
      const entry = { intervalMs, nextMs: now + intervalMs, tick };
      ticks.add(entry);
      return () => ticks.delete(entry);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...ticks].filter((entry) => entry.nextMs <= until).sort((a, b) => a.nextMs - b.nextMs)[0];
        if (due === undefined) break;
        now = due.nextMs;
        due.nextMs += due.intervalMs;
        due.tick();
      }
      now = until;
    },
  };
}

const request = (id: bigint) => etcdserverpb.InternalRaftRequest.fromPartial({ header: { ID: id }, put: { key: Buffer.from('k') } });

test('a proposal is settled by its request id, once, whoever applies it', async () => {
  const clock = manualClock();
  let failed = 0;
  const proposals = new Proposals(clock, () => failed++);
  let submitted: PendingProposal | undefined;
  const answer = proposals.begin(request(7n), (pending) => (submitted = pending));
  assert.equal(proposals.size, 1);
  // The entry came back as bytes (no context): found by id.
  proposals.settle(7n, { response: { header: undefined } });
  proposals.settle(7n, { error: new StoppedError() });
  submitted!.settle({ error: new StoppedError() });
  assert.deepEqual(await answer, { response: { header: undefined } });
  assert.equal(proposals.size, 0);
  assert.equal(failed, 0);
  // An id nobody waits for (another member's proposal) is ignored.
  proposals.settle(8n, { response: {} });
});

test('past requestTimeoutMs a proposal gets "request timed out"; failAll answers the rest', async () => {
  const clock = manualClock();
  let failed = 0;
  const proposals = new Proposals(clock, () => failed++);
  const early = proposals.begin(request(1n), () => {});
  clock.advance(requestTimeoutMs / 2);
  const late = proposals.begin(request(2n), () => {});
  clock.advance(requestTimeoutMs / 2 + proposalTimeoutSweepIntervalMs);
  await assert.rejects(early, TimeoutError);
  assert.equal(proposals.size, 1);
  proposals.failAll(new StoppedError());
  await assert.rejects(late, StoppedError);
  assert.equal(failed, 2);
  proposals.stop();
});

test('a submit that throws rejects with its error and leaves nothing waiting', async () => {
  const proposals = new Proposals(manualClock(), () => {});
  await assert.rejects(proposals.begin(request(3n), () => { throw new StoppedError(); }), StoppedError);
  assert.equal(proposals.size, 0);
});
