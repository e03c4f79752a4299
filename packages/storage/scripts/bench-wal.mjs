#!/usr/bin/env node
// Measures Wal.appendAndSync (one write + one fdatasync per call) on the real
// disk for batches of 1 and 100 entries of 300 bytes. Not a test.
// Usage: npx tsc -b packages/storage && node packages/storage/scripts/bench-wal.mjs [dir]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '../dist/src/index.js';

const base = await mkdtemp(join(process.argv[2] ?? tmpdir(), 'holdfast-wal-bench-'));
const payload = new Uint8Array(300).fill(0x5a);

async function run(batchSize, calls) {
  const dir = join(base, `wal-${batchSize}`);
  const wal = await Wal.create(dir, { logger: { warn: console.warn } });
  let index = 0;
  const latencies = [];
  const started = process.hrtime.bigint();
  for (let call = 0; call < calls; call++) {
    const entries = [];
    for (let i = 0; i < batchSize; i++) entries.push({ index: ++index, term: 1, type: 0, data: payload });
    const t0 = process.hrtime.bigint();
    await wal.appendAndSync({ entries, hardState: { term: 1, vote: 1, commit: index } });
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await wal.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(3);
  console.log(
    `batch ${String(batchSize).padStart(3)} x 300 B: ${calls} calls in ${seconds.toFixed(2)} s = ` +
      `${(calls / seconds).toFixed(0)} appendAndSync/s, ${((calls * batchSize) / seconds).toFixed(0)} entries/s; ` +
      `latency ms p50 ${pct(0.5)} p99 ${pct(0.99)} max ${pct(1)}`,
  );
}

try {
  await run(1, 2000);
  await run(100, 1000);
} finally {
  await rm(base, { recursive: true, force: true });
}
