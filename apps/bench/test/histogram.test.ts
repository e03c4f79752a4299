/**
 * The latency histogram: exact small values, bounded relative error for
 * large ones, nearest-rank percentiles, and merging across threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketHighestMicros, bucketIndexForMicros, bucketLowestMicros, histogramBucketCount, LatencyHistogram } from '../src/histogram.js';

/** A small deterministic generator (mulberry32), so failures reproduce. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('1..100 us: nearest-rank percentiles, exact mean, min, max and stddev', () => {
  const histogram = new LatencyHistogram();
  for (let value = 100; value >= 1; value--) histogram.recordMicros(value);
  assert.equal(histogram.count, 100);
  assert.equal(histogram.quantileMicros(0.5), 50);
  assert.equal(histogram.quantileMicros(0.9), 90);
  assert.equal(histogram.quantileMicros(0.99), 99);
  assert.equal(histogram.quantileMicros(0.999), 100);
  assert.equal(histogram.quantileMicros(0), 1);
  assert.equal(histogram.quantileMicros(1), 100);
  const summary = histogram.summary();
  assert.equal(summary.minMs, 0.001);
  assert.equal(summary.maxMs, 0.1);
  assert.equal(summary.meanMs, 0.0505);
  // Population standard deviation of 1..n is sqrt((n^2 - 1) / 12).
  assert.ok(Math.abs(summary.stddevMs - Math.sqrt((100 ** 2 - 1) / 12) / 1000) < 1e-9);
  assert.equal(summary.p50Ms, 0.05);
  assert.equal(summary.p999Ms, 0.1);
});

test('recordMs rounds to the microsecond; one value is every percentile', () => {
  const histogram = new LatencyHistogram();
  histogram.recordMs(12.3456);
  const summary = histogram.summary();
  assert.equal(summary.count, 1);
  for (const value of [summary.minMs, summary.p50Ms, summary.p90Ms, summary.p99Ms, summary.p999Ms, summary.maxMs]) assert.equal(value, 12.346);
});

test('a skewed distribution: 990 fast, 9 slow, 1 very slow', () => {
  const histogram = new LatencyHistogram();
  for (let i = 0; i < 990; i++) histogram.recordMicros(100);
  for (let i = 0; i < 9; i++) histogram.recordMicros(10_000);
  histogram.recordMicros(1_000_000);
  assert.equal(histogram.quantileMicros(0.5), 100);
  assert.equal(histogram.quantileMicros(0.99), 100, 'rank 990 is the last fast value');
  const p999 = histogram.quantileMicros(0.999);
  assert.ok(p999 >= 10_000 && p999 <= 10_000 * (1 + 1 / 128), `p99.9 ${p999} is a slow value`);
  assert.equal(histogram.quantileMicros(1), 1_000_000);
});

test('buckets tile the value range without gaps, and every value lands in its bucket', () => {
  for (let index = 0; index + 1 < histogramBucketCount; index++) {
    assert.equal(bucketLowestMicros(index + 1), bucketHighestMicros(index) + 1, `gap after bucket ${index}`);
  }
  const random = seededRandom(42);
  for (let i = 0; i < 20_000; i++) {
    const value = Math.floor(2 ** (random() * 40));
    const index = bucketIndexForMicros(value);
    assert.ok(bucketLowestMicros(index) <= value && value <= bucketHighestMicros(index), `value ${value} outside bucket ${index}`);
  }
  for (let exponent = 7; exponent <= 40; exponent++) {
    const value = 2 ** exponent;
    assert.equal(bucketLowestMicros(bucketIndexForMicros(value)), value, `2^${exponent} starts a bucket`);
    assert.equal(bucketHighestMicros(bucketIndexForMicros(value - 1)), value - 1);
  }
});

test('quantiles of large values are within 1/128 of the exact nearest-rank value', () => {
  const random = seededRandom(7);
  const values = Array.from({ length: 5_000 }, () => Math.floor(50 + random() * 2_000_000));
  const histogram = new LatencyHistogram();
  for (const value of values) histogram.recordMicros(value);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of [0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]) {
    const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
    const reported = histogram.quantileMicros(q);
    assert.ok(reported >= exact && reported <= exact * (1 + 1 / 128), `q=${q}: exact ${exact}, reported ${reported}`);
  }
});

test('percentiles are monotone and within [min, max]', () => {
  const random = seededRandom(3);
  const histogram = new LatencyHistogram();
  for (let i = 0; i < 1_000; i++) histogram.recordMicros(random() < 0.5 ? 300 + random() * 10 : 5_000 + random() * 100_000);
  const summary = histogram.summary();
  assert.ok(summary.minMs <= summary.p50Ms && summary.p50Ms <= summary.p90Ms && summary.p90Ms <= summary.p99Ms && summary.p99Ms <= summary.p999Ms && summary.p999Ms <= summary.maxMs);
});

test('merging serialized parts equals recording everything in one histogram', () => {
  const random = seededRandom(11);
  const whole = new LatencyHistogram();
  const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
  for (let i = 0; i < 3_000; i++) {
    const value = Math.floor(random() * 500_000);
    whole.recordMicros(value);
    parts[i % 3]!.recordMicros(value);
  }
  const merged = new LatencyHistogram();
  // Through the wire form, as worker reports travel (structured clone of plain data).
  for (const part of parts) merged.merge(structuredClone(part.serialize()));
  merged.merge(new LatencyHistogram().serialize());
  assert.deepEqual(merged.serialize(), whole.serialize());
  assert.deepEqual(merged.summary(), whole.summary());
  assert.deepEqual(LatencyHistogram.from(whole.serialize()).summary(), whole.summary());
});

test('an empty histogram reports zeros; merging refuses a bucket out of range', () => {
  const empty = new LatencyHistogram();
  assert.deepEqual(empty.summary(), { count: 0, minMs: 0, meanMs: 0, stddevMs: 0, maxMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0 });
  assert.deepEqual(empty.coarseRows(10), []);
  assert.throws(() => empty.merge({ count: 1, sumMicros: 1, sumSquaresMicros: 1, minMicros: 1, maxMicros: 1, buckets: [[histogramBucketCount, 1]] }), RangeError);
});

test('coarse rows account for every value, the last row ending at max', () => {
  const histogram = new LatencyHistogram();
  for (let value = 1; value <= 10_000; value += 7) histogram.recordMicros(value);
  const rows = histogram.coarseRows(10);
  assert.equal(rows.length, 10);
  assert.equal(rows.reduce((sum, row) => sum + row.count, 0), histogram.count);
  assert.equal(rows[rows.length - 1]!.upToMs, histogram.summary().maxMs);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.upToMs > rows[i - 1]!.upToMs);
});
